// fp16 --mixed: on a model whose float16 form overflows (a sum of squares and a MatMul over activations near 300),
// plain conversion gives NaN, and the measuring driver finds the nodes to keep in float32 so the result is finite and
// matches float32; on a model float16 handles, it keeps nothing extra.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fp16Pass } from '../../passes/fp16.js';
import { inferElemTypes } from '../../passes/fp16/elem-types.js';
import { readNpz } from '../../src/io/npz.js';
import { readModel } from '../../src/io/read.js';
import { attr } from '../../src/ir/attribute.js';
import { Value } from '../../src/ir/graph.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { toFloat64, type Feeds } from '../../src/runtime/host-tensor.js';
import { seededRandom } from '../../src/tensor/random.js';
import { convertFp16Mixed, float16Error, runFp16Mixed } from '../../src/runtime/mixed-precision.js';
import { loadModel } from '../../src/runtime/session.js';
import { decodeModel } from '../../src/serde/decode.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DataType } from '../../src/tensor/dtype.js';

const F32 = DataType.FLOAT;
const N = 1000;

/**
 * x (2, N), activations between 150 and 300. y = x / Sqrt(ReduceSumSquare(x) / N): the sum of squares reaches ~5e7;
 * z = LayerNormalization(MatMul(x, W)) with W in [0, 1]: the product reaches ~1e5. Both overflow float16 (max
 * 65504) while the outputs are small. onnxruntime's CPU provider runs float16 ops that have no float16 kernel in
 * float32, so on this machine the overflow shows where a float16 kernel reads the value (LayerNormalization, here:
 * NaN), as it would at every op on a GPU; the measuring driver sees every intermediate as stored in float16.
 */
function overflowingModel(): { model: Model; feeds: Feeds } {
  const model = new Model();
  model.opsetImports = [{ domain: '', version: 17 }];
  const g = model.graph;
  const random = seededRandom(3);
  const x = g.addInput(new Value('x', tensorType(F32, [2, N])));
  const init = (name: string, dims: number[], values: number[]) =>
    g.addInitializer(name, Tensor.fromArray(name, F32, dims, values));
  const node = (
    opType: string,
    inputs: Value[],
    name: string,
    attributes = [] as ReturnType<typeof attr>[],
    output?: string,
  ) => g.createNode({ opType, inputs, name, attributes, outputs: output ? [new Value(output)] : 1 }).output();
  const sumSquares = node('ReduceSumSquare', [x], 'sum_squares', [attr('axes', [-1])]);
  const rms = node('Sqrt', [node('Div', [sumSquares, init('count', [], [N])], 'mean_square')], 'rms');
  const y = node('Div', [x, rms], 'normalize', [], 'y');
  const w = init(
    'w',
    [N, 4],
    Array.from({ length: 4 * N }, () => random()),
  );
  const gamma = init('gamma', [4], [1, 0.5, 2, 1]);
  const z = node(
    'LayerNormalization',
    [node('MatMul', [x, w], 'project'), gamma, init('beta', [4], [0, 0.1, 0, -0.1])],
    'norm',
    [],
    'z',
  );
  y.type = tensorType(F32, [2, N]);
  z.type = tensorType(F32, [2, 4]);
  g.outputs.push(y, z);
  const data = Float32Array.from({ length: 2 * N }, () => 150 + random() * 150);
  return { model, feeds: { x: { dataType: F32, dims: [2, N], data } } };
}

async function run(model: Model, feeds: Feeds): Promise<Record<string, Float64Array>> {
  const session = await loadModel(model, { threads: 1 });
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, toFloat64(t)]));
  } finally {
    await session.release();
  }
}

const clone = (m: Model) => decodeModel(encodeModel(m));
const allFinite = (outputs: Record<string, Float64Array>) =>
  Object.values(outputs).every((a) => a.every(Number.isFinite));

describe('fp16 --mixed', () => {
  it('keeps the overflowing sum and product in float32: no Inf/NaN where plain float16 gives NaN', async () => {
    const { model, feeds } = overflowingModel();
    const want = await run(model, feeds);
    expect(allFinite(want)).toBe(true);

    const plain = clone(model);
    fp16Pass.run(plain, { options: {}, log: () => {} });
    const plainOut = await run(plain, feeds);
    expect(allFinite(plainOut)).toBe(false);
    expect(plainOut.z!.every(Number.isNaN)).toBe(true);

    const mixed = clone(model);
    const messages: string[] = [];
    const result = await convertFp16Mixed(mixed, { feeds, log: (m) => messages.push(m) });
    const got = await run(mixed, feeds);
    expect(allFinite(got)).toBe(true);
    for (const name of ['y', 'z']) expect(float16Error(want[name]!, got[name]!), name).toBeLessThanOrEqual(1e-2);

    const types = inferElemTypes(mixed.graph);
    const precision = (name: string) => types.get(mixed.graph.nodes.find((n) => n.name === name)!.output())!;
    for (const name of ['sum_squares', 'mean_square', 'project', 'norm']) expect(precision(name), name).toBe(F32);
    for (const name of ['rms', 'normalize']) expect(precision(name), name).toBe(DataType.FLOAT16);
    expect(result.stats.mixedFloat32Nodes).toBeGreaterThanOrEqual(4);
    expect(result.stats.mixedWorstError).toBeLessThanOrEqual(1e-2);
    expect(messages.length).toBe(result.stats.mixedRounds);
    // The MatMul's weight stays float32 with its node; the other constants become float16.
    expect(mixed.graph.initializers.find((v) => v.name === 'w')!.initializer!.dataType).toBe(F32);
  }, 60_000);

  it('keeps nothing extra in float32 where float16 is accurate, and takes the pass options from a pass context', async () => {
    const { model, feeds } = overflowingModel();
    const small = clone(model);
    const scaled = { x: { ...feeds.x!, data: (feeds.x!.data as Float32Array).map((v) => (v - 225) / 75) } };
    const result = await convertFp16Mixed(small, { feeds: scaled });
    expect(result.stats.mixedFloat32Nodes).toBe(0);
    expect(result.stats.mixedRounds).toBe(0);
    expect(small.graph.initializers.find((v) => v.name === 'w')!.initializer!.dataType).toBe(DataType.FLOAT16);

    // From the CLI: options as commander gives them, inputs generated from the declared shapes (values near 1).
    const viaContext = clone(model);
    const fromContext = await runFp16Mixed(viaContext, {
      options: { mixed: true, mixedTolerance: '0.01', blockNodes: ['rms'] },
      log: () => {},
    });
    expect(fromContext.stats.mixedFloat32Nodes).toBe(0);
    expect(inferElemTypes(viaContext.graph).get(viaContext.graph.nodes.find((n) => n.name === 'rms')!.output())).toBe(
      F32,
    );
  }, 60_000);

  it('stops after --mixed rounds run out and says so', async () => {
    const { model, feeds } = overflowingModel();
    const result = await convertFp16Mixed(model, { feeds, maxRounds: 0 });
    expect(result.stats.mixedFloat32Nodes).toBe(0);
    expect(result.stats.mixedWorstError).toBe(Infinity);
    expect(result.notes!.some((n) => /gave up after 0 rounds/.test(n))).toBe(true);
  }, 60_000);

  it('on a fixture float16 handles well, keeps nothing in float32 and gives what the plain pass gives', async () => {
    const file = 'fixtures/bert-eager-ts14.onnx';
    expect(existsSync(file), `${file} is missing: generate the fixtures with fixtures/export_models.py`).toBe(true);
    const feeds: Feeds = Object.fromEntries(readNpz('fixtures/bert-eager-ts14.inputs.npz'));
    const mixed = readModel(file);
    const result = await convertFp16Mixed(mixed, { feeds });
    expect(result.stats.mixedFloat32Nodes).toBe(0);
    expect(result.stats.mixedWorstError).toBeLessThanOrEqual(1e-2);
    const plain = readModel(file);
    fp16Pass.run(plain, { options: {}, log: () => {} });
    expect(Buffer.from(encodeModel(mixed)).equals(encodeModel(plain))).toBe(true);
  }, 60_000);

  it('measures float16 error with both sides clamped to the float16 range, and NaN/Inf where float32 is finite as infinite', () => {
    const ref = Float64Array.of(-3.4e38, 1, 2);
    expect(float16Error(ref, Float64Array.of(-65504, 1, 2))).toBe(0);
    expect(float16Error(Float64Array.of(3e8, 1), Float64Array.of(Infinity, 1))).toBe(Infinity);
    expect(float16Error(Float64Array.of(1, 2), Float64Array.of(1, NaN))).toBe(Infinity);
    expect(float16Error(Float64Array.of(1, -2), Float64Array.of(1.01, -2))).toBeCloseTo(0.005, 6);
  });
});
