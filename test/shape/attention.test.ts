// Symbolic dims through a BERT-style self-attention block, and what the driver does with what it finds.

import { describe, expect, test } from 'vitest';
import { Value } from '../../src/ir/graph.js';
import { tensorType } from '../../src/ir/types.js';
import { encodeModel } from '../../src/serde/encode.js';
import { inferShapes } from '../../src/shape/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { modelMaker } from '../kit/index.js';
import { dims, elemType } from './build.js';

/** One attention layer the way the TorchScript exporter writes it (opset 13 forms unless `opset` < 13). */
function attentionBlock(opset = 14) {
  const b = modelMaker(opset);
  const x = b.input('x', ['batch', 'sequence', 64]);
  const mask = b.input('attention_mask', ['batch', 'sequence'], DataType.INT64);
  const unsqueeze = (v: Value, axes: number[]) =>
    opset < 13 ? b.op('Unsqueeze', [v], { attrs: { axes } }) : b.op('Unsqueeze', [v, b.ints('axes', axes)]);
  const project = (name: string) =>
    b.op('Add', [b.op('MatMul', [x, b.zeros(`W${name}`, [64, 64])]), b.zeros(`b${name}`, [64])]);
  const shape = b.op('Shape', [x]);
  const batch = unsqueeze(b.op('Gather', [shape, b.ints('zero', [0], [])], { attrs: { axis: 0 } }), [0]);
  const sequence = unsqueeze(b.op('Gather', [shape, b.ints('one', [1], [])], { attrs: { axis: 0 } }), [0]);
  const headsShape = b.op('Concat', [batch, sequence, b.ints('heads', [4]), b.ints('head_size', [16])], {
    attrs: { axis: 0 },
  });
  const split = (v: Value) => b.op('Reshape', [v, headsShape]);
  const q = b.op('Transpose', [split(project('q'))], { attrs: { perm: [0, 2, 1, 3] } });
  const kT = b.op('Transpose', [split(project('k'))], { attrs: { perm: [0, 2, 3, 1] } });
  const v = b.op('Transpose', [split(project('v'))], { attrs: { perm: [0, 2, 1, 3] } });
  const scores = b.op('Div', [b.op('MatMul', [q, kT]), b.zeros('scale', [])]);
  const maskFloat = b.op('Cast', [unsqueeze(mask, [1, 2])], { attrs: { to: DataType.FLOAT } });
  const additive = b.op('Mul', [b.op('Sub', [b.zeros('one_f', []), maskFloat]), b.zeros('neg', [])]);
  const probs = b.op('Softmax', [b.op('Add', [scores, additive])], { attrs: { axis: -1 } });
  const context = b.op('Transpose', [b.op('MatMul', [probs, v])], { attrs: { perm: [0, 2, 1, 3] } });
  const mergedShape = b.op('Concat', [batch, sequence, b.ints('hidden', [64])], { attrs: { axis: 0 } });
  const merged = b.op('Reshape', [context, mergedShape]);
  const out = b.op('Add', [b.op('MatMul', [merged, b.zeros('Wo', [64, 64])]), b.zeros('bo', [64])]);
  b.output(out, null);
  return { b, x, mask, headsShape, q, kT, v, scores, additive, probs, context, merged, out };
}

describe('a BERT attention block with symbolic batch and sequence', () => {
  test('symbols flow through Shape/Gather/Concat into Reshape and back', () => {
    const t = attentionBlock();
    const result = inferShapes(t.b.model);
    expect(result.issues).toEqual([]);
    expect(dims(t.headsShape)).toEqual([4]);
    expect(dims(t.q)).toEqual(['batch', 4, 'sequence', 16]);
    expect(dims(t.kT)).toEqual(['batch', 4, 16, 'sequence']);
    expect(dims(t.scores)).toEqual(['batch', 4, 'sequence', 'sequence']);
    expect(dims(t.additive)).toEqual(['batch', 1, 1, 'sequence']);
    expect(dims(t.probs)).toEqual(['batch', 4, 'sequence', 'sequence']);
    expect(dims(t.context)).toEqual(['batch', 'sequence', 4, 16]);
    expect(dims(t.merged)).toEqual(['batch', 'sequence', 64]);
    expect(dims(t.out)).toEqual(['batch', 'sequence', 64]);
    expect(elemType(t.headsShape)).toBe(DataType.INT64);
  });

  test('the same with opset 11 attribute forms', () => {
    const t = attentionBlock(11);
    inferShapes(t.b.model);
    expect(dims(t.scores)).toEqual(['batch', 4, 'sequence', 'sequence']);
    expect(dims(t.out)).toEqual(['batch', 'sequence', 64]);
  });

  test('intermediates go to valueInfo; inputs, outputs and initializers do not', () => {
    const t = attentionBlock();
    const { inferred } = inferShapes(t.b.model);
    const g = t.b.graph;
    const nodeOutputs = g.nodes.flatMap((n) => n.outputs as Value[]);
    expect(inferred).toBe(nodeOutputs.length);
    expect(new Set(g.valueInfo)).toEqual(new Set(nodeOutputs.filter((v) => v !== t.out)));
    expect(g.valueInfo).not.toContain(t.x);
    expect(g.valueInfo.some((v) => v.initializer)).toBe(false);
  });

  test('a second run changes nothing, and two runs write the same bytes', () => {
    const first = attentionBlock(),
      second = attentionBlock();
    inferShapes(first.b.model);
    inferShapes(second.b.model);
    const before = Buffer.from(encodeModel(first.b.model));
    expect(inferShapes(first.b.model)).toEqual({ inferred: 0, issues: [] });
    expect(before.equals(encodeModel(first.b.model))).toBe(true);
    expect(before.equals(encodeModel(second.b.model))).toBe(true);
  });

  test('fixedDims pins intermediates but leaves graph inputs and outputs as declared', () => {
    const t = attentionBlock();
    t.out.type = tensorType(DataType.FLOAT, ['batch', 'sequence', 64]);
    inferShapes(t.b.model, { fixedDims: { batch: 2, sequence: 8 } });
    expect(dims(t.scores)).toEqual([2, 4, 8, 8]);
    expect(dims(t.merged)).toEqual([2, 8, 64]);
    expect(dims(t.x)).toEqual(['batch', 'sequence', 64]);
    expect(dims(t.out)).toEqual(['batch', 'sequence', 64]);
  });

  test('fixedDims must be sizes', () => {
    const t = attentionBlock();
    expect(() => inferShapes(t.b.model, { fixedDims: { batch: -1 } })).toThrow(/non-negative integer/);
  });

  test('pinning only some symbols keeps the rest symbolic', () => {
    const t = attentionBlock();
    inferShapes(t.b.model, { fixedDims: { batch: 1 } });
    expect(dims(t.scores)).toEqual([1, 4, 'sequence', 'sequence']);
  });
});

describe('existing types', () => {
  test('a disagreeing annotation is kept and reported', () => {
    const t = attentionBlock();
    const merged = t.merged;
    merged.type = tensorType(DataType.FLOAT, ['batch', 'sequence', 32]);
    t.b.graph.valueInfo.push(merged);
    const { issues } = inferShapes(t.b.model);
    expect(dims(merged)).toEqual(['batch', 'sequence', 32]);
    expect(issues).toHaveLength(1);
    expect(issues[0]!.message).toMatch(/\[batch,sequence,64\] where the model says \[batch,sequence,32\]/);
  });

  test('a more precise annotation wins and flows downstream', () => {
    const t = attentionBlock();
    t.merged.type = tensorType(DataType.FLOAT, [2, undefined, 64]);
    t.b.graph.valueInfo.push(t.merged);
    inferShapes(t.b.model);
    expect(dims(t.merged)).toEqual([2, 'sequence', 64]);
    expect(dims(t.out)).toEqual([2, 'sequence', 64]);
  });

  test('placeholder symbols (unk__N) give way to inferred ones; other names stay', () => {
    const t = attentionBlock();
    t.merged.type = tensorType(DataType.FLOAT, ['unk__7', 'seq_len', 64]);
    t.b.graph.valueInfo.push(t.merged);
    inferShapes(t.b.model);
    expect(dims(t.merged)).toEqual(['batch', 'seq_len', 64]);
  });

  test('graph outputs keep their declared names and only get unknown parts filled', () => {
    const t = attentionBlock();
    t.out.type = tensorType(DataType.FLOAT, ['N', undefined, undefined]);
    inferShapes(t.b.model);
    expect(dims(t.out)).toEqual(['N', 'sequence', 64]);
  });
});
