// The com.microsoft ops onnx-opt's passes emit, with symbolic batch and sequence (static shapes are checked
// against onnxruntime in ort-oracle.test.ts).

import { describe, expect, test } from 'vitest';
import { inferShapes } from '../../src/shape/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { GraphBuilder, dims, elemType } from './build.js';

const MS = 'com.microsoft';

describe('contrib ops with symbolic dims', () => {
  test('Attention: hidden size from the bias or qkv_hidden_sizes; present grows by the past', () => {
    const b = new GraphBuilder();
    const x = b.input('x', ['batch', 'sequence', 768]);
    const mask = b.input('mask', ['batch', 'sequence'], DataType.INT32);
    const [out, present] = b.nodes('Attention', [x, b.weight('w', [768, 2304]), b.weight('bias', [2304]), mask], { num_heads: 12 }, 2, MS);
    const past = b.input('past', [2, 'batch', 12, 'past_sequence', 64]);
    const [, grown] = b.nodes('Attention', [x, b.weight('w2', [768, 2304]), b.weight('b2', [2304]), null, past], { num_heads: 12 }, 2, MS);
    const [narrow] = b.nodes('Attention', [x, b.weight('w3', [768, 1280]), b.weight('b3', [1280])], { num_heads: 4, qkv_hidden_sizes: [512, 512, 256] }, 1, MS);
    inferShapes(b.model);
    expect(dims(out!)).toEqual(['batch', 'sequence', 768]);
    expect(dims(present!)).toEqual([2, 'batch', 12, 'sequence', 64]);
    expect(dims(grown!)).toEqual([2, 'batch', 12, 'past_sequence+sequence', 64]);
    expect(dims(narrow!)).toEqual(['batch', 'sequence', 256]);
  });

  test('QAttention produces float from quantized input', () => {
    const b = new GraphBuilder();
    const [out] = b.nodes('QAttention', [
      b.input('x', ['batch', 'sequence', 64], DataType.UINT8), b.weight('w', [64, 192], DataType.INT8), b.weight('bias', [192]),
      b.weight('xs', []), b.weight('ws', []),
    ], { num_heads: 4 }, 1, MS);
    inferShapes(b.model);
    expect([elemType(out!), dims(out!)]).toEqual([DataType.FLOAT, ['batch', 'sequence', 64]]);
  });

  test('MultiHeadAttention: separate, cross and packed forms', () => {
    const b = new GraphBuilder();
    const q = b.input('q', ['batch', 'sequence', 64]);
    const k = b.input('k', ['batch', 'kv_sequence', 64]);
    const v = b.input('v', ['batch', 'kv_sequence', 32]);
    const [out, presentKey, presentValue] = b.nodes('MultiHeadAttention', [q, k, v], { num_heads: 4 }, 3, MS);
    const kHeads = b.input('kh', ['batch', 4, 'kv_sequence', 16]);
    const [cross] = b.nodes('MultiHeadAttention', [q, kHeads, kHeads], { num_heads: 4 }, 1, MS);
    const [packed] = b.nodes('MultiHeadAttention', [b.input('qkv', ['batch', 'sequence', 4, 3, 16])], { num_heads: 4 }, 1, MS);
    inferShapes(b.model);
    expect(dims(out!)).toEqual(['batch', 'sequence', 32]);
    expect(dims(presentKey!)).toEqual(['batch', 4, 'kv_sequence', 16]);
    expect(dims(presentValue!)).toEqual(['batch', 4, 'kv_sequence', 16]);
    expect(dims(cross!)).toEqual(['batch', 'sequence', 64]);
    expect(dims(packed!)).toEqual(['batch', 'sequence', 64]);
  });

  test('layer norm family', () => {
    const b = new GraphBuilder();
    const x = b.input('x', ['batch', 'sequence', 64], DataType.FLOAT16);
    const g = b.weight('g', [64], DataType.FLOAT16);
    const [y, mean, inv, sum] = b.nodes('SkipLayerNormalization', [x, b.input('skip', ['batch', 'sequence', 64], DataType.FLOAT16), g], {}, 4, MS);
    const [simple, simpleInv] = b.nodes('SimplifiedLayerNormalization', [x, g], {}, 2);
    const [skipSimple] = b.nodes('SkipSimplifiedLayerNormalization', [x, x, g], {}, 1, MS);
    inferShapes(b.model);
    expect([elemType(y!), dims(y!)]).toEqual([DataType.FLOAT16, ['batch', 'sequence', 64]]);
    expect([elemType(mean!), dims(mean!), dims(inv!)]).toEqual([DataType.FLOAT, ['batch', 'sequence', 1], ['batch', 'sequence', 1]]);
    expect([elemType(sum!), dims(sum!)]).toEqual([DataType.FLOAT16, ['batch', 'sequence', 64]]);
    expect([dims(simple!), dims(simpleInv!)]).toEqual([['batch', 'sequence', 64], ['batch', 'sequence', 1]]);
    expect(dims(skipSimple!)).toEqual(['batch', 'sequence', 64]);
  });

  test('EmbedLayerNormalization: (B, S, D) and an int32 mask index per batch', () => {
    const b = new GraphBuilder();
    const ids = b.input('ids', ['batch', 'sequence'], DataType.INT32);
    const [out, maskIndex, sum] = b.nodes('EmbedLayerNormalization', [
      ids, ids, b.weight('word', [512, 64]), b.weight('pos', [128, 64]), b.weight('seg', [2, 64]), b.weight('g', [64]), b.weight('be', [64]),
      b.input('mask', ['batch', 'sequence'], DataType.INT32),
    ], { epsilon: 1e-12 }, 3, MS);
    inferShapes(b.model);
    expect([elemType(out!), dims(out!)]).toEqual([DataType.FLOAT, ['batch', 'sequence', 64]]);
    expect([elemType(maskIndex!), dims(maskIndex!)]).toEqual([DataType.INT32, ['batch']]);
    expect(dims(sum!)).toEqual(['batch', 'sequence', 64]);
  });

  test('Gelu family keeps the input; fused and quantized products', () => {
    const b = new GraphBuilder();
    const x = b.input('x', ['batch', 'sequence', 64]);
    const gelus = ['Gelu', 'FastGelu', 'QuickGelu'].map((op) => b.op(op, [x], {}, MS));
    const biasGelu = b.op('BiasGelu', [x, b.weight('bias', [64])], {}, MS);
    const fused = b.op('FusedMatMul', [x, b.input('y', ['batch', 'sequence', 64])], { transB: 1 }, MS);
    const dq = b.op('DynamicQuantizeMatMul', [x, b.weight('w', [64, 32], DataType.INT8), b.weight('s', [32])], {}, MS);
    const i2f = b.op('MatMulIntegerToFloat', [b.input('a', ['batch', 64], DataType.UINT8), b.weight('w2', [64, 16], DataType.INT8), b.weight('as', []), b.weight('bs', [16])], {}, MS);
    inferShapes(b.model);
    for (const v of [...gelus, biasGelu]) expect(dims(v)).toEqual(['batch', 'sequence', 64]);
    expect(dims(fused)).toEqual(['batch', 'sequence', 'sequence']);
    expect([elemType(dq), dims(dq)]).toEqual([DataType.FLOAT, ['batch', 'sequence', 32]]);
    expect([elemType(i2f), dims(i2f)]).toEqual([DataType.FLOAT, ['batch', 16]]);
  });
});
