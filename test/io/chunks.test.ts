// External data in chunks (transformers.js loads models over 2 GB as X.onnx_data, X.onnx_data_1, ...): a tensor is
// never split, each TensorProto's location names its chunk, and the chunked model is the same model.
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { readModel } from '../../src/io/read.js';
import { chunkName, existingChunks, writeModel } from '../../src/io/write.js';
import { encodeModel } from '../../src/serde/encode.js';
import { describeModel } from '../helpers/describe-ir.js';
import { mlpModel } from '../helpers/models.js';
import { tempFolder } from '../kit/temp.js';

const root = tempFolder('chunks');

const locations = (path: string) =>
  Object.fromEntries(
    readModel(path)
      .graph.initializers.filter((v) => v.initializer!.externalSource)
      .map((v) => [v.name, v.initializer!.externalSource!.where.location]),
  );

async function outputOf(model: string | Uint8Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model as string);
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: 3 * 32 }, (_, i) => Math.sin(i)),
    [3, 32],
  );
  const y = (await session.run({ x })).y!.data as Float32Array;
  await session.release();
  return y;
}

describe('external data in chunks', () => {
  it('fills each chunk up to the size, in order; locations name the chunks; onnxruntime gives the same outputs', async () => {
    const path = join(root, 'mlp.onnx');
    // w1, w2: 4096 bytes each, b: 128 (threshold 100: it goes out too), each at a 4096-aligned offset: a chunk of
    // 6000 bytes holds w1, or w2 and b (4096 + 128), not w1 and w2
    writeModel(mlpModel(32), path, { externalData: 'always', externalThreshold: 100, externalChunkBytes: 6000 });
    expect(readdirSync(root).sort()).toEqual(['mlp.onnx', 'mlp.onnx_data', 'mlp.onnx_data_1']);
    expect(locations(path)).toEqual({ w1: 'mlp.onnx_data', w2: 'mlp.onnx_data_1', b: 'mlp.onnx_data_1' });
    for (const chunk of existingChunks(path)) expect(statSync(chunk).size).toBeLessThanOrEqual(6000);
    // 4096 bytes: each tensor in a chunk of its own
    const three = join(root, 'three.onnx');
    writeModel(mlpModel(32), three, { externalData: 'always', externalThreshold: 100, externalChunkBytes: 4096 });
    expect(locations(three)).toEqual({ w1: 'three.onnx_data', w2: 'three.onnx_data_1', b: 'three.onnx_data_2' });
    expect(await outputOf(three)).toEqual(await outputOf(encodeModel(mlpModel(32))));
    expect(describeModel(readModel(path))).toEqual(describeModel(mlpModel(32)));
    expect(await outputOf(path)).toEqual(await outputOf(encodeModel(mlpModel(32))));
  });

  it('a tensor larger than the chunk size is never split: it gets a chunk of its own', () => {
    const path = join(mkdtempSync(join(root, 'big-')), 'big.onnx');
    writeModel(mlpModel(32), path, { externalData: 'always', externalChunkBytes: 1000 });
    expect(locations(path)).toEqual({ w1: chunkName(path, 0), w2: chunkName(path, 1) });
    expect(existingChunks(path).map((p) => statSync(p).size)).toEqual([4096, 4096]);
  });

  it('fewer chunks than an earlier output: the extra old chunks go with the commit', () => {
    const dir = mkdtempSync(join(root, 'case-'));
    const path = join(dir, 'm.onnx');
    writeModel(mlpModel(32), path, { externalData: 'always', externalChunkBytes: 1000 });
    expect(readdirSync(dir).sort()).toEqual(['m.onnx', 'm.onnx_data', 'm.onnx_data_1']);
    writeModel(mlpModel(32), path, { externalData: 'always' });
    expect(readdirSync(dir).sort()).toEqual(['m.onnx', 'm.onnx_data']);
    expect(describeModel(readModel(path))).toEqual(describeModel(mlpModel(32)));
  });

  it('a chunk size that is not positive is refused before anything is written', () => {
    const dir = mkdtempSync(join(root, 'case-'));
    expect(() =>
      writeModel(mlpModel(32), join(dir, 'm.onnx'), { externalData: 'always', externalChunkBytes: 0 }),
    ).toThrow(/chunk size must be positive/);
    expect(readdirSync(dir)).toEqual([]);
  });
});
