// `onnx-opt gate`: pass and fail exit codes, the report, --json, progress on stderr, and usage errors.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readModel } from '../../src/io/read.js';
import { writeModel } from '../../src/io/write.js';
import { Tensor } from '../../src/ir/tensor.js';
import { fixture, haveFixtures, linearClassifier, writeModelFile } from '../runtime/helpers.js';
import { runCli } from './run-cli.js';
import { tempFolder } from '../kit/temp.js';

const dir = tempFolder('cli-gate');

const identity = [
  [1, 0],
  [0, 1],
];
const baseline = writeModelFile(dir, 'baseline.onnx', linearClassifier(identity, [0, 0]));
const same = writeModelFile(dir, 'same.onnx', linearClassifier(identity, [0.01, 0]));
const biased = writeModelFile(dir, 'biased.onnx', linearClassifier(identity, [5, 0]));
const data = join(dir, 'data.json');
const rows = [
  [1, 0],
  [0, 1],
  [0.2, 0.9],
  [0.7, 0.1],
  [0.1, 0.3],
  [0.6, 0.5],
];
writeFileSync(data, JSON.stringify({ inputs: { x: rows }, labels: rows.map((r) => (r[0]! > r[1]! ? 0 : 1)) }));
const common = ['--data', data, '--threads', '1'];

describe('onnx-opt gate', () => {
  it('exits 0 when the candidate keeps the metric, with progress on stderr', async () => {
    const r = await runCli(
      'gate',
      '--baseline',
      baseline,
      '--candidate',
      same,
      ...common,
      '--max-drop',
      '0',
      '--batch-size',
      '4',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^accuracy on 6 samples \(output 'logits'\)$/m);
    expect(r.stdout).toMatch(/^baseline {3}1\.0000 {2}.*baseline\.onnx$/m);
    expect(r.stdout).toMatch(/^PASS$/m);
    // Not a terminal here: plain progress lines, no control characters.
    expect(r.stderr).toMatch(/^evaluating baseline 6\/6 \(100%\)$/m);
    expect(r.stderr).not.toMatch(/\x1b/);
  });

  it('exits 1 when the candidate drops more than allowed, and --json parses', async () => {
    const r = await runCli(
      'gate',
      '--baseline',
      baseline,
      '--candidate',
      biased,
      ...common,
      '--max-drop',
      '0.1',
      '--json',
    );
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      metric: 'accuracy',
      baseline: 1,
      candidate: 0.5,
      drop: 0.5,
      maxDrop: 0.1,
      pass: false,
      samples: 6,
    });
    const text = await runCli('gate', '--baseline', baseline, '--candidate', biased, ...common, '--max-drop', '0.1');
    expect(text.stdout).toMatch(/^FAIL: accuracy drop 0\.5000 > 0\.1$/m);
  });

  it('reports bad input in one line with exit 2', async () => {
    const usage = async (args: string[], pattern: RegExp) => {
      const r = await runCli('gate', ...args);
      expect(r.code).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    };
    await usage(
      ['--baseline', baseline, '--candidate', same, ...common],
      /required option '--max-drop <x>' not specified/,
    );
    await usage(
      ['--baseline', baseline, '--candidate', same, ...common, '--max-drop', 'much'],
      /--max-drop must be a number, not 'much'/,
    );
    await usage(
      ['--baseline', baseline, '--candidate', same, ...common, '--max-drop', '0', '--metric', 'f1'],
      /--metric must be one of accuracy, top5, mse, cosine/,
    );
    await usage(
      ['--baseline', baseline, '--candidate', join(dir, 'nope.onnx'), ...common, '--max-drop', '0'],
      /nope\.onnx: no such file/,
    );
    await usage(
      ['--baseline', baseline, '--candidate', same, '--data', join(dir, 'nope.npz'), '--max-drop', '0'],
      /nope\.npz: no such file/,
    );
  });
});

describe.runIf(haveFixtures)('onnx-opt gate on the digits classifier', () => {
  const digits = () => fixture('digits.onnx');
  /** The gate's JSON report of `candidate` against the digits model on its test set, allowing a drop of 0.01. */
  const gate = (candidate: string) =>
    runCli(
      'gate',
      '--baseline',
      digits(),
      '--candidate',
      candidate,
      '--data',
      fixture('digits.test.npz'),
      '--max-drop',
      '0.01',
      '--json',
    );

  it('passes the INT8 model at --max-drop 0.01', async () => {
    const r = await gate(fixture('digits.int8.onnx'));
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.samples).toBe(540);
    expect(report.baseline).toBeGreaterThan(0.9);
    expect(report.drop).toBeLessThanOrEqual(0.01);
  });

  it('fails a candidate whose class-3 bias was pushed up', async () => {
    const model = readModel(digits());
    const head = model.graph.outputs[0]!.producer!;
    expect(head.opType).toBe('Gemm');
    const bias = head.input(2);
    const values = Float32Array.from(bias.initializer!.toFloat32());
    values[3]! += 100;
    bias.initializer = Tensor.fromArray(
      bias.initializer!.name,
      bias.initializer!.dataType,
      bias.initializer!.dims,
      values,
    );
    const broken = join(dir, 'digits-broken.onnx');
    writeModel(model, broken);
    const r = await gate(broken);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    // Every sample is now predicted as a 3: accuracy falls to the share of 3s in the test set (about a tenth).
    expect(report.candidate).toBeLessThan(0.15);
    expect(report.pass).toBe(false);
  });
});
