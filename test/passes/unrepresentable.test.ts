// Weights a lossy pass cannot represent (3e38 in INT8 scales, values beyond float16) are clamped, never made NaN.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fp16Pass } from '../../passes/fp16.js';
import { quantizePass } from '../../passes/quantize.js';
import { readModelBytes } from '../../src/io/read.js';
import type { Pass } from '../../src/pass/index.js';
import { encodeModel } from '../../src/serde/encode.js';
import { matmulModel } from '../bench/robustness.js';
import { runOrt } from '../kit/index.js';

async function outputs(bytes: Uint8Array): Promise<Float32Array> {
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: 8 }, (_, i) => (i % 3) - 1),
    [2, 4],
  );
  return Object.values(await runOrt(bytes, { x }, 'all'))[0]!.data;
}

async function through(
  pass: Pass,
  weights: number[],
): Promise<{ after: Float32Array; notes: string[]; stats: Record<string, number> }> {
  const model = readModelBytes(matmulModel(weights));
  const result = pass.run(model, { options: {}, log: () => {} });
  return { after: await outputs(encodeModel(model)), notes: result.notes ?? [], stats: result.stats };
}

describe('unrepresentable weights', () => {
  it('quantize: weights of ±3e38 (a float32 range wider than float32) give finite outputs', async () => {
    // ±3e38 on the diagonal, so the float32 model's own sums stay finite.
    const weights = Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? (i % 2 ? 3e38 : -3e38) : 0.5));
    expect((await outputs(matmulModel(weights))).every(Number.isFinite)).toBe(true);
    const { after } = await through(quantizePass, weights);
    expect(after.every(Number.isFinite), `outputs ${[...after]}`).toBe(true);
  });

  it('fp16: values beyond ±65504 are clamped and counted, never infinite or NaN', async () => {
    const weights = Array.from({ length: 16 }, (_, i) => (i % 3 ? 1e6 : -7e4));
    const { after, stats } = await through(fp16Pass, weights);
    expect(after.every(Number.isFinite), `outputs ${[...after]}`).toBe(true);
    expect(stats.clampedValues).toBe(16);
  });
});
