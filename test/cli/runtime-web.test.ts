// parity and bench in onnxruntime-web's WASM backend (`--runtime web`): the runtime a web page gets, run in Node.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';
import { tempFolder } from '../kit/temp.js';

const dir = tempFolder('web');
const FIXTURE = 'fixtures/bert-eager-ts14.onnx';

describe('--runtime web', { timeout: 60_000 }, () => {
  it('parity of the fused and the INT8 model against the export, in onnxruntime-web', async () => {
    const fused = join(dir, 'fused.onnx');
    const int8 = join(dir, 'int8.onnx');
    expect((await runCli('fuse', '--target', 'wasm', FIXTURE, fused)).code).toBe(0);
    expect((await runCli('fuse', 'quantize', '--target', 'wasm', FIXTURE, int8)).code).toBe(0);
    const exact = await runCli('parity', '--runtime', 'web', '--pad', '--json', FIXTURE, fused);
    expect(exact.code, exact.stderr).toBe(0);
    const report = JSON.parse(exact.stdout);
    expect(Math.max(...report.outputs.map((o: { maxAbs: number }) => o.maxAbs))).toBeLessThan(1e-4);
    expect((await runCli('parity', '--runtime', 'web', '--min-cosine', '0.99', FIXTURE, int8)).code).toBe(0);
  });

  it('a model onnxruntime-web cannot load is one line naming the file, exit 2', async () => {
    const r = await runCli('parity', '--runtime', 'web', FIXTURE, 'fixtures/manifest.json');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('fixtures/manifest.json');
  });

  it('bench runs models side by side in onnxruntime-web', async () => {
    const fused = join(dir, 'fused.onnx');
    const r = await runCli(
      'bench',
      '--runtime',
      'web',
      '--iters',
      '3',
      '--warmup',
      '1',
      '--seq',
      '16',
      '--json',
      FIXTURE,
      fused,
    );
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.runtime).toBe('web');
    expect(report.results.map((x: { model: string }) => x.model)).toEqual([FIXTURE, fused]);
    expect(report.results.every((x: { p50: number }) => x.p50 > 0)).toBe(true);
  });

  it('rejects an unknown runtime', async () => {
    expect((await runCli('bench', '--runtime', 'tpu', FIXTURE)).code).toBe(2);
  });
});
