// The com.microsoft ops onnx-opt's passes emit, with symbolic batch and sequence (static shapes are checked
// against onnxruntime in ort-oracle.test.ts).

import { describe, expect, test } from 'vitest';
import { inferShapes } from '../../src/shape/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { modelMaker } from '../kit/index.js';
import { dims, elemType } from './build.js';

const MS = 'com.microsoft';

describe('contrib ops with symbolic dims', () => {
  test('Attention: hidden size from the bias or qkv_hidden_sizes; present grows by the past', () => {
    const b = modelMaker();
    const x = b.input('x', ['batch', 'sequence', 768]);
    const mask = b.input('mask', ['batch', 'sequence'], DataType.INT32);
    const [out, present] = b.opOutputs('Attention', [x, b.zeros('w', [768, 2304]), b.zeros('bias', [2304]), mask], {
      attrs: { num_heads: 12 },
      outputs: 2,
      domain: MS,
    });
    const past = b.input('past', [2, 'batch', 12, 'past_sequence', 64]);
    const [, grown] = b.opOutputs('Attention', [x, b.zeros('w2', [768, 2304]), b.zeros('b2', [2304]), null, past], {
      attrs: { num_heads: 12 },
      outputs: 2,
      domain: MS,
    });
    const [narrow] = b.opOutputs('Attention', [x, b.zeros('w3', [768, 1280]), b.zeros('b3', [1280])], {
      attrs: { num_heads: 4, qkv_hidden_sizes: [512, 512, 256] },
      outputs: 1,
      domain: MS,
    });
    inferShapes(b.model);
    expect(dims(out!)).toEqual(['batch', 'sequence', 768]);
    expect(dims(present!)).toEqual([2, 'batch', 12, 'sequence', 64]);
    expect(dims(grown!)).toEqual([2, 'batch', 12, 'past_sequence+sequence', 64]);
    expect(dims(narrow!)).toEqual(['batch', 'sequence', 256]);
  });

  test('QAttention produces float from quantized input', () => {
    const b = modelMaker();
    const [out] = b.opOutputs(
      'QAttention',
      [
        b.input('x', ['batch', 'sequence', 64], DataType.UINT8),
        b.zeros('w', [64, 192], DataType.INT8),
        b.zeros('bias', [192]),
        b.zeros('xs', []),
        b.zeros('ws', []),
      ],
      { attrs: { num_heads: 4 }, outputs: 1, domain: MS },
    );
    inferShapes(b.model);
    expect([elemType(out!), dims(out!)]).toEqual([DataType.FLOAT, ['batch', 'sequence', 64]]);
  });

  test('MultiHeadAttention: separate, cross and packed forms', () => {
    const b = modelMaker();
    const q = b.input('q', ['batch', 'sequence', 64]);
    const k = b.input('k', ['batch', 'kv_sequence', 64]);
    const v = b.input('v', ['batch', 'kv_sequence', 32]);
    const [out, presentKey, presentValue] = b.opOutputs('MultiHeadAttention', [q, k, v], {
      attrs: { num_heads: 4 },
      outputs: 3,
      domain: MS,
    });
    const kHeads = b.input('kh', ['batch', 4, 'kv_sequence', 16]);
    const [cross] = b.opOutputs('MultiHeadAttention', [q, kHeads, kHeads], {
      attrs: { num_heads: 4 },
      outputs: 1,
      domain: MS,
    });
    const [packed] = b.opOutputs('MultiHeadAttention', [b.input('qkv', ['batch', 'sequence', 4, 3, 16])], {
      attrs: { num_heads: 4 },
      outputs: 1,
      domain: MS,
    });
    inferShapes(b.model);
    expect(dims(out!)).toEqual(['batch', 'sequence', 32]);
    expect(dims(presentKey!)).toEqual(['batch', 4, 'kv_sequence', 16]);
    expect(dims(presentValue!)).toEqual(['batch', 4, 'kv_sequence', 16]);
    expect(dims(cross!)).toEqual(['batch', 'sequence', 64]);
    expect(dims(packed!)).toEqual(['batch', 'sequence', 64]);
  });

  test('layer norm family', () => {
    const b = modelMaker();
    const x = b.input('x', ['batch', 'sequence', 64], DataType.FLOAT16);
    const g = b.zeros('g', [64], DataType.FLOAT16);
    const [y, mean, inv, sum] = b.opOutputs(
      'SkipLayerNormalization',
      [x, b.input('skip', ['batch', 'sequence', 64], DataType.FLOAT16), g],
      { outputs: 4, domain: MS },
    );
    const [simple, simpleInv] = b.opOutputs('SimplifiedLayerNormalization', [x, g], { outputs: 2 });
    const [skipSimple] = b.opOutputs('SkipSimplifiedLayerNormalization', [x, x, g], { outputs: 1, domain: MS });
    inferShapes(b.model);
    expect([elemType(y!), dims(y!)]).toEqual([DataType.FLOAT16, ['batch', 'sequence', 64]]);
    expect([elemType(mean!), dims(mean!), dims(inv!)]).toEqual([
      DataType.FLOAT,
      ['batch', 'sequence', 1],
      ['batch', 'sequence', 1],
    ]);
    expect([elemType(sum!), dims(sum!)]).toEqual([DataType.FLOAT16, ['batch', 'sequence', 64]]);
    expect([dims(simple!), dims(simpleInv!)]).toEqual([
      ['batch', 'sequence', 64],
      ['batch', 'sequence', 1],
    ]);
    expect(dims(skipSimple!)).toEqual(['batch', 'sequence', 64]);
  });

  test('EmbedLayerNormalization: (B, S, D) and an int32 mask index per batch', () => {
    const b = modelMaker();
    const ids = b.input('ids', ['batch', 'sequence'], DataType.INT32);
    const [out, maskIndex, sum] = b.opOutputs(
      'EmbedLayerNormalization',
      [
        ids,
        ids,
        b.zeros('word', [512, 64]),
        b.zeros('pos', [128, 64]),
        b.zeros('seg', [2, 64]),
        b.zeros('g', [64]),
        b.zeros('be', [64]),
        b.input('mask', ['batch', 'sequence'], DataType.INT32),
      ],
      { attrs: { epsilon: 1e-12 }, outputs: 3, domain: MS },
    );
    inferShapes(b.model);
    expect([elemType(out!), dims(out!)]).toEqual([DataType.FLOAT, ['batch', 'sequence', 64]]);
    expect([elemType(maskIndex!), dims(maskIndex!)]).toEqual([DataType.INT32, ['batch']]);
    expect(dims(sum!)).toEqual(['batch', 'sequence', 64]);
  });

  test('Gelu family keeps the input; fused and quantized products', () => {
    const b = modelMaker();
    const x = b.input('x', ['batch', 'sequence', 64]);
    const gelus = ['Gelu', 'FastGelu', 'QuickGelu'].map((op) => b.op(op, [x], { domain: MS }));
    const biasGelu = b.op('BiasGelu', [x, b.zeros('bias', [64])], { domain: MS });
    const fused = b.op('FusedMatMul', [x, b.input('y', ['batch', 'sequence', 64])], {
      attrs: { transB: 1 },
      domain: MS,
    });
    const dq = b.op('DynamicQuantizeMatMul', [x, b.zeros('w', [64, 32], DataType.INT8), b.zeros('s', [32])], {
      domain: MS,
    });
    const i2f = b.op(
      'MatMulIntegerToFloat',
      [
        b.input('a', ['batch', 64], DataType.UINT8),
        b.zeros('w2', [64, 16], DataType.INT8),
        b.zeros('as', []),
        b.zeros('bs', [16]),
      ],
      { domain: MS },
    );
    inferShapes(b.model);
    for (const v of [...gelus, biasGelu]) expect(dims(v)).toEqual(['batch', 'sequence', 64]);
    expect(dims(fused)).toEqual(['batch', 'sequence', 'sequence']);
    expect([elemType(dq), dims(dq)]).toEqual([DataType.FLOAT, ['batch', 'sequence', 32]]);
    expect([elemType(i2f), dims(i2f)]).toEqual([DataType.FLOAT, ['batch', 16]]);
  });
});
