// `import 'onnx-opt'` and reading, optimizing and writing a model load no native addon: onnxruntime-node is loaded
// only when a model is run. Every native addon Node loads goes through process.dlopen, which this file watches
// (vitest runs each test file in a process of its own).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempFolder } from '../kit/temp.js';

const loaded: string[] = [];
const dlopen = process.dlopen;
process.dlopen = ((module: { exports: unknown }, filename: string, flags?: number) => {
  loaded.push(filename);
  return flags === undefined ? dlopen(module, filename) : dlopen(module, filename, flags);
}) as typeof process.dlopen;

const dir = tempFolder('addon');

describe('onnxruntime-node is loaded only to run models', () => {
  it('importing the library, reading, fusing and writing a model load no native addon', async () => {
    const lib = await import('../../src/index.js');
    const model = lib.readModel('fixtures/bert-sdpa-dynamo18.onnx');
    lib.runPasses(model, [lib.fusePass]);
    lib.writeModel(model, join(dir, 'fused.onnx'));
    expect(loaded).toEqual([]);
  });

  it('running a model loads it (so the watch above sees addons)', async () => {
    const lib = await import('../../src/index.js');
    const report = await lib.checkParity('fixtures/cnn.onnx', 'fixtures/cnn.onnx');
    expect(report.pass).toBe(true);
    expect(loaded.some((f) => /onnxruntime/.test(f))).toBe(true);
  });
});
