// `onnx-opt bench`: both models in the table with a speedup column, --json, and usage errors (no timing checks).
import { describe, expect, it } from 'vitest';
import { embeddingModel, writeModelFile } from '../runtime/helpers.js';
import { runCli } from './run-cli.js';
import { tempFolder } from '../kit/temp.js';

const dir = tempFolder('cli-bench');
const a = writeModelFile(dir, 'a.onnx', embeddingModel(50));
const b = writeModelFile(dir, 'b.onnx', embeddingModel(20));
const quick = ['--seq', '8', '--threads', '1', '--warmup', '1', '--iters', '3'];

describe('onnx-opt bench', () => {
  it('prints every model at every batch size with a speedup relative to the first', async () => {
    const r = await runCli('bench', a, b, ...quick, '--batch', '1,2');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^model\s+batch\s+p50 ms\s+p95 ms\s+p99 ms\s+items\/s\s+speedup$/m);
    const rows = r.stdout.split('\n').filter((l) => /\.onnx\s.*\d\.\d\dx$/.test(l));
    expect(rows.map((l) => [l.split(/\s+/)[0]!.endsWith('a.onnx') ? 'a' : 'b', l.split(/\s+/)[1]])).toEqual([
      ['a', '1'],
      ['b', '1'],
      ['a', '2'],
      ['b', '2'],
    ]);
    expect(rows.filter((l) => l.includes('a.onnx')).every((l) => l.endsWith(' 1.00x'))).toBe(true);
    expect(r.stdout).toMatch(/^model\s+load ms\s+RSS \+load\s+RSS \+first run$/m);
    expect(r.stdout).toMatch(/^peak RSS of the process: [\d.]+ MiB/m);
    expect(r.stderr).toMatch(/^measuring batch 2 8\/8 \(100%\)$/m);
  });

  it('prints a JSON report that parses', async () => {
    const r = await runCli('bench', a, b, ...quick, '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ threads: 1, warmup: 1, iterations: 3 });
    expect(report.results.map((x: { model: string; batch: number }) => [x.model, x.batch])).toEqual([
      [a, 1],
      [b, 1],
    ]);
    expect(report.results[0].speedup).toBe(1);
    expect(report.results[0].shapes).toEqual({ input_ids: [1, 8], attention_mask: [1, 8], token_type_ids: [1, 8] });
  });

  it('reports bad options in one line with exit 2', async () => {
    for (const [args, pattern] of [
      [['--batch', '1,x'], /--batch must be an integer, not 'x'/],
      [['--iters', '0'], /--iters must be at least 1/],
      [['--threads', '1.5'], /--threads must be an integer, not '1\.5'/],
    ] as const) {
      const r = await runCli('bench', a, ...args);
      expect(r.code).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    }
  });
});
