// `onnx-opt parity`: exit codes, the table, --json, input files, and one-line usage errors.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  embeddingModel,
  fixture,
  haveFixtures,
  npyBytes,
  npzBytes,
  nudgeInitializer,
  writeModelFile,
} from '../runtime/helpers.js';
import { runCli } from './run-cli.js';
import { tempFolder } from '../kit/temp.js';

const dir = tempFolder('cli-parity');
const model = writeModelFile(dir, 'model.onnx', embeddingModel());
const broken = (() => {
  const m = embeddingModel();
  nudgeInitializer(m, 'token_type_embeddings', 0, 1);
  return writeModelFile(dir, 'broken.onnx', m);
})();
const quick = ['--threads', '1', '--seq', '8'];

/** A usage or input error: exit 2 and exactly one line on stderr, naming the problem. */
function expectOneLineError(r: { code: number; stdout: string; stderr: string }, pattern: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
}

describe('onnx-opt parity', () => {
  it('exits 0 for a model against itself and prints a table', async () => {
    const r = await runCli('parity', model, model, ...quick, '--pad');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^output\s+type\s+shape\s+max abs/m);
    expect(r.stdout).toMatch(
      /^last_hidden_state\s+float\s+\[2, 8, 4\]\s+0\s+0\s+0\s+1\.000000\s+0\/128\s+0\/0\s+ok \(exact\)$/m,
    );
    expect(r.stdout).toMatch(/^PASS: every output is within/m);
  });

  it('exits 1 against a copy with a changed weight', async () => {
    const r = await runCli('parity', model, broken, ...quick);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^FAIL: output 'last_hidden_state': \d+ of 128 elements outside atol 0.0001 \+ rtol 0.001 \(max abs diff 1\.00/m,
    );
  });

  it('prints a JSON report that parses', async () => {
    const r = await runCli('parity', model, broken, ...quick, '--json', '--samples', '3', '--atol', '2');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      pass: true,
      exact: false,
      samples: 3,
      atol: 2,
      reference: model,
      candidate: broken,
    });
    expect(report.outputs[0].maxAbs).toBeCloseTo(1, 6);
  });

  it('runs inputs from .npz and .json files', async () => {
    const ids = (values: number[]) => npyBytes('<i8', [1, 4], BigInt64Array.from(values.map(BigInt)));
    const npz = join(dir, 'inputs.npz');
    writeFileSync(
      npz,
      npzBytes({ input_ids: ids([1, 2, 3, 49]), attention_mask: ids([1, 1, 1, 0]), token_type_ids: ids([0, 0, 1, 1]) }),
    );
    const fromNpz = JSON.parse((await runCli('parity', model, model, '--inputs', npz, '--json')).stdout);
    expect(fromNpz).toMatchObject({ pass: true, samples: 1 });
    expect(fromNpz.inputs[0]).toEqual({ name: 'input_ids', type: 'int64', shape: [1, 4] });

    const json = join(dir, 'inputs.json');
    writeFileSync(json, JSON.stringify({ input_ids: [[5, 6]], attention_mask: [[1, 1]], token_type_ids: [[0, 1]] }));
    const fromJson = await runCli('parity', model, broken, '--inputs', json);
    expect(fromJson.code).toBe(1);
    expect(fromJson.stdout).toMatch(/1 sample\(s\); inputs: input_ids int64 \[1, 2\]/);
  });

  it('reports bad input in one line with exit 2', async () => {
    expectOneLineError(await runCli('parity', model, join(dir, 'absent.onnx')), /absent\.onnx: no such file/);
    expectOneLineError(
      await runCli('parity', model, model, '--atol', 'abc'),
      /^onnx-opt: --atol must be a number, not 'abc'$/m,
    );
    expectOneLineError(await runCli('parity', model, model, '--samples', '0'), /--samples must be at least 1/);
    expectOneLineError(await runCli('parity', model, model, '--dim', 'batch'), /--dim takes name=size, not 'batch'/);
    const wrongNames = join(dir, 'wrong.json');
    writeFileSync(wrongNames, JSON.stringify({ ids: [[1]], attention_mask: [[1]], token_type_ids: [[0]] }));
    expectOneLineError(
      await runCli('parity', model, model, '--inputs', wrongNames),
      /wrong\.json: array 'ids' is not a model input \(inputs: input_ids, attention_mask, token_type_ids\)/,
    );
    const notModel = join(dir, 'not-a-model.onnx');
    writeFileSync(notModel, 'hello');
    expectOneLineError(await runCli('parity', model, notModel), /not-a-model\.onnx: /);
  });
});

describe.runIf(haveFixtures)('onnx-opt parity on the fixtures', () => {
  it("matches onnxruntime's optimized BERT, and runs the fixture's own inputs", async () => {
    const raw = fixture('bert-eager-ts14.onnx');
    const r = await runCli('parity', raw, fixture('bert-eager-ts14.ort.onnx'), '--threads', '1', '--pad', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).outputs[0]).toMatchObject({
      name: 'last_hidden_state',
      shape: [2, 32, 64],
      pass: true,
    });
    const given = await runCli('parity', raw, raw, '--inputs', fixture('bert-eager-ts14.inputs.npz'), '--threads', '1');
    expect(given.code).toBe(0);
    expect(given.stdout).toMatch(/input_ids int64 \[2, 16\]/);
  });

  it('passes the INT8 model on cosine similarity but not on closeness', async () => {
    const args = [fixture('vit-eager-ts14.onnx'), fixture('vit-eager-ts14.int8.onnx'), '--threads', '1'];
    expect((await runCli('parity', ...args, '--min-cosine', '0.99')).code).toBe(0);
    expect((await runCli('parity', ...args)).code).toBe(1);
  });
});
