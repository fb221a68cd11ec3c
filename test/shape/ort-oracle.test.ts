// Ops whose output sizes follow formulas (convolution, pooling, resizing) and onnxruntime's contrib ops: for each
// small static graph, every inferred shape and element type must be what onnxruntime computes.

import { describe, expect, test } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { shapeOf } from '../../src/ir/types.js';
import { inferShapes } from '../../src/shape/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { GraphBuilder, elemType } from './build.js';
import { exposeAllOutputs, ortOutputs } from './ort.js';

type Case = [name: string, build: (b: GraphBuilder) => void, opset?: number];

const ONNX_CASES: Case[] = [
  ['Conv strided, padded, dilated, grouped', (b) => {
    const x = b.weight('x', [1, 4, 11, 9]);
    b.op('Conv', [x, b.weight('w', [6, 4, 3, 3])], { pads: [1, 0, 2, 1], strides: [2, 3] });
    b.op('Conv', [x, b.weight('w2', [6, 2, 3, 2])], { dilations: [2, 3], group: 2 });
    b.op('Conv', [x, b.weight('w3', [2, 4, 4, 4])], { auto_pad: 'SAME_LOWER', strides: [3, 2] });
    b.op('Conv', [x, b.weight('w4', [2, 4, 2, 3])], { auto_pad: 'VALID', strides: [2, 2] });
  }],
  ['ConvTranspose', (b) => {
    const x = b.weight('x', [1, 4, 5, 6]);
    b.op('ConvTranspose', [x, b.weight('w', [4, 3, 3, 3])], { strides: [2, 2], pads: [1, 0, 1, 1], output_padding: [1, 0] });
    b.op('ConvTranspose', [x, b.weight('w2', [4, 1, 2, 2])], { group: 2, dilations: [2, 1] });
  }],
  ['pools with ceil_mode', (b) => {
    const x = b.weight('x', [1, 2, 5, 6]);
    b.nodes('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }, 2);
    b.op('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 });
    b.op('AveragePool', [x], { kernel_shape: [3, 2], strides: [2, 3], ceil_mode: 1 });
    b.op('AveragePool', [x], { kernel_shape: [3, 3], auto_pad: 'SAME_UPPER', strides: [2, 2] });
    b.op('MaxPool', [x], { kernel_shape: [2, 2], dilations: [2, 2] });
    b.op('GlobalMaxPool', [x]);
    b.op('LpPool', [x], { kernel_shape: [2, 2] });
  }],
  ['Resize and padding', (b) => {
    const x = b.weight('x', [1, 2, 5, 7]);
    b.op('Resize', [x, null, b.floats('scales', [1, 1, 0.6, 1.5])]);
    b.op('Resize', [x, null, null, b.ints('sizes', [1, 2, 3, 9])]);
    b.op('Pad', [x, b.ints('pads', [0, 1, 2, 0, 0, 0, 1, 3])]);
    b.op('Tile', [x, b.ints('reps', [2, 1, 1, 3])]);
    b.op('DepthToSpace', [b.weight('d', [1, 8, 2, 3])], { blocksize: 2, mode: 'CRD' });
    b.op('SpaceToDepth', [b.weight('s', [1, 2, 4, 6])], { blocksize: 2 });
  }, 13],
  ['split, sort, range, flatten, reduce, gather', (b) => {
    const x = b.weight('x', [6, 4, 5]);
    b.nodes('Split', [x, b.ints('parts', [1, 5])], {}, 2);
    b.nodes('Split', [x], { axis: 1 }, 2);
    b.nodes('TopK', [x, b.ints('k', [3])], { axis: 1 }, 2);
    b.op('Range', [b.ints('a', [10], []), b.ints('l', [-3], []), b.ints('d', [-4], [])]);
    b.op('Flatten', [x], { axis: -1 });
    b.op('ReduceMean', [x], { axes: [0, -1], keepdims: 1 });
    b.op('ReduceSum', [x, b.ints('axes', [1])], { keepdims: 0 });
    b.op('ArgMin', [x], { axis: -1, keepdims: 0 });
    b.op('GatherND', [x, b.ints('nd', [0, 1, 2, 3], [2, 2])]);
    b.op('OneHot', [b.ints('ids', [1, 2, 0], [3]), b.ints('depth', [4], []), b.floats('v', [0, 1])], { axis: 0 });
    b.op('ConstantOfShape', [b.ints('shape', [2, 3])]);
    b.op('Expand', [b.weight('e', [4, 1]), b.ints('to', [3, 1, 5])]);
  }, 13],
  ['normalization', (b) => {
    const x = b.weight('x', [2, 3, 4, 5]);
    b.nodes('LayerNormalization', [x, b.weight('g', [4, 5]), b.weight('bt', [4, 5])], { axis: 2 }, 3);
    b.op('BatchNormalization', [x, b.weight('s', [3]), b.weight('bb', [3]), b.weight('m', [3]), b.floats('v', [1, 1, 1])]);
    b.op('InstanceNormalization', [x, b.weight('is', [3]), b.weight('ib', [3])]);
    b.nodes('LSTM', [b.weight('seq', [7, 2, 5]), b.weight('lw', [1, 12, 5]), b.weight('lr', [1, 12, 3])], { hidden_size: 3, layout: 0 }, 3);
  }, 17],
];

const CONTRIB_CASES: Case[] = [
  ['layer norms', (b) => {
    const x = b.weight('x', [2, 3, 8]);
    const g = b.weight('g', [8]), bias = b.weight('bias', [8]);
    b.nodes('SkipLayerNormalization', [x, b.weight('skip', [2, 3, 8]), g, bias], { epsilon: 1e-5 }, 4, 'com.microsoft');
    b.nodes('SkipSimplifiedLayerNormalization', [x, b.weight('skip2', [3, 8]), g], { epsilon: 1e-5 }, 1, 'com.microsoft');
    b.nodes('SimplifiedLayerNormalization', [x, g], {}, 2);
    b.nodes('EmbedLayerNormalization', [
      b.graph.addInitializer('ids', Tensor.fromArray('ids', DataType.INT32, [2, 3], [1, 2, 3, 4, 5, 6])), null,
      b.weight('word', [10, 8]), b.weight('pos', [16, 8]), null, g, bias,
    ], {}, 3, 'com.microsoft');
  }],
  ['attention', (b) => {
    const x = b.weight('x', [2, 3, 8]);
    b.nodes('Attention', [x, b.weight('w', [8, 24]), b.weight('bias', [24])], { num_heads: 2 }, 2, 'com.microsoft');
    b.nodes('Attention', [x, b.weight('w2', [8, 16]), b.weight('b2', [16])], { num_heads: 2, qkv_hidden_sizes: [4, 4, 8] }, 1, 'com.microsoft');
    b.nodes('Attention', [x, b.weight('w3', [8, 24]), b.weight('b3', [24]), null, b.weight('past', [2, 2, 2, 5, 4])],
      { num_heads: 2, unidirectional: 1 }, 2, 'com.microsoft');
    const kv = b.weight('kv', [2, 7, 8]);
    b.nodes('MultiHeadAttention', [x, kv, kv], { num_heads: 2 }, 3, 'com.microsoft');
    b.nodes('MultiHeadAttention', [x, x, x, null, null, null, b.weight('pk', [2, 2, 4, 4]), b.weight('pv', [2, 2, 4, 4])],
      { num_heads: 2 }, 3, 'com.microsoft');
  }],
  ['gelus and fused products', (b) => {
    const x = b.weight('x', [2, 3, 8]);
    for (const op of ['Gelu', 'FastGelu', 'QuickGelu']) b.op(op, [x], {}, 'com.microsoft');
    b.op('BiasGelu', [x, b.weight('bg', [8])], {}, 'com.microsoft');
    b.op('FusedMatMul', [x, b.weight('t', [5, 8])], { transB: 1, alpha: 0.5 }, 'com.microsoft');
    b.op('DynamicQuantizeMatMul', [x, b.weight('q', [8, 6], DataType.INT8), b.floats('qs', [0.1], [])], {}, 'com.microsoft');
    b.op('MatMulIntegerToFloat', [
      b.weight('a8', [2, 3, 8], DataType.UINT8), b.weight('b8', [8, 4], DataType.INT8), b.floats('as', [0.1], []), b.floats('bs', [0.2], []),
    ], {}, 'com.microsoft');
    b.nodes('QAttention', [
      b.weight('qa', [2, 3, 8], DataType.UINT8), b.weight('qw', [8, 24], DataType.INT8), b.weight('qb', [24]),
      b.floats('qis', [0.1], []), b.floats('qws', [0.1], []),
    ], { num_heads: 2 }, 1, 'com.microsoft');
  }],
];

async function checkAgainstOrt([, build, opset]: Case) {
  const b = new GraphBuilder(opset ?? 17);
  b.model.irVersion = 8;
  build(b);
  const outputs = exposeAllOutputs(b.model);
  const actual = await ortOutputs(b.model, {});
  inferShapes(b.model);
  for (const v of outputs) {
    const real = actual.get(v.name)!;
    expect([v.name, shapeOf(v.type), elemType(v)]).toEqual([v.name, real.dims, real.elemType]);
  }
}

describe('shapes agree with onnxruntime', () => {
  test.each(ONNX_CASES)('%s', async (...c) => {
    await checkAgainstOrt(c);
  });

  test.each(CONTRIB_CASES)('contrib: %s', async (...c) => {
    await checkAgainstOrt(c);
  });
});
