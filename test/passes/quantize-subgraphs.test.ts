// quantize inside If/Loop bodies (transformers.js quantizes merged decoders with EnableSubgraph=True): the bodies'
// MatMul/Gemm nodes become 8-bit, weights of the outer graph are quantized once where every body sees them, and a
// branch computes what the same layers quantized in a main graph compute.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { quantizePass } from '../../passes/quantize.js';
import { attr, Graph, Model, Tensor, Value, tensorType, type Node } from '../../src/ir/index.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DataType } from '../../src/tensor/dtype.js';
import { bellFloats } from '../kit/random.js';

const constant = (g: Graph, name: string, dims: number[], seed: number) =>
  g.addInitializer(
    name,
    Tensor.fromArray(
      '',
      DataType.FLOAT,
      dims,
      bellFloats(
        dims.reduce((a, b) => a * b, 1),
        seed,
        0.2,
      ),
    ),
  );

function node(
  g: Graph,
  opType: string,
  inputs: Value[],
  name: string,
  attributes = [] as ReturnType<typeof attr>[],
): Value {
  return g.createNode({ opType, inputs, outputs: [g.newValue(name)], attributes, name }).output(0);
}

interface Weights {
  w1: Value;
  b1: Value;
  wq: Value;
  wk: Value;
  wg: Value;
  bg: Value;
}

/**
 * x -> MatMul W1 + b1 -> Relu -> MatMul Wq, MatMul Wk (one input: a shared DynamicQuantizeLinear) -> Add
 * -> Gemm (transB, bias) -> y: every form the quantize pass rewrites for MatMul and Gemm.
 */
function layers(g: Graph, x: Value, w: Weights, prefix: string): Value {
  const h = node(g, 'Add', [node(g, 'MatMul', [x, w.w1], `${prefix}fc1`), w.b1], `${prefix}fc1_bias`);
  const r = node(g, 'Relu', [h], `${prefix}relu`);
  const qk = node(
    g,
    'Add',
    [node(g, 'MatMul', [r, w.wq], `${prefix}q`), node(g, 'MatMul', [r, w.wk], `${prefix}k`)],
    `${prefix}qk`,
  );
  return node(g, 'Gemm', [qk, w.wg, w.bg], `${prefix}gemm`, [attr('transB', 1)]);
}

const X_DIMS = [6, 16];
const Y_DIMS = [6, 8];

function newModel(): Model {
  const m = new Model();
  m.opsetImports.push({ domain: '', version: 17 });
  return m;
}

/** A branch's weights: W1 and b1 live in the main graph (read by both branches), the rest in the branch. */
function branchWeights(body: Graph, outer: Pick<Weights, 'w1' | 'b1'>, seed: number): Weights {
  return {
    ...outer,
    wq: constant(body, `wq${seed}`, [32, 24], seed),
    wk: constant(body, `wk${seed}`, [32, 24], seed + 1),
    wg: constant(body, `wg${seed}`, [8, 24], seed + 2),
    bg: constant(body, `bg${seed}`, [8], seed + 3),
  };
}

/** A merged-decoder-like model: If(cond) with the same layers in both branches, weights partly shared. */
function ifModel(): Model {
  const m = newModel();
  const g = m.graph;
  const x = g.addInput(new Value('x', tensorType(DataType.FLOAT, X_DIMS)));
  const cond = g.addInput(new Value('cond', tensorType(DataType.BOOL, [])));
  const outer = { w1: constant(g, 'w1', [16, 32], 1), b1: constant(g, 'b1', [32], 2) };
  const branch = (name: string, seed: number) => {
    const body = new Graph(name, g);
    const y = layers(body, x, branchWeights(body, outer, seed), `${name}_`);
    y.type = tensorType(DataType.FLOAT, Y_DIMS);
    body.outputs.push(y);
    return body;
  };
  const y = new Value('y', tensorType(DataType.FLOAT, Y_DIMS));
  g.createNode({
    opType: 'If',
    inputs: [cond],
    outputs: [y],
    attributes: [attr('then_branch', branch('then', 10)), attr('else_branch', branch('else', 20))],
    name: 'if',
  });
  g.outputs.push(y);
  return m;
}

/** The then branch's layers, with the same weights, as a main graph. */
function flatModel(): Model {
  const m = newModel();
  const g = m.graph;
  const x = g.addInput(new Value('x', tensorType(DataType.FLOAT, X_DIMS)));
  const outer = { w1: constant(g, 'w1', [16, 32], 1), b1: constant(g, 'b1', [32], 2) };
  const y = layers(g, x, branchWeights(g, outer, 10), '');
  g.outputs.push(y);
  y.type = tensorType(DataType.FLOAT, Y_DIMS);
  return m;
}

const allNodes = (m: Model): Node[] => [...m.graph.allGraphs()].flatMap((g) => g.nodes);
const opTypes = (nodes: readonly Node[]) => nodes.map((n) => n.opType).sort();

async function run(model: Model, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(encodeModel(model), { intraOpNumThreads: 1 });
  const outputs = await session.run(Object.fromEntries(session.inputNames.map((n) => [n, feeds[n]!])));
  const y = outputs[session.outputNames[0]!]!.data as Float32Array;
  await session.release();
  return y;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let [dot, aa, bb] = [0, 0, 0];
  a.forEach((v, i) => ((dot += v * b[i]!), (aa += v * v), (bb += b[i]! * b[i]!)));
  return dot / Math.sqrt(aa * bb);
}

const x = new ort.Tensor('float32', bellFloats(X_DIMS[0]! * X_DIMS[1]!, 99), X_DIMS);
const condition = (c: boolean) => new ort.Tensor('bool', Uint8Array.from([c ? 1 : 0]), []);

describe('quantize: If bodies (merged decoders)', () => {
  it('quantizes MatMul and Gemm in both branches; outer weights once, in the main graph', () => {
    const model = ifModel();
    const result = quantizePass.run(model, { options: {}, log: () => {} });
    expect(result.stats['quantized.MatMul']).toBe(6);
    expect(result.stats['quantized.Gemm']).toBe(2);
    const [then, otherwise] = model.graph.nodes.find((n) => n.opType === 'If')!.subgraphs();
    for (const body of [then!, otherwise!]) {
      expect(opTypes(body.nodes)).toEqual([
        'Add',
        'DynamicQuantizeLinear',
        'DynamicQuantizeMatMul',
        'DynamicQuantizeMatMul',
        'MatMulIntegerToFloat',
        'MatMulIntegerToFloat',
        'Relu',
      ]);
      // the bodies' own weights are quantized where they were: no float matrix is left, three int8 ones are there
      const matrices = body.initializers.filter((v) => v.initializer!.rank === 2).map((v) => v.initializer!.dataType);
      expect(matrices).toEqual([DataType.INT8, DataType.INT8, DataType.INT8]);
    }
    const main = model.graph.initializers.map((v) => v.name).sort();
    expect(main).toEqual(['b1', 'w1_quantized', 'w1_scale', 'w1_zero_point']);
    expect(allNodes(model).some((n) => n.opType === 'MatMul' || n.opType === 'Gemm')).toBe(false);
  });

  it('each branch runs in onnxruntime and computes what the same layers quantized in a main graph compute', async () => {
    const [float, model, flat] = [ifModel(), ifModel(), flatModel()];
    quantizePass.run(model, { options: {}, log: () => {} });
    quantizePass.run(flat, { options: {}, log: () => {} });
    const quantizedThen = await run(model, { x, cond: condition(true) });
    const quantizedFlat = await run(flat, { x });
    const peak = quantizedFlat.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    quantizedThen.forEach((v, i) => expect(Math.abs(v - quantizedFlat[i]!)).toBeLessThanOrEqual(1e-6 * peak));
    for (const c of [true, false]) {
      const [expected, actual] = [
        await run(float, { x, cond: condition(c) }),
        await run(model, { x, cond: condition(c) }),
      ];
      expect(cosine(expected, actual)).toBeGreaterThan(0.999);
    }
  });

  it('an outer weight that a main-graph node also reads stays float', () => {
    const model = ifModel();
    const g = model.graph;
    const w1 = g.initializers.find((v) => v.name === 'w1')!;
    g.outputs.push(node(g, 'Relu', [w1], 'w1_relu'));
    const result = quantizePass.run(model, { options: {}, log: () => {} });
    expect(result.stats['quantized.MatMul']).toBe(4);
    expect(result.notes!.filter((n) => n.includes("weight 'w1' is also read by"))).toHaveLength(2);
    expect(g.initializers.some((v) => v.name === 'w1')).toBe(true);
  });
});

describe('quantize: Loop bodies', () => {
  it('a MatMul in a Loop body reading an outer weight is quantized and the loop runs', async () => {
    const build = () => {
      const m = newModel();
      const g = m.graph;
      const x = g.addInput(new Value('x', tensorType(DataType.FLOAT, [4, 16])));
      const trips = g.addInitializer('trips', Tensor.fromArray('', DataType.INT64, [], BigInt64Array.from([3n])));
      const w = constant(g, 'w', [16, 16], 7);
      const body = new Graph('body', g);
      body.addInput(new Value('i', tensorType(DataType.INT64, [])));
      const keep = body.addInput(new Value('keep', tensorType(DataType.BOOL, [])));
      const state = body.addInput(new Value('state', tensorType(DataType.FLOAT, [4, 16])));
      const next = node(body, 'Tanh', [node(body, 'MatMul', [state, w], 'step')], 'step_tanh');
      next.type = tensorType(DataType.FLOAT, [4, 16]);
      const keepOut = node(body, 'Identity', [keep], 'keep_out');
      keepOut.type = tensorType(DataType.BOOL, []);
      body.outputs.push(keepOut, next);
      const y = new Value('y', tensorType(DataType.FLOAT, [4, 16]));
      g.createNode({
        opType: 'Loop',
        inputs: [trips, null, x],
        outputs: [y],
        attributes: [attr('body', body)],
        name: 'loop',
      });
      g.outputs.push(y);
      return m;
    };
    const [float, model] = [build(), build()];
    const result = quantizePass.run(model, { options: {}, log: () => {} });
    expect(result.stats['quantized.MatMul']).toBe(1);
    expect(opTypes(allNodes(model))).toEqual(['DynamicQuantizeMatMul', 'Identity', 'Loop', 'Tanh']);
    expect(model.graph.initializers.map((v) => v.name).sort()).toEqual([
      'trips',
      'w_quantized',
      'w_scale',
      'w_zero_point',
    ]);
    const feed = new ort.Tensor('float32', bellFloats(64, 5), [4, 16]);
    expect(cosine(await run(float, { x: feed }), await run(model, { x: feed }))).toBeGreaterThan(0.999);
  });
});
