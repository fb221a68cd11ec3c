// quantize inside If/Loop bodies (transformers.js quantizes merged decoders with EnableSubgraph=True): the bodies'
// MatMul/Gemm nodes become 8-bit, weights of the outer graph are quantized once where every body sees them, and a
// branch computes what the same layers quantized in a main graph compute.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { quantizePass } from '../../passes/quantize.js';
import { Graph, type Model, type Node, type Value } from '../../src/ir/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { bellFloats, buildModel, cosine, GraphMaker, runOrt } from '../kit/index.js';

/** A weight of bell-shaped values at scale 0.2 from its own seed, so a branch's weights equal the flat model's. */
const constant = (g: GraphMaker, name: string, dims: number[], seed: number) =>
  g.init(
    name,
    bellFloats(
      dims.reduce((a, b) => a * b, 1),
      seed,
      0.2,
    ),
    dims,
  );

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
function layers(g: GraphMaker, x: Value, w: Weights, prefix: string): Value {
  const h = g.op('Add', [g.op('MatMul', [x, w.w1], { name: `${prefix}fc1` }), w.b1], { name: `${prefix}fc1_bias` });
  const r = g.op('Relu', [h], { name: `${prefix}relu` });
  const q = g.op('MatMul', [r, w.wq], { name: `${prefix}q` });
  const qk = g.op('Add', [q, g.op('MatMul', [r, w.wk], { name: `${prefix}k` })], { name: `${prefix}qk` });
  return g.op('Gemm', [qk, w.wg, w.bg], { name: `${prefix}gemm`, attrs: { transB: 1 } });
}

const X_DIMS = [6, 16];
const Y_DIMS = [6, 8];

/** A branch's weights: W1 and b1 live in the main graph (read by both branches), the rest in the branch. */
function branchWeights(body: GraphMaker, outer: Pick<Weights, 'w1' | 'b1'>, seed: number): Weights {
  return {
    ...outer,
    wq: constant(body, `wq${seed}`, [32, 24], seed),
    wk: constant(body, `wk${seed}`, [32, 24], seed + 1),
    wg: constant(body, `wg${seed}`, [8, 24], seed + 2),
    bg: constant(body, `bg${seed}`, [8], seed + 3),
  };
}

/** The weights both branches read from the main graph. */
const outerWeights = (g: GraphMaker) => ({ w1: constant(g, 'w1', [16, 32], 1), b1: constant(g, 'b1', [32], 2) });

/** A merged-decoder-like model: If(cond) with the same layers in both branches, weights partly shared. */
function ifModel(): Model {
  return buildModel((g) => {
    const x = g.input('x', X_DIMS);
    const cond = g.input('cond', [], DataType.BOOL);
    const outer = outerWeights(g);
    const branch = (name: string, seed: number) => {
      const body = new GraphMaker(new Graph(name, g.graph));
      body.output(layers(body, x, branchWeights(body, outer, seed), `${name}_`), Y_DIMS);
      return body.graph;
    };
    const y = g.op('If', [cond], {
      name: 'y',
      attrs: { then_branch: branch('then', 10), else_branch: branch('else', 20) },
    });
    g.output(y, Y_DIMS);
  });
}

/** The then branch's layers, with the same weights, as a main graph. */
function flatModel(): Model {
  return buildModel((g) => {
    const x = g.input('x', X_DIMS);
    g.output(layers(g, x, branchWeights(g, outerWeights(g), 10), ''), Y_DIMS);
  });
}

const allNodes = (m: Model): Node[] => [...m.graph.allGraphs()].flatMap((g) => g.nodes);
const opTypes = (nodes: readonly Node[]) => nodes.map((n) => n.opType).sort();

/** The model's one output, from onnxruntime with its optimizations on. */
async function run(model: Model, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  return Object.values(await runOrt(model, feeds, 'all'))[0]!.data;
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
    g.outputs.push(new GraphMaker(g).op('Relu', [w1], { name: 'w1_relu' }));
    const result = quantizePass.run(model, { options: {}, log: () => {} });
    expect(result.stats['quantized.MatMul']).toBe(4);
    expect(result.notes!.filter((n) => n.includes("weight 'w1' is also read by"))).toHaveLength(2);
    expect(g.initializers.some((v) => v.name === 'w1')).toBe(true);
  });
});

describe('quantize: Loop bodies', () => {
  it('a MatMul in a Loop body reading an outer weight is quantized and the loop runs', async () => {
    const build = () =>
      buildModel((g) => {
        const x = g.input('x', [4, 16]);
        const trips = g.ints('trips', [3], []);
        const w = constant(g, 'w', [16, 16], 7);
        const body = new GraphMaker(new Graph('body', g.graph));
        body.input('i', [], DataType.INT64);
        const keep = body.input('keep', [], DataType.BOOL);
        const state = body.input('state', [4, 16]);
        const next = body.op('Tanh', [body.op('MatMul', [state, w], { name: 'step' })], { name: 'step_tanh' });
        body.output(body.op('Identity', [keep], { name: 'keep_out' }), [], DataType.BOOL);
        body.output(next, [4, 16]);
        g.output(g.op('Loop', [trips, null, x], { name: 'y', attrs: { body: body.graph } }), [4, 16]);
      });
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
