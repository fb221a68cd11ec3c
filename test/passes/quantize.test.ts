import { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { fusePass } from '../../passes/fuse.js';
import { passOptionFlags } from '../../src/cli/commands/pipeline.js';
import { quantizePass } from '../../passes/quantize.js';
import { OnnxOptError } from '../../src/errors.js';
import { readModel } from '../../src/io/read.js';
import type { Model } from '../../src/ir/index.js';
import type { PassResult } from '../../src/pipeline.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DataType } from '../../src/tensor/dtype.js';
import { quantizeWeight } from '../../src/tensor/quantize.js';
import {
  bellFloats,
  copyModel,
  errorOf,
  expectDeterministic,
  modelMaker,
  npzFeeds,
  runOrt,
  type AttrValue,
  type OutputError,
} from '../kit/index.js';

// ---- helpers ----

/** A model maker whose weights are bell-shaped at scale 0.2, as trained ones. */
const maker = (opset = 17) => modelMaker(opset, { scale: 0.2 });

function quantize(model: Model, options: Record<string, unknown> = {}, log: string[] = []): PassResult {
  return quantizePass.run(model, { options, log: (m) => log.push(m) });
}

const count = (m: Model, opType: string) => m.graph.nodes.filter((n) => n.opType === opType).length;
const initializer = (m: Model, name: string) => m.graph.initializers.find((v) => v.name === name)?.initializer;

type Feeds = Record<string, ort.Tensor>;
const floatFeed = (dims: number[], seed: number): ort.Tensor =>
  new ort.Tensor(
    'float32',
    bellFloats(
      dims.reduce((a, b) => a * b, 1),
      seed,
    ),
    dims,
  );

const peak = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** The quantized model stays close to the float one: cosine >= 0.999 and a small error relative to the outputs. */
async function expectParity(float: Model, quantized: Model, feeds: Feeds, relativeMax = 0.05): Promise<OutputError[]> {
  const [expected, actual] = [await runOrt(float, feeds, 'all'), await runOrt(quantized, feeds, 'all')];
  expect(Object.keys(actual)).toEqual(Object.keys(expected));
  return Object.keys(expected).map((name) => {
    const e = errorOf(expected[name]!.data, actual[name]!.data);
    expect(e.cosine, name).toBeGreaterThanOrEqual(0.999);
    expect(e.maxAbs, name).toBeLessThanOrEqual(relativeMax * peak(expected[name]!.data));
    return e;
  });
}

// ---- small models ----

/** x -> MatMul W1 + b1 -> Relu -> two MatMuls (Wq, Wk) reading the same value -> Add -> y */
function mlp(opset = 17): Model {
  const g = maker(opset);
  const x = g.input('x', [2, 3, 16]);
  const h = g.op('MatMul', [x, g.weight('W1', [16, 32])], { name: 'fc1' });
  const r = g.op('Relu', [g.op('Add', [h, g.weight('b1', [32])], { name: 'fc1_bias' })], { name: 'relu' });
  const q = g.op('MatMul', [r, g.weight('Wq', [32, 24])], { name: 'q' });
  const k = g.op('MatMul', [r, g.weight('Wk', [32, 24])], { name: 'k' });
  g.output(g.op('Add', [q, k], { name: 'y' }), null);
  return g.model;
}
const mlpFeeds = (): Feeds => ({ x: floatFeed([2, 3, 16], 99) });

describe('quantize: MatMul', () => {
  it('makes DynamicQuantizeMatMul for a lone reader, MatMulIntegerToFloat behind one shared DynamicQuantizeLinear', async () => {
    const float = mlp();
    const model = copyModel(float);
    const result = quantize(model);
    expect(result.changed).toBe(true);
    expect(result.stats).toMatchObject({ quantizedNodes: 3, 'quantized.MatMul': 3, skipped: 0 });
    expect([
      count(model, 'DynamicQuantizeMatMul'),
      count(model, 'MatMulIntegerToFloat'),
      count(model, 'DynamicQuantizeLinear'),
    ]).toEqual([1, 2, 1]);
    expect(count(model, 'MatMul')).toBe(0);
    // The bias Add folded into DynamicQuantizeMatMul; only the final Add is left.
    expect(count(model, 'Add')).toBe(1);
    expect(model.opsetVersion('com.microsoft')).toBe(1);
    // The float weights are gone; 8-bit copies (and the bias) are all that is left.
    expect(model.graph.initializers.map((v) => v.name).sort()).toEqual(
      ['W1', 'Wk', 'Wq']
        .flatMap((w) => [`${w}_quantized`, `${w}_scale`, `${w}_zero_point`])
        .concat('b1')
        .sort(),
    );
    expect(result.stats.weightBytesBefore).toBe((16 * 32 + 32 + 2 * 32 * 24) * 4);
    expect(result.stats.weightBytesAfter).toBe(16 * 32 + 32 * 4 + 2 * 32 * 24 + (32 + 24 + 24) * 5);
    await expectParity(float, model, mlpFeeds());
  });

  it('stores the weights, scales and zero points the math module computes', () => {
    const float = mlp();
    const model = copyModel(float);
    quantize(model);
    const w1 = initializer(float, 'W1')!;
    const expected = quantizeWeight(w1.toFloat32(), w1.dims, { type: 'int8', reduceRange: true, axis: 1 });
    const q = initializer(model, 'W1_quantized')!;
    expect([q.dataType, q.dims]).toEqual([DataType.INT8, [16, 32]]);
    expect(q.toNumbers()).toEqual(Array.from(expected.data));
    expect(initializer(model, 'W1_scale')!.toNumbers()).toEqual(Array.from(expected.scales));
    expect(initializer(model, 'W1_zero_point')!.dims).toEqual([32]);
    expect(initializer(model, 'W1_zero_point')!.toNumbers()).toEqual(new Array(32).fill(0));
  });

  it('emits the MatMulInteger graph with --quant-format integer, computing what the fused ops compute', async () => {
    const fused = copyModel(mlp());
    const integer = copyModel(fused);
    quantize(fused);
    quantize(integer, { quantFormat: 'integer' });
    expect([count(integer, 'MatMulInteger'), count(integer, 'DynamicQuantizeLinear'), count(integer, 'Cast')]).toEqual([
      3, 2, 3,
    ]);
    expect(count(integer, 'DynamicQuantizeMatMul') + count(integer, 'MatMulIntegerToFloat')).toBe(0);
    const feeds = mlpFeeds();
    const a = (await runOrt(fused, feeds, 'all')).y!.data;
    const b = (await runOrt(integer, feeds)).y!.data;
    expect(errorOf(a, b).maxAbs).toBeLessThanOrEqual(1e-5 * peak(a));
  });

  it('keeps a graph output name when the quantized node produces it', async () => {
    const g = maker();
    g.output(g.op('MatMul', [g.input('x', [3, 8]), g.weight('W', [8, 5])], { name: 'y' }), null);
    const model = copyModel(g.model);
    quantize(model);
    expect(model.graph.outputs.map((v) => v.name)).toEqual(['y']);
    expect(model.graph.outputs[0]!.producer?.opType).toBe('DynamicQuantizeMatMul');
    await expectParity(g.model, model, { x: floatFeed([3, 8], 5) });
  });
});

describe('quantize: bias folding', () => {
  /** x -> MatMul W -> Add bias (of `biasDims`) -> y, with a second MatMul reading x when `shared`, and the product also an output when `productOut`. */
  function biased(options: { biasDims?: readonly number[]; shared?: boolean; productOut?: boolean } = {}): Model {
    const g = maker();
    const x = g.input('x', [2, 8]);
    const h = g.op('MatMul', [x, g.weight('W', [8, 6])], { name: 'mm' });
    g.output(g.op('Add', [g.weight('bias', [...(options.biasDims ?? [6])]), h], { name: 'add' }), null);
    if (options.shared)
      g.output(
        g.op('Add', [g.op('MatMul', [x, g.weight('W2', [8, 6])], { name: 'mm2' }), g.weight('bias2', [6])], {
          name: 'add2',
        }),
        null,
      );
    if (options.productOut) g.output(h, null);
    return g.model;
  }
  const feeds = (): Feeds => ({ x: floatFeed([2, 8], 5) });

  it.each([
    ['DynamicQuantizeMatMul', false, 4],
    ['MatMulIntegerToFloat', true, 6],
  ] as const)('folds Add(bias, MatMul) into %s as its bias input', async (opType, shared, biasIndex) => {
    const float = biased({ shared });
    const model = copyModel(float);
    const result = quantize(model);
    expect(count(model, 'Add')).toBe(0);
    expect(result.stats.biasesFolded).toBe(shared ? 2 : 1);
    const fused = model.graph.nodes.filter((n) => n.opType === opType);
    expect(fused.map((n) => n.inputs[biasIndex]?.name)).toEqual(shared ? ['bias', 'bias2'] : ['bias']);
    expect(model.graph.outputs.map((v) => v.name)).toEqual(float.graph.outputs.map((v) => v.name));
    await expectParity(float, model, feeds());
  });

  it.each([
    ['the product is read elsewhere', { productOut: true }, "intermediate 'mm' is a graph output"],
    ['the bias is not a vector of N', { biasDims: [2, 6] }, 'expected 1-D of length 6'],
  ] as const)('leaves the Add when %s, and says why with --explain', async (_, options, why) => {
    const float = biased(options);
    const model = copyModel(float);
    const result = quantize(model, { explain: true });
    expect(count(model, 'Add')).toBe(1);
    expect(result.stats.biasesFolded).toBeUndefined();
    expect(result.notes?.filter((n) => n.includes('DynamicQuantizeMatMul bias at '))).toEqual([
      expect.stringContaining(why),
    ]);
    await expectParity(float, model, feeds());
  });

  it('leaves the Add to onnxruntime in the integer format', () => {
    const model = copyModel(biased());
    quantize(model, { quantFormat: 'integer' });
    expect([count(model, 'MatMulInteger'), count(model, 'Add')]).toEqual([1, 1]);
  });
});

describe('quantize: Gemm', () => {
  /** Gemm transB with a bias vector -> Relu -> Gemm with beta and C (1, N) -> Gemm with a full C (M, N). */
  function gemms(): Model {
    const g = maker();
    const x = g.input('x', [4, 16]);
    const g1 = g.op('Gemm', [x, g.weight('B1', [32, 16]), g.weight('C1', [32])], { name: 'g1', attrs: { transB: 1 } });
    const g2 = g.op('Gemm', [g.op('Relu', [g1], { name: 'relu' }), g.weight('B2', [32, 8]), g.weight('C2', [1, 8])], {
      name: 'g2',
      attrs: { beta: 0.5 },
    });
    g.output(g.op('Gemm', [g2, g.weight('B3', [8, 8]), g.weight('C3', [4, 8])], { name: 'g3' }), null);
    return g.model;
  }

  it('handles transB, beta and every form of C', async () => {
    const float = gemms();
    const model = copyModel(float);
    expect(quantize(model).stats).toMatchObject({ quantizedNodes: 3, 'quantized.Gemm': 3 });
    expect(count(model, 'Gemm')).toBe(0);
    expect(count(model, 'DynamicQuantizeMatMul')).toBe(3);
    // Only the (M, N) C needs an Add; C1 is the bias as it is, C2 becomes 0.5 * C2 as a vector.
    expect(count(model, 'Add')).toBe(1);
    const dqmm = model.graph.nodes.filter((n) => n.opType === 'DynamicQuantizeMatMul');
    expect(dqmm[0]!.inputs[4]?.name).toBe('C1');
    const c2 = initializer(float, 'C2')!.toFloat32();
    expect(Array.from(dqmm[1]!.inputs[4]!.constantTensor()!.toFloat32())).toEqual(
      Array.from(c2, (v) => Math.fround(v * 0.5)),
    );
    expect(initializer(model, 'C2')).toBeUndefined();
    await expectParity(float, model, { x: floatFeed([4, 16], 7) });
  });

  it('quantizes a transB weight per output column of its transpose', () => {
    const float = gemms();
    const model = copyModel(float);
    quantize(model);
    const b1 = initializer(float, 'B1')!.toFloat32();
    const transposed = Float32Array.from({ length: b1.length }, (_, i) => b1[(i % 32) * 16 + Math.floor(i / 32)]!);
    const expected = quantizeWeight(transposed, [16, 32], { type: 'int8', reduceRange: true, axis: 1 });
    const q = initializer(model, 'B1_quantized')!;
    expect(q.dims).toEqual([16, 32]);
    expect(q.toNumbers()).toEqual(Array.from(expected.data));
    expect(initializer(model, 'B1_scale')!.toNumbers()).toEqual(Array.from(expected.scales));
  });

  it('leaves a Gemm with transA or alpha alone and says why', () => {
    const g = maker();
    const x = g.input('x', [16, 4]);
    g.output(g.op('Gemm', [x, g.weight('B', [16, 8])], { name: 'ta', attrs: { transA: 1 } }), null);
    g.output(
      g.op('Gemm', [g.input('z', [4, 16]), g.weight('B2', [16, 8])], { name: 'al', attrs: { alpha: 2.0 } }),
      null,
    );
    const result = quantize(g.model);
    expect(result.changed).toBe(false);
    expect(result.notes).toEqual([
      "quantize-nodes: 'ta' (Gemm): transA is set",
      "quantize-nodes: 'al' (Gemm): alpha is not 1",
    ]);
  });
});

describe('quantize: Attention', () => {
  const D = 16,
    S = 5;

  function attention(
    attrs: Record<string, AttrValue>,
    withMask: boolean,
    bias: 'random' | 'zero' | 'none' = 'random',
  ): Model {
    const g = maker();
    const x = g.input('input', [2, S, D]);
    const mask = withMask ? g.input('mask_index', [2], DataType.INT32) : null;
    const weight = g.weight('qkv_weight', [D, 3 * D], 0.3);
    const biasValue =
      bias === 'random' ? g.weight('qkv_bias', [3 * D]) : bias === 'zero' ? g.zeros('qkv_bias', [3 * D]) : null;
    const out = g.op('Attention', [x, weight, biasValue, mask], {
      name: 'attention',
      attrs: { num_heads: 4, ...attrs },
      domain: 'com.microsoft',
    });
    g.output(out, null);
    return g.model;
  }
  const feeds = (): Feeds => ({
    input: floatFeed([2, S, D], 11),
    mask_index: new ort.Tensor('int32', Int32Array.from([5, 3]), [2]),
  });

  it('becomes QAttention with its input quantized by DynamicQuantizeLinear', async () => {
    const float = attention({}, true);
    const model = copyModel(float);
    expect(quantize(model).stats).toMatchObject({ 'quantized.Attention': 1 });
    const q = model.graph.nodes.find((n) => n.opType === 'QAttention')!;
    expect(q.domain).toBe('com.microsoft');
    expect(q.inputs.map((v) => v?.name)).toEqual([
      'input_quantized',
      'qkv_weight_quantized',
      'qkv_bias',
      'input_scale',
      'qkv_weight_scale',
      'mask_index',
      'input_zero_point',
      'qkv_weight_zero_point',
    ]);
    expect(initializer(model, 'qkv_weight_scale')!.dims).toEqual([3 * D]);
    expect(count(model, 'DynamicQuantizeLinear')).toBe(1);
    await expectParity(float, model, feeds());
  });

  it('keeps unidirectional and scale', async () => {
    const float = attention({ unidirectional: 1, scale: 0.3 }, false);
    const model = copyModel(float);
    quantize(model);
    const q = model.graph.nodes.find((n) => n.opType === 'QAttention')!;
    expect([q.attrInt('unidirectional'), q.attrFloat('scale')]).toEqual([1, Math.fround(0.3)]);
    await expectParity(float, model, feeds());
  });

  it('gives QAttention a zero bias when Attention has none', async () => {
    const model = attention({}, true, 'none');
    quantize(model);
    const q = model.graph.nodes.find((n) => n.opType === 'QAttention')!;
    expect(Array.from(q.inputs[2]!.constantTensor()!.toFloat32())).toEqual(new Array(3 * D).fill(0));
    await expectParity(attention({}, true, 'zero'), model, feeds());
  });

  it('leaves an Attention with qkv_hidden_sizes float', () => {
    const model = attention({ qkv_hidden_sizes: [D, D, D] }, true);
    const result = quantize(model);
    expect(result.changed).toBe(false);
    expect(result.notes![0]).toMatch(/qkv_hidden_sizes/);
  });
});

describe('quantize: Conv', () => {
  function convs(): Model {
    const g = maker();
    const x = g.input('x', [1, 3, 9, 9]);
    const c1 = g.op('Conv', [x, g.weight('W1', [6, 3, 3, 3]), g.weight('bias1', [6])], {
      name: 'conv1',
      attrs: { pads: [1, 1, 1, 1] },
    });
    const grouped = { strides: [2, 2], group: 2 };
    g.output(
      g.op('Conv', [g.op('Relu', [c1], { name: 'relu' }), g.weight('W2', [4, 3, 1, 1])], {
        name: 'conv2',
        attrs: grouped,
      }),
      null,
    );
    return g.model;
  }
  const feeds = (): Feeds => ({ x: floatFeed([1, 3, 9, 9], 3) });

  it('becomes ConvInteger with int8 weights per output channel', async () => {
    const float = convs();
    const model = copyModel(float);
    expect(quantize(model).stats).toMatchObject({ 'quantized.Conv': 2 });
    expect([count(model, 'ConvInteger'), count(model, 'Conv'), count(model, 'DynamicQuantizeLinear')]).toEqual([
      2, 0, 2,
    ]);
    expect(initializer(model, 'W1_scale')!.dims).toEqual([6, 1, 1]);
    expect(initializer(model, 'W1_zero_point')!.dims).toEqual([]);
    const [first, second] = model.graph.nodes.filter((n) => n.opType === 'ConvInteger');
    expect([first!.attrInts('pads'), second!.attrInt('group')]).toEqual([[1, 1, 1, 1], 2]);
    expect(initializer(model, 'bias1')).toBeUndefined();
    await expectParity(float, model, feeds());
  });

  it('quantizes uint8 Conv weights per tensor (ConvInteger takes one zero point)', async () => {
    const float = convs();
    const model = copyModel(float);
    quantize(model, { weightType: 'uint8' });
    const q = initializer(model, 'W1_quantized')!;
    expect(q.dataType).toBe(DataType.UINT8);
    expect(initializer(model, 'W1_scale')!.dims).toEqual([]);
    await expectParity(float, model, feeds());
  });
});

describe('quantize: Gather', () => {
  function embedding(): Model {
    const g = maker();
    const e = g.op('Gather', [g.weight('table', [40, 16], 1), g.input('ids', [2, 4], DataType.INT64)], {
      name: 'embed',
    });
    g.output(g.op('MatMul', [e, g.weight('W', [16, 8])], { name: 'y' }), null);
    return g.model;
  }
  const feeds = (): Feeds => ({
    ids: new ort.Tensor('int64', BigInt64Array.from([0n, 5n, 39n, 7n, 7n, 1n, 2n, 20n]), [2, 4]),
  });

  it('leaves tables float unless Gather is asked for', () => {
    const model = embedding();
    quantize(model);
    expect(initializer(model, 'table')?.dataType).toBe(DataType.FLOAT);
  });

  it('turns a table into uint8 (per tensor, asymmetric) + DequantizeLinear', async () => {
    const float = embedding();
    const model = copyModel(float);
    expect(quantize(model, { ops: 'Gather,MatMul' }).stats).toMatchObject({
      'quantized.Gather': 1,
      'quantized.MatMul': 1,
    });
    const table = initializer(float, 'table')!;
    const expected = quantizeWeight(table.toFloat32(), table.dims, { type: 'uint8', reduceRange: false });
    expect(initializer(model, 'table_quantized')!.toNumbers()).toEqual(Array.from(expected.data));
    expect(initializer(model, 'table_scale')!.toNumbers()).toEqual(Array.from(expected.scales));
    expect(initializer(model, 'table_zero_point')!.toNumbers()).toEqual(Array.from(expected.zeroPoints));
    expect(count(model, 'DequantizeLinear')).toBe(1);
    await expectParity(float, model, feeds());
  });
});

describe('quantize: shared weights', () => {
  it('leaves a weight float when another node reads it, and quantizes a weight two MatMuls share once', async () => {
    const g = maker();
    const x = g.input('x', [2, 8]);
    const w = g.weight('W', [8, 8]);
    const y1 = g.op('MatMul', [x, w], { name: 'reads_W' });
    g.output(g.op('Transpose', [w], { name: 'transposes_W' }), null);
    const shared = g.weight('S', [8, 8]);
    g.output(g.op('MatMul', [g.op('MatMul', [y1, shared], { name: 'first_S' }), shared], { name: 'second_S' }), null);
    const model = copyModel(g.model);
    const result = quantize(model);
    expect(result.notes).toEqual([
      `quantize-nodes: 'reads_W' (MatMul): weight 'W' is also read by 'transposes_W' (Transpose), which stays float`,
    ]);
    expect(result.stats).toMatchObject({ quantizedNodes: 2, skipped: 1 });
    expect(initializer(model, 'W')?.dataType).toBe(DataType.FLOAT);
    expect(model.graph.initializers.filter((v) => v.name.startsWith('S')).map((v) => v.name)).toEqual([
      'S_quantized',
      'S_scale',
      'S_zero_point',
    ]);
    await expectParity(g.model, model, { x: floatFeed([2, 8], 4) });
  });
});

describe('quantize: options', () => {
  it('leaves a weight that is also a graph output float', () => {
    const g = maker();
    const w = g.weight('W', [4, 4]);
    g.output(g.op('MatMul', [g.input('x', [2, 4]), w], { name: 'y' }), null);
    g.output(w, null);
    const result = quantize(g.model);
    expect(result.notes).toEqual(["quantize-nodes: 'y' (MatMul): weight 'W' is a graph input or output"]);
  });

  it('--no-per-channel gives one scale per weight', () => {
    const model = mlp();
    quantize(model, { perChannel: false });
    expect(initializer(model, 'W1_scale')!.dims).toEqual([]);
    expect(initializer(model, 'W1_zero_point')!.dims).toEqual([]);
  });

  it('--no-reduce-range uses the full [-127, 127]', () => {
    const model = mlp();
    quantize(model, { reduceRange: false });
    const q = initializer(model, 'Wq_quantized')!.typed() as Int8Array;
    expect(q.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBe(127);
  });

  it('--weight-type uint8 gives asymmetric uint8 weights', async () => {
    const float = mlp();
    const model = copyModel(float);
    quantize(model, { weightType: 'uint8' });
    expect(initializer(model, 'W1_quantized')!.dataType).toBe(DataType.UINT8);
    const zeroPoints = initializer(model, 'W1_zero_point')!.toNumbers();
    expect(zeroPoints.some((z) => z !== zeroPoints[0])).toBe(true);
    await expectParity(float, model, mlpFeeds());
  });

  it('--exclude, --ops and --min-weight-size choose the nodes', () => {
    const excluded = mlp();
    quantize(excluded, { exclude: 'q' });
    expect(excluded.graph.nodes.filter((n) => n.opType === 'MatMul').map((n) => n.name)).toEqual(['q']);
    // With q float, k is the only quantized reader of its input.
    expect(count(excluded, 'MatMulIntegerToFloat')).toBe(0);
    expect(quantize(mlp(), { ops: ['Gemm'] }).stats.quantizedNodes).toBe(0);
    const small = mlp();
    const result = quantize(small, { minWeightSize: '600' });
    expect(result.stats.quantizedNodes).toBe(2);
    expect(result.notes).toEqual([
      "quantize-nodes: 'fc1' (MatMul): weight 'W1' has 512 elements, fewer than --min-weight-size",
    ]);
  });

  it('reads its settings from the command-line flags it declares', () => {
    const program = new Command().exitOverride();
    for (const option of passOptionFlags([quantizePass])) program.addOption(option);
    const flags = [
      '--no-per-channel',
      '--no-reduce-range',
      '--weight-type',
      'uint8',
      '--exclude',
      'q,k',
      '--min-weight-size',
      '10',
      '--quant-format',
      'integer',
    ];
    const options = program.parse(flags, { from: 'user' }).opts();
    const model = mlp();
    expect(quantize(model, options).stats.quantizedNodes).toBe(1);
    expect(initializer(model, 'W1_quantized')!.dataType).toBe(DataType.UINT8);
    expect(initializer(model, 'W1_scale')!.dims).toEqual([]);
    expect(count(model, 'MatMulInteger')).toBe(1);
    // the CLI gives only what the user typed; the pass model applies the declared defaults
    expect(program.parse([], { from: 'user' }).opts()).toEqual({});
    expect(quantizePass.settings({})).toMatchObject({
      perChannel: true,
      reduceRange: true,
      weightType: 'int8',
      ops: ['MatMul', 'Gemm', 'Attention', 'Conv', 'EmbedLayerNormalization'],
      quantFormat: 'fused',
      keepSkipLayerNorm: false,
    });
  });

  it('refuses unknown settings', () => {
    for (const options of [
      { ops: 'MatMul,Relu' },
      { weightType: 'int4' },
      { minWeightSize: '-1' },
      { quantFormat: 'qdq' },
    ]) {
      expect(() => quantize(mlp(), options)).toThrow(OnnxOptError);
    }
  });
});

describe('quantize: nothing to do, already done', () => {
  it('leaves a model with nothing to quantize unchanged and says so', () => {
    const g = maker();
    const x = g.input('x', [2, 4]);
    g.output(g.op('MatMul', [g.op('Relu', [x], { name: 'relu' }), g.input('w', [4, 4])], { name: 'y' }), null);
    const before = encodeModel(g.model);
    const log: string[] = [];
    const result = quantize(g.model, {}, log);
    expect(result).toMatchObject({ changed: false, stats: { quantizedNodes: 0, skipped: 1 } });
    expect(log).toEqual(['quantize: nothing to quantize']);
    expect(encodeModel(g.model)).toEqual(before);
  });

  it('refuses an already quantized model, its own output included', () => {
    const model = mlp();
    quantize(model);
    expect(() => quantize(model)).toThrow(OnnxOptError);
    expect(() => quantize(model)).toThrow(/already quantized/);
    const g = maker();
    const q = g.node('DynamicQuantizeLinear', [g.input('x', [4])], { name: 'dql', outputs: 3 });
    g.output(q.output(0), null);
    expect(() => quantize(g.model)).toThrow(/already quantized \(it has DynamicQuantizeLinear node 'dql'\)/);
  });

  it('is deterministic', () => expectDeterministic(quantizePass, mlp));

  it('refuses opsets before DynamicQuantizeLinear', () => {
    expect(() => quantize(mlp(10))).toThrow(/opset 11/);
  });
});

// ---- fixtures: same numbers as onnxruntime's quantizer, errors no worse than its INT8 reference ----

const FIXTURES = 'fixtures/';
const MANIFEST = `${FIXTURES}manifest.json`;
interface ManifestFile {
  kind?: string;
  quantized_from?: string;
}
const manifestFiles: Record<string, ManifestFile> = existsSync(MANIFEST)
  ? JSON.parse(readFileSync(MANIFEST, 'utf8')).files
  : {};
/** Each onnxruntime INT8 reference and the float model it was made from. */
const references = Object.entries(manifestFiles)
  .filter(([, f]) => f.quantized_from)
  .map(([name, f]) => ({ name, source: f.quantized_from! }));

/** Ops that read a weight quantized for a MatMul. */
const MATMUL_READERS = new Set(['MatMulInteger', 'MatMulIntegerToFloat', 'DynamicQuantizeMatMul']);

/**
 * Compares our `<w>_quantized`, `<w>_scale` and `<w>_zero_point` with onnxruntime's for every weight it quantized for
 * one of `readers`; returns how many weights were compared and the initializers that differ.
 */
function compareQuantizedWeights(
  ours: Model,
  reference: Model,
  readers: ReadonlySet<string>,
): { compared: number; mismatches: string[] } {
  const mine = new Map(ours.graph.initializers.map((v) => [v.name, v.initializer!]));
  const theirs = new Map(reference.graph.initializers.map((v) => [v.name, v.initializer!]));
  const mismatches: string[] = [];
  let compared = 0;
  for (const v of reference.graph.initializers) {
    if (!v.name.endsWith('_quantized') || !v.uses.some((u) => readers.has(u.node.opType))) continue;
    const weight = v.name.slice(0, -'_quantized'.length);
    compared++;
    for (const name of ['_quantized', '_scale', '_zero_point'].map((suffix) => weight + suffix)) {
      const [a, b] = [mine.get(name), theirs.get(name)!];
      const same =
        a &&
        a.dataType === b.dataType &&
        a.dims.join() === b.dims.join() &&
        Buffer.from(a.bytes()).equals(Buffer.from(b.bytes()));
      if (!same) mismatches.push(name);
    }
  }
  return { compared, mismatches };
}

/**
 * Our INT8 model's error against the float outputs stays within 1.5x of onnxruntime's INT8 reference's (max and RMS),
 * with cosine ≥ 0.99; returns one "ours vs theirs" line per output.
 */
async function expectErrorWithinReference(
  model: Model,
  reference: string,
  feeds: Feeds,
  expected: Feeds,
): Promise<string[]> {
  const [mine, theirs] = [
    await runOrt(model, feeds, 'all'),
    await runOrt(readFileSync(FIXTURES + reference), feeds, 'all'),
  ];
  return Object.keys(expected).map((output) => {
    const want = expected[output]!.data as Float32Array;
    const [a, b] = [errorOf(want, mine[output]!.data), errorOf(want, theirs[output]!.data)];
    expect(a.cosine, output).toBeGreaterThanOrEqual(0.99);
    expect(a.maxAbs, output).toBeLessThanOrEqual(1.5 * b.maxAbs);
    expect(a.rms, output).toBeLessThanOrEqual(1.5 * b.rms);
    return `${a.maxAbs.toFixed(4)} vs ${b.maxAbs.toFixed(4)} (cosine ${a.cosine.toFixed(5)})`;
  });
}

const summary: string[] = [];
afterAll(() => {
  if (summary.length)
    console.log(
      [
        "fixture: quantized (ours), MatMul weights equal to onnxruntime's, max|err| ours vs onnxruntime's INT8",
        ...summary,
      ].join('\n'),
    );
});

describe('quantize: fixtures', () => {
  it('has the fixture manifest and every file it lists', () => {
    expect(existsSync(MANIFEST), `${MANIFEST} is missing: run fixtures/export_models.py`).toBe(true);
    expect(references.length).toBeGreaterThan(0);
    for (const name of Object.keys(manifestFiles)) expect(existsSync(FIXTURES + name), name).toBe(true);
  });

  for (const { name, source } of references) {
    it(`${source}: MatMul weights, scales and zero points equal ${name}'s; error within 1.5x of it`, async () => {
      const model = readModel(FIXTURES + source);
      const reference = readModel(FIXTURES + name);
      const result = quantize(model);
      const { compared, mismatches } = compareQuantizedWeights(model, reference, MATMUL_READERS);
      expect(mismatches).toEqual([]);
      expect(compared).toBeGreaterThan(0);

      const base = source.replace(/(\.ort)?\.onnx$/, '');
      const digits = base === 'digits';
      const feeds = npzFeeds(`${FIXTURES}${digits ? 'digits.test' : `${base}.inputs`}.npz`);
      const expected = npzFeeds(`${FIXTURES}${base}.expected.npz`);
      const errors = await expectErrorWithinReference(model, name, feeds, expected);
      summary.push(
        `${name.padEnd(40)} ${String(result.stats.quantizedNodes).padStart(3)}  ${compared} of ${compared}  ${errors.join(', ')}`,
      );
    });
  }

  // `fuse quantize` goes further than onnxruntime's quantizer (QAttention, QEmbedLayerNormalization, packed qkv),
  // and must still stay within 1.5x of the error onnxruntime's INT8 of the same export makes.
  for (const { name, source } of references.filter((r) => !r.source.includes('.ort.') && r.source !== 'digits.onnx')) {
    it(`${source}: fuse quantize stays within 1.5x of ${name}'s error`, async () => {
      const model = readModel(FIXTURES + source);
      fusePass.run(model, { options: {}, log: () => {} });
      quantize(model);
      const base = source.replace(/\.onnx$/, '');
      const feeds = npzFeeds(`${FIXTURES}${base}.inputs.npz`);
      const expected = npzFeeds(`${FIXTURES}${base}.expected.npz`);
      const errors = await expectErrorWithinReference(model, name, feeds, expected);
      summary.push(`fuse quantize ${source.padEnd(27)} ${errors.join(', ')}`);
    });
  }

  it("quantizes Gather tables, and Conv weights per tensor, to onnxruntime's numbers too", () => {
    let compared = 0;
    for (const { name, source } of references) {
      const model = readModel(FIXTURES + source);
      quantize(model, { ops: 'Gather,Conv', perChannel: false });
      const result = compareQuantizedWeights(model, readModel(FIXTURES + name), new Set(['Gather', 'ConvInteger']));
      expect(result.mismatches, name).toEqual([]);
      compared += result.compared;
    }
    summary.push(`Gather tables and Conv weights equal to onnxruntime's: ${compared} of ${compared}`);
    expect(compared).toBeGreaterThan(0);
  });

  it('digits classifier loses at most 0.5 accuracy points', async () => {
    const test = npzFeeds(`${FIXTURES}digits.test.npz`);
    const labels = test.labels!.data as BigInt64Array;
    const feeds = { pixel_values: test.pixel_values! };
    const accuracy = (logits: Float32Array) => {
      let right = 0;
      labels.forEach((label, i) => {
        const row = logits.subarray(i * 10, i * 10 + 10);
        if (row.indexOf(Math.max(...row)) === Number(label)) right++;
      });
      return right / labels.length;
    };
    const float = readModel(`${FIXTURES}digits.onnx`);
    const model = copyModel(float);
    quantize(model);
    const [before, after] = [
      accuracy((await runOrt(float, feeds, 'all')).logits!.data),
      accuracy((await runOrt(model, feeds, 'all')).logits!.data),
    ];
    summary.push(`digits accuracy: fp32 ${before.toFixed(4)}, ours INT8 ${after.toFixed(4)}`);
    expect(after).toBeGreaterThanOrEqual(before - 0.005);
  });
});
