// The tests' one onnxruntime helper: seeded feeds for a model's inputs, a run with onnxruntime's own optimizations
// off, and the largest difference between two runs.
import * as ort from 'onnxruntime-node';
import type { Model } from '../../src/ir/model.js';
import { elemTypeOf, staticShapeOf } from '../../src/ir/types.js';
import { encodeModel } from '../../src/serde/encode.js';
import { F } from './build.js';
import { randomFloats } from './random.js';

/** Feeds for every graph input (static float shapes only), from a seed. */
export function randomFeeds(model: Model, seed = 1): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  model.graph.inputs.forEach((v, i) => {
    const shape = staticShapeOf(v.type);
    if (!shape || elemTypeOf(v.type) !== F) throw new Error(`input '${v.name}' needs a static float shape`);
    feeds[v.name] = new ort.Tensor(
      'float32',
      randomFloats(
        shape.reduce((a, b) => a * b, 1),
        seed * 101 + i,
      ),
      shape,
    );
  });
  return feeds;
}

/** Runs the model as encoded now, with ORT's own optimizations off, and returns its outputs as plain arrays. */
export async function runOrt(
  model: Model,
  feeds: Record<string, ort.Tensor>,
): Promise<Record<string, { dims: readonly number[]; data: number[] }>> {
  const session = await ort.InferenceSession.create(encodeModel(model), {
    graphOptimizationLevel: 'disabled',
    intraOpNumThreads: 1,
  });
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(
      Object.entries(out).map(([k, t]) => [k, { dims: t.dims, data: Array.from(t.data as Float32Array, Number) }]),
    );
  } finally {
    await session.release();
  }
}

/** Largest absolute difference between two runs' outputs; throws when names or dims differ. */
export function maxDifference(a: Awaited<ReturnType<typeof runOrt>>, b: Awaited<ReturnType<typeof runOrt>>): number {
  const names = Object.keys(a).sort();
  if (names.join() !== Object.keys(b).sort().join()) throw new Error(`outputs ${names} vs ${Object.keys(b)}`);
  let worst = 0;
  for (const n of names) {
    if (a[n]!.dims.join() !== b[n]!.dims.join()) throw new Error(`${n}: dims ${a[n]!.dims} vs ${b[n]!.dims}`);
    a[n]!.data.forEach((x, i) => {
      const y = b[n]!.data[i]!;
      worst = Math.max(worst, Number.isNaN(x) && Number.isNaN(y) ? 0 : Math.abs(x - y));
    });
  }
  return worst;
}
