// Ops whose output sizes follow formulas (convolution, pooling, resizing) and onnxruntime's contrib ops: for each
// small static graph, every inferred shape and element type must be what onnxruntime computes.

import { describe, expect, test } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { shapeOf } from '../../src/ir/types.js';
import { inferShapes } from '../../src/shape/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { modelMaker, type ModelMaker } from '../kit/index.js';
import { elemType } from './build.js';
import { exposeAllOutputs, ortOutputs } from './ort.js';

type Case = [name: string, build: (b: ModelMaker) => void, opset?: number];

const ONNX_CASES: Case[] = [
  [
    'Conv strided, padded, dilated, grouped',
    (b) => {
      const x = b.zeros('x', [1, 4, 11, 9]);
      b.op('Conv', [x, b.zeros('w', [6, 4, 3, 3])], { attrs: { pads: [1, 0, 2, 1], strides: [2, 3] } });
      b.op('Conv', [x, b.zeros('w2', [6, 2, 3, 2])], { attrs: { dilations: [2, 3], group: 2 } });
      b.op('Conv', [x, b.zeros('w3', [2, 4, 4, 4])], { attrs: { auto_pad: 'SAME_LOWER', strides: [3, 2] } });
      b.op('Conv', [x, b.zeros('w4', [2, 4, 2, 3])], { attrs: { auto_pad: 'VALID', strides: [2, 2] } });
    },
  ],
  [
    'ConvTranspose',
    (b) => {
      const x = b.zeros('x', [1, 4, 5, 6]);
      b.op('ConvTranspose', [x, b.zeros('w', [4, 3, 3, 3])], {
        attrs: { strides: [2, 2], pads: [1, 0, 1, 1], output_padding: [1, 0] },
      });
      b.op('ConvTranspose', [x, b.zeros('w2', [4, 1, 2, 2])], { attrs: { group: 2, dilations: [2, 1] } });
    },
  ],
  [
    'pools with ceil_mode',
    (b) => {
      const x = b.zeros('x', [1, 2, 5, 6]);
      b.opOutputs('MaxPool', [x], {
        attrs: { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 },
        outputs: 2,
      });
      b.op('MaxPool', [x], { attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 } });
      b.op('AveragePool', [x], { attrs: { kernel_shape: [3, 2], strides: [2, 3], ceil_mode: 1 } });
      b.op('AveragePool', [x], { attrs: { kernel_shape: [3, 3], auto_pad: 'SAME_UPPER', strides: [2, 2] } });
      b.op('MaxPool', [x], { attrs: { kernel_shape: [2, 2], dilations: [2, 2] } });
      b.op('GlobalMaxPool', [x]);
      b.op('LpPool', [x], { attrs: { kernel_shape: [2, 2] } });
    },
  ],
  [
    'Resize and padding',
    (b) => {
      const x = b.zeros('x', [1, 2, 5, 7]);
      b.op('Resize', [x, null, b.init('scales', [1, 1, 0.6, 1.5])]);
      b.op('Resize', [x, null, null, b.ints('sizes', [1, 2, 3, 9])]);
      b.op('Pad', [x, b.ints('pads', [0, 1, 2, 0, 0, 0, 1, 3])]);
      b.op('Tile', [x, b.ints('reps', [2, 1, 1, 3])]);
      b.op('DepthToSpace', [b.zeros('d', [1, 8, 2, 3])], { attrs: { blocksize: 2, mode: 'CRD' } });
      b.op('SpaceToDepth', [b.zeros('s', [1, 2, 4, 6])], { attrs: { blocksize: 2 } });
    },
    13,
  ],
  [
    'split, sort, range, flatten, reduce, gather',
    (b) => {
      const x = b.zeros('x', [6, 4, 5]);
      b.opOutputs('Split', [x, b.ints('parts', [1, 5])], { outputs: 2 });
      b.opOutputs('Split', [x], { attrs: { axis: 1 }, outputs: 2 });
      b.opOutputs('TopK', [x, b.ints('k', [3])], { attrs: { axis: 1 }, outputs: 2 });
      b.op('Range', [b.ints('a', [10], []), b.ints('l', [-3], []), b.ints('d', [-4], [])]);
      b.op('Flatten', [x], { attrs: { axis: -1 } });
      b.op('ReduceMean', [x], { attrs: { axes: [0, -1], keepdims: 1 } });
      b.op('ReduceSum', [x, b.ints('axes', [1])], { attrs: { keepdims: 0 } });
      b.op('ArgMin', [x], { attrs: { axis: -1, keepdims: 0 } });
      b.op('GatherND', [x, b.ints('nd', [0, 1, 2, 3], [2, 2])]);
      b.op('OneHot', [b.ints('ids', [1, 2, 0], [3]), b.ints('depth', [4], []), b.init('v', [0, 1])], {
        attrs: { axis: 0 },
      });
      b.op('ConstantOfShape', [b.ints('shape', [2, 3])]);
      b.op('Expand', [b.zeros('e', [4, 1]), b.ints('to', [3, 1, 5])]);
    },
    13,
  ],
  [
    'normalization',
    (b) => {
      const x = b.zeros('x', [2, 3, 4, 5]);
      b.opOutputs('LayerNormalization', [x, b.zeros('g', [4, 5]), b.zeros('bt', [4, 5])], {
        attrs: { axis: 2 },
        outputs: 3,
      });
      b.op('BatchNormalization', [x, b.zeros('s', [3]), b.zeros('bb', [3]), b.zeros('m', [3]), b.init('v', [1, 1, 1])]);
      b.op('InstanceNormalization', [x, b.zeros('is', [3]), b.zeros('ib', [3])]);
      b.opOutputs('LSTM', [b.zeros('seq', [7, 2, 5]), b.zeros('lw', [1, 12, 5]), b.zeros('lr', [1, 12, 3])], {
        attrs: { hidden_size: 3, layout: 0 },
        outputs: 3,
      });
    },
    17,
  ],
];

const CONTRIB_CASES: Case[] = [
  [
    'layer norms',
    (b) => {
      const x = b.zeros('x', [2, 3, 8]);
      const g = b.zeros('g', [8]),
        bias = b.zeros('bias', [8]);
      b.opOutputs('SkipLayerNormalization', [x, b.zeros('skip', [2, 3, 8]), g, bias], {
        attrs: { epsilon: 1e-5 },
        outputs: 4,
        domain: 'com.microsoft',
      });
      b.opOutputs('SkipSimplifiedLayerNormalization', [x, b.zeros('skip2', [3, 8]), g], {
        attrs: { epsilon: 1e-5 },
        outputs: 1,
        domain: 'com.microsoft',
      });
      b.opOutputs('SimplifiedLayerNormalization', [x, g], { outputs: 2 });
      b.opOutputs(
        'EmbedLayerNormalization',
        [
          b.graph.addInitializer('ids', Tensor.fromArray('ids', DataType.INT32, [2, 3], [1, 2, 3, 4, 5, 6])),
          null,
          b.zeros('word', [10, 8]),
          b.zeros('pos', [16, 8]),
          null,
          g,
          bias,
        ],
        { outputs: 3, domain: 'com.microsoft' },
      );
    },
  ],
  [
    'attention',
    (b) => {
      const x = b.zeros('x', [2, 3, 8]);
      b.opOutputs('Attention', [x, b.zeros('w', [8, 24]), b.zeros('bias', [24])], {
        attrs: { num_heads: 2 },
        outputs: 2,
        domain: 'com.microsoft',
      });
      b.opOutputs('Attention', [x, b.zeros('w2', [8, 16]), b.zeros('b2', [16])], {
        attrs: { num_heads: 2, qkv_hidden_sizes: [4, 4, 8] },
        outputs: 1,
        domain: 'com.microsoft',
      });
      b.opOutputs(
        'Attention',
        [x, b.zeros('w3', [8, 24]), b.zeros('b3', [24]), null, b.zeros('past', [2, 2, 2, 5, 4])],
        { attrs: { num_heads: 2, unidirectional: 1 }, outputs: 2, domain: 'com.microsoft' },
      );
      const kv = b.zeros('kv', [2, 7, 8]);
      b.opOutputs('MultiHeadAttention', [x, kv, kv], { attrs: { num_heads: 2 }, outputs: 3, domain: 'com.microsoft' });
      b.opOutputs(
        'MultiHeadAttention',
        [x, x, x, null, null, null, b.zeros('pk', [2, 2, 4, 4]), b.zeros('pv', [2, 2, 4, 4])],
        { attrs: { num_heads: 2 }, outputs: 3, domain: 'com.microsoft' },
      );
    },
  ],
  [
    'gelus and fused products',
    (b) => {
      const x = b.zeros('x', [2, 3, 8]);
      for (const op of ['Gelu', 'FastGelu', 'QuickGelu']) b.op(op, [x], { domain: 'com.microsoft' });
      b.op('BiasGelu', [x, b.zeros('bg', [8])], { domain: 'com.microsoft' });
      b.op('FusedMatMul', [x, b.zeros('t', [5, 8])], { attrs: { transB: 1, alpha: 0.5 }, domain: 'com.microsoft' });
      b.op('DynamicQuantizeMatMul', [x, b.zeros('q', [8, 6], DataType.INT8), b.init('qs', [0.1], [])], {
        domain: 'com.microsoft',
      });
      b.op(
        'MatMulIntegerToFloat',
        [
          b.zeros('a8', [2, 3, 8], DataType.UINT8),
          b.zeros('b8', [8, 4], DataType.INT8),
          b.init('as', [0.1], []),
          b.init('bs', [0.2], []),
        ],
        { domain: 'com.microsoft' },
      );
      b.opOutputs(
        'QAttention',
        [
          b.zeros('qa', [2, 3, 8], DataType.UINT8),
          b.zeros('qw', [8, 24], DataType.INT8),
          b.zeros('qb', [24]),
          b.init('qis', [0.1], []),
          b.init('qws', [0.1], []),
        ],
        { attrs: { num_heads: 2 }, outputs: 1, domain: 'com.microsoft' },
      );
    },
  ],
];

async function checkAgainstOrt([, build, opset]: Case) {
  const b = modelMaker(opset ?? 17);
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
