// The core under `script-src 'self' 'wasm-unsafe-eval'` in Chromium: decode -> fuse -> encode gives the same bytes
// as the CLI, while the page cannot build code from strings (so the policy is really in force).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { STRICT_CSP, webSession } from './serve.js';

const web = webSession('onnx-opt-csp-');

describe(`the core in Chromium under "${STRICT_CSP}"`, () => {
  it.each([
    ['bert-eager-ts14.onnx', 'fuse', 'cpu'],
    ['gpt2-eager-ts14.onnx', 'fuse', 'webgpu'],
    ['bert-eager-ts14.onnx', 'fuse,quantize', 'wasm'],
  ])('%s: %s --target %s, byte-identical to the CLI', async (sample, passes, target) => {
    const page = await web.browser.newPage();
    await page.goto(`${web.url}csp-check.html?model=samples/${sample}&passes=${passes}&target=${target}`);
    await page.waitForSelector('body[data-state="done"]');
    const result = JSON.parse((await page.textContent('#out')) ?? '{}');
    await page.close();
    expect(result.error).toBeUndefined();
    expect(result.evalRefused, 'the policy refuses new Function()').toBe(true);
    // reported once per policy (the header and the page's meta tag): the only thing refused is that eval
    expect([...new Set(result.violations)], "the refusal was the policy's, and the only violation").toEqual([
      'script-src eval',
    ]);

    const out = join(web.dir, `${sample}.${passes}.${target}.onnx`);
    const cli = await runCli(...passes.split(','), '--target', target, `fixtures/${sample}`, out);
    expect(cli.code, cli.stderr).toBe(0);
    const bytes = readFileSync(out);
    expect(result.bytes).toBe(bytes.byteLength);
    expect(result.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
  });
});
