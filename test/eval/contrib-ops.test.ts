// The evaluator's kernels for onnxruntime's ops that fusions emit (probes evaluate them in front of attention
// sites), each against onnxruntime-node's CPU kernel on one-node models: SimplifiedLayerNormalization,
// SkipSimplifiedLayerNormalization, com.microsoft RotaryEmbedding and ONNX's RotaryEmbedding (opset 23).
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { UnsupportedOp, evaluateNode } from '../../src/eval/index.js';
import { attr, type Attribute } from '../../src/ir/attribute.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { Value, tensorType } from '../../src/ir/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { uniformFloats, withSessions } from '../kit/index.js';
import { fromOrt, toOrt } from './ort-ir.js';

/** Uniform values in [-scale/2, scale/2), from the kit's generator. */
const seeded = (count: number, seed: number, scale = 2) => uniformFloats(count, seed).map((v) => v * scale);

const f32 = (dims: number[], seed: number, scale = 2) =>
  Tensor.fromArray(
    '',
    DataType.FLOAT,
    dims,
    seeded(
      dims.reduce((a, b) => a * b, 1),
      seed,
      scale,
    ),
  );
const i64 = (dims: number[], values: number[]) => Tensor.fromArray('', DataType.INT64, dims, values);

interface Case {
  opType: string;
  domain?: string;
  opset?: number;
  inputs: (Tensor | undefined)[];
  attributes?: Attribute[];
  /** Output slots; absent ones (false) stay unnamed. */
  outputs?: boolean[];
}

/** The node's outputs from the evaluator and from onnxruntime-node, each present output in order. */
async function both(c: Case): Promise<{ ours: Tensor[]; theirs: Tensor[] }> {
  const slots = c.outputs ?? [true];
  const node = {
    opType: c.opType,
    domain: c.domain ?? '',
    attributes: new Map((c.attributes ?? []).map((a) => [a.name, a])),
    outputs: slots.map(() => null),
  };
  const ours = evaluateNode(node, c.inputs, c.opset ?? 17).filter((_, i) => slots[i]);
  const model = new Model();
  model.opsetImports.push({ domain: '', version: c.opset ?? 17 }, { domain: 'com.microsoft', version: 1 });
  const g = model.graph;
  const feeds: Record<string, ort.Tensor> = {};
  const inputs = c.inputs.map((t, i) => {
    if (!t) return null;
    const v = g.addInput(new Value(`in${i}`, tensorType(t.dataType, [...t.dims])));
    feeds[v.name] = toOrt(t);
    return v;
  });
  const outputs = slots.map((present, i) => (present ? g.newValue(`out${i}`) : null));
  g.createNode({
    opType: c.opType,
    domain: c.domain ?? '',
    inputs,
    outputs,
    attributes: c.attributes ?? [],
    name: 'op',
  });
  ours.forEach((t, k) => {
    const v = outputs.filter((o): o is Value => !!o)[k]!;
    v.type = tensorType(t.dataType, [...t.dims]);
    g.outputs.push(v);
  });
  return withSessions([model], 'disabled', async ([session]) => {
    const results = await session!.run(feeds);
    return { ours, theirs: g.outputs.map((o) => fromOrt(results[o.name]!)) };
  });
}

/** Largest difference relative to 1 + |value| over every output; shapes must agree. */
async function worstDifference(c: Case): Promise<number> {
  const { ours, theirs } = await both(c);
  let worst = 0;
  ours.forEach((t, k) => {
    expect(t.dims).toEqual(theirs[k]!.dims);
    const [a, b] = [t.toNumbers(), theirs[k]!.toNumbers()];
    a.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - b[i]!) / (1 + Math.abs(b[i]!)))));
  });
  return worst;
}

/** Half-width cos/sin caches for `positions` positions of a head of `dim` rotated values. */
function caches(positions: number, dim: number): [Tensor, Tensor] {
  const half = dim / 2;
  const angle = (i: number) => Math.floor(i / half) / 10000 ** ((2 * (i % half)) / dim);
  const table = (f: (x: number) => number) =>
    Tensor.fromArray(
      '',
      DataType.FLOAT,
      [positions, half],
      Float32Array.from({ length: positions * half }, (_, i) => f(angle(i))),
    );
  return [table(Math.cos), table(Math.sin)];
}

describe('SimplifiedLayerNormalization', () => {
  it.each([
    ['the last axis', [2, 3, 16], -1, [16]],
    ['axis 1 of a 3-D input', [2, 3, 8], 1, [3, 8]],
  ] as const)('matches onnxruntime over %s, with InvStdVar', async (_, dims, axis, scaleDims) => {
    const c: Case = {
      opType: 'SimplifiedLayerNormalization',
      inputs: [f32([...dims], 1), f32([...scaleDims], 2)],
      attributes: [attr('axis', axis), attr('epsilon', 1e-6)],
      outputs: [true, true],
    };
    expect(await worstDifference(c)).toBeLessThan(1e-6);
  });

  it('refuses a scale not shaped like the normalized dims', () => {
    const node = {
      opType: 'SimplifiedLayerNormalization',
      domain: '',
      attributes: new Map([['axis', attr('axis', 1)]]),
      outputs: [null],
    };
    expect(() => evaluateNode(node, [f32([2, 3, 8], 1), f32([24], 2)], 17)).toThrow(UnsupportedOp);
  });
});

describe('SkipSimplifiedLayerNormalization', () => {
  it.each([
    ['a skip of the same shape', [2, 3, 16]],
    ['a 2-D skip repeated over the batch', [3, 16]],
    ['a (1, S, H) skip', [1, 3, 16]],
  ] as const)('matches onnxruntime with %s, output and the sum', async (_, skipDims) => {
    const c: Case = {
      opType: 'SkipSimplifiedLayerNormalization',
      domain: 'com.microsoft',
      inputs: [f32([2, 3, 16], 3), f32([...skipDims], 4), f32([16], 5)],
      attributes: [attr('epsilon', 1e-5)],
      outputs: [true, false, false, true],
    };
    expect(await worstDifference(c)).toBeLessThan(1e-6);
  });

  it('refuses a bias, which the CPU kernel reads as a beta and ignores', () => {
    const node = {
      opType: 'SkipSimplifiedLayerNormalization',
      domain: 'com.microsoft',
      attributes: new Map(),
      outputs: [null],
    };
    expect(() => evaluateNode(node, [f32([2, 16], 1), f32([2, 16], 2), f32([16], 3), f32([16], 4)], 17)).toThrow(
      UnsupportedOp,
    );
  });
});

describe('RotaryEmbedding', () => {
  const positions = i64([2, 3], [0, 1, 2, 5, 6, 7]);
  const ms = (inputs: (Tensor | undefined)[], attributes: Attribute[] = []): Case => ({
    opType: 'RotaryEmbedding',
    domain: 'com.microsoft',
    inputs,
    attributes,
  });

  it.each([
    ['rotate-half, 4-D', ms([f32([2, 2, 3, 16], 6), positions, ...caches(8, 16)])],
    ['interleaved, 4-D', ms([f32([2, 2, 3, 16], 7), positions, ...caches(8, 16)], [attr('interleaved', 1)])],
    ['rotate-half, 3-D with num_heads', ms([f32([2, 3, 32], 8), positions, ...caches(8, 16)], [attr('num_heads', 2)])],
    ['3-D, heads from the caches', ms([f32([2, 3, 32], 9), positions, ...caches(8, 16)])],
    [
      'partial rotary (8 of 16)',
      ms([f32([2, 2, 3, 16], 10), positions, ...caches(8, 8)], [attr('rotary_embedding_dim', 8), attr('num_heads', 2)]),
    ],
    ['one start position', ms([f32([2, 2, 3, 16], 11), i64([1], [4]), ...caches(8, 16)])],
  ])('com.microsoft, %s, matches onnxruntime', async (_, c) => {
    expect(await worstDifference(c)).toBeLessThan(1e-6);
  });

  it.each([
    ['rotate-half, 4-D', [attr('interleaved', 0)]],
    ['interleaved, 4-D', [attr('interleaved', 1)]],
  ])('ONNX opset 23, %s, matches onnxruntime', async (_, attributes) => {
    const [cos, sin] = caches(8, 16);
    const c: Case = {
      opType: 'RotaryEmbedding',
      opset: 23,
      inputs: [f32([2, 2, 3, 16], 12), cos, sin, positions],
      attributes,
    };
    expect(await worstDifference(c)).toBeLessThan(1e-6);
  });

  it('refuses positions past the caches and the opset-23 form before opset 23', () => {
    const node = { opType: 'RotaryEmbedding', domain: 'com.microsoft', attributes: new Map(), outputs: [null] };
    expect(() => evaluateNode(node, [f32([1, 1, 2, 16], 1), i64([1, 2], [3, 8]), ...caches(8, 16)], 17)).toThrow(
      /outside the caches/,
    );
    const [cos, sin] = caches(8, 16);
    expect(() =>
      evaluateNode({ ...node, domain: '' }, [f32([1, 1, 2, 16], 1), cos, sin, i64([1, 2], [0, 1])], 22),
    ).toThrow(UnsupportedOp);
  });
});
