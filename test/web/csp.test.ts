// The core under `script-src 'self' 'wasm-unsafe-eval'` in Chromium: decode -> fuse -> encode gives the same bytes
// as the CLI, while the page cannot build code from strings (so the policy is really in force).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { launchChromium, serve, STRICT_CSP } from './serve.js';

let browser: Browser;
let server: Server;
let url: string;
const dir = mkdtempSync(join(tmpdir(), 'onnx-opt-csp-'));

beforeAll(async () => {
  ({ url, server } = await serve(resolve('dist/web')));
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe(`the core in Chromium under "${STRICT_CSP}"`, () => {
  it.each([
    ['bert-eager-ts14.onnx', 'fuse', 'cpu'],
    ['gpt2-eager-ts14.onnx', 'fuse', 'webgpu'],
    ['bert-eager-ts14.onnx', 'fuse,quantize', 'wasm'],
  ])('%s: %s --target %s, byte-identical to the CLI', async (sample, passes, target) => {
    const page = await browser.newPage();
    await page.goto(`${url}csp-check.html?model=samples/${sample}&passes=${passes}&target=${target}`);
    await page.waitForSelector('body[data-state="done"]');
    const result = JSON.parse((await page.textContent('#out')) ?? '{}');
    await page.close();
    expect(result.error).toBeUndefined();
    expect(result.evalRefused, 'the policy refuses new Function()').toBe(true);
    // reported once per policy (the header and the page's meta tag): the only thing refused is that eval
    expect([...new Set(result.violations)], "the refusal was the policy's, and the only violation").toEqual([
      'script-src eval',
    ]);

    const out = join(dir, `${sample}.${passes}.${target}.onnx`);
    const cli = await runCli(...passes.split(','), '--target', target, `fixtures/${sample}`, out);
    expect(cli.code, cli.stderr).toBe(0);
    const bytes = readFileSync(out);
    expect(result.bytes).toBe(bytes.byteLength);
    expect(result.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
  });
});
