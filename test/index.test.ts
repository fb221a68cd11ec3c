// The library API as the README shows it in a build pipeline: optimize, check parity, gate accuracy.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkParity,
  describeInputs,
  findPass,
  gateAccuracy,
  readDataset,
  readModel,
  runPasses,
  writeModel,
} from '../src/index.js';
import * as core from '../src/core.js';
import { tempFolder } from './kit/temp.js';

const dir = tempFolder('api');

describe('library API', () => {
  it('fuses and quantizes a model, then checks it against the original', async () => {
    const model = readModel('fixtures/bert-eager-ts14.onnx');
    const results = runPasses(model, ['fuse', 'quantize'].map(findPass));
    expect(results.map((r) => r.pass)).toEqual(['fuse', 'quantize']);
    expect(results[0]!.result.stats.Attention).toBe(2);
    const out = join(dir, 'bert.int8.onnx');
    writeModel(model, out);
    const report = await checkParity('fixtures/bert-eager-ts14.onnx', out, { minCosine: 0.99, samples: 1, threads: 1 });
    expect(report.pass).toBe(true);
  });

  it('gates an INT8 classifier on its test set', async () => {
    const model = readModel('fixtures/digits.onnx');
    runPasses(model, [findPass('quantize')]);
    const out = join(dir, 'digits.int8.onnx');
    writeModel(model, out);
    const data = readDataset('fixtures/digits.test.npz', describeInputs(model));
    const gate = await gateAccuracy('fixtures/digits.onnx', out, data, { maxDrop: 0.01 });
    expect(gate.pass).toBe(true);
  });

  it('keeps a browser-safe entry without files or onnxruntime', () => {
    expect(Object.keys(core)).toEqual(expect.arrayContaining(['decodeModel', 'encodeModel', 'runPasses', 'fusePass']));
    expect(Object.keys(core)).not.toContain('readModel');
    expect(Object.keys(core)).not.toContain('checkParity');
  });
});
