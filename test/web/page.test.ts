// The web page in headless Chromium, under its strict CSP: pick or drop a model, optimize it in the worker, read the
// op table, sizes and latency chart, and download a result byte-identical to the CLI's. WEB_SCREENSHOT=<png>
// saves a screenshot of the page after the first run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { webSession } from './serve.js';

const web = webSession('onnx-opt-page-');

/** A fresh page that records uncaught errors and CSP violations. */
async function open(): Promise<{ page: Page; problems: string[] }> {
  const page = await web.browser.newPage({ viewport: { width: 900, height: 1200 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  await page.goto(web.url);
  await page.waitForSelector('body[data-state="ready"]');
  return { page, problems };
}

async function opCounts(page: Page): Promise<Record<string, [number, number]>> {
  const rows = await page.$$eval('#ops tbody tr', (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
  );
  return Object.fromEntries(rows.map(([op, before, after]) => [op!, [Number(before), Number(after)]]));
}

describe('the web page', () => {
  it('picks a file, fuses it for wasm, charts the latency and downloads what the CLI writes', async () => {
    const { page, problems } = await open();
    await page.setInputFiles('#file', 'fixtures/bert-eager-ts14.onnx');
    await page.selectOption('#recipe', 'fuse');
    await page.selectOption('#target', 'wasm');
    await page.fill('#sequence', '32');
    await page.fill('#iterations', '5');
    await page.click('#run');
    await page.waitForSelector('body[data-state="done"]', { timeout: 90_000 });
    expect(await page.isHidden('#error'), (await page.textContent('#error')) ?? '').toBe(true);

    const ops = await opCounts(page);
    expect(ops['com.microsoft::Attention']).toEqual([0, 2]);
    expect(ops['com.microsoft::EmbedLayerNormalization']).toEqual([0, 1]);
    expect(ops['LayerNormalization']![1]).toBeGreaterThan(0); // split-skip-layer-norm: the wasm form
    expect(await page.textContent('#sizes')).toMatch(/KiB -> .*KiB \(\d+\.\d%\)/);
    const passes = await page.$$eval('#passes-run tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
    expect(passes).toEqual(['fuse', 'split-skip-layer-norm']);

    // the latency chart: both models measured in onnxruntime-web in this page
    expect(await page.textContent('#latency-note')).toMatch(
      /^onnxruntime-web 1\.\d+\.\d+ \(WASM, 1 thread\); inputs input_ids \[1, 32\].*median of 5 runs/,
    );
    const bars = await page.$$eval('#chart rect', (rects) => rects.map((r) => Number(r.getAttribute('width'))));
    expect(bars).toHaveLength(2);
    expect(bars.every((w) => w >= 1)).toBe(true);
    const values = await page.$$eval('#chart text.value', (ts) =>
      ts.map((t) => Number.parseFloat(t.textContent ?? '')),
    );
    expect(values.every((v) => v > 0)).toBe(true);
    if (process.env.WEB_SCREENSHOT) await page.screenshot({ path: process.env.WEB_SCREENSHOT, fullPage: true });

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).toBe('bert-eager-ts14.fuse.onnx');
    const saved = join(web.dir, 'page.onnx');
    await download.saveAs(saved);
    const cliOut = join(web.dir, 'cli.onnx');
    expect((await runCli('fuse', '--target', 'wasm', 'fixtures/bert-eager-ts14.onnx', cliOut)).code).toBe(0);
    expect(readFileSync(saved).equals(readFileSync(cliOut))).toBe(true);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('takes a dropped file and chosen passes, for webgpu', async () => {
    const { page, problems } = await open();
    // page scripts as strings: this file is type-checked without the DOM library
    const bytes = JSON.stringify([...readFileSync('fixtures/gpt2-eager-ts14.onnx')]);
    const dataTransfer = await page.evaluateHandle(
      `(() => { const t = new DataTransfer(); t.items.add(new File([new Uint8Array(${bytes})], 'gpt2.onnx')); return t; })()`,
    );
    await page.dispatchEvent('#drop', 'drop', { dataTransfer });
    await page.waitForFunction('!document.getElementById("run").disabled');
    await page.selectOption('#recipe', 'custom');
    await page.check('#passes input[value="fuse"]');
    await page.selectOption('#target', 'webgpu');
    await page.fill('#iterations', '0');
    await page.click('#run');
    await page.waitForSelector('body[data-state="done"]', { timeout: 90_000 });
    const passes = await page.$$eval('#passes-run tbody tr td:first-child', (tds) => tds.map((td) => td.textContent));
    expect(passes).toEqual(['fuse', 'attention-mask-to-bias', 'split-bias-gelu']);
    const ops = await opCounts(page);
    expect(ops['com.microsoft::Attention']).toEqual([0, 2]);
    expect(ops['com.microsoft::EmbedLayerNormalization']).toBeUndefined();
    expect(await page.isHidden('#latency')).toBe(true);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('says in one line what is wrong with a file that is not a model', async () => {
    const { page } = await open();
    await page.setInputFiles('#file', {
      name: 'broken.onnx',
      mimeType: 'application/octet-stream',
      buffer: readFileSync('fixtures/bert-eager-ts14.onnx').subarray(0, 1000),
    });
    await page.click('#run');
    await page.waitForSelector('#error:not([hidden])');
    const message = (await page.textContent('#error')) ?? '';
    expect(message).toMatch(/^broken\.onnx: /);
    expect(message.split('\n')).toHaveLength(1);
    expect(await page.isHidden('#result')).toBe(true);
    await page.close();
  });
});
