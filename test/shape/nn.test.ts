import { describe, expect, test } from 'vitest';
import { inferShapes } from '../../src/shape/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { modelMaker } from '../kit/index.js';
import { dims, elemType } from './build.js';

describe('matrix products', () => {
  test('MatMul with 1-D operands and batch broadcasting', () => {
    const b = modelMaker();
    const vec = b.input('v', ['k']);
    const mat = b.input('m', ['k', 5]);
    const batched = b.input('b', ['batch', 'm', 'k']);
    const cases = {
      vecMat: b.op('MatMul', [vec, mat]),
      matVec: b.op('MatMul', [batched, vec]),
      dot: b.op('MatMul', [vec, vec]),
      broadcast: b.op('MatMul', [b.input('x', [2, 1, 'm', 4]), b.input('y', [3, 4, 6])]),
      mismatch: b.op('MatMul', [b.input('p', [2, 3]), b.input('q', [4, 5])]),
    };
    inferShapes(b.model);
    expect(dims(cases.vecMat)).toEqual([5]);
    expect(dims(cases.matVec)).toEqual(['batch', 'm']);
    expect(dims(cases.dot)).toEqual([]);
    expect(dims(cases.broadcast)).toEqual([2, 3, 'm', 6]);
    expect(dims(cases.mismatch)).toBeUndefined();
  });

  test('Gemm with transposes', () => {
    const b = modelMaker();
    const y = b.op('Gemm', [b.input('a', [4, 'n']), b.input('w', [10, 4]), b.zeros('c', [10])], {
      attrs: { transA: 1, transB: 1 },
    });
    inferShapes(b.model);
    expect(dims(y)).toEqual(['n', 10]);
  });

  test('integer and quantized products', () => {
    const b = modelMaker(13);
    const x = b.input('x', ['batch', 'sequence', 64]);
    const [q, scale, zero] = b.opOutputs('DynamicQuantizeLinear', [x], { outputs: 3 });
    const w = b.zeros('w', [64, 32], DataType.INT8);
    const acc = b.op('MatMulInteger', [q!, w, zero!, null]);
    const quantized = b.op('QuantizeLinear', [x, b.zeros('s', []), b.zeros('z', [], DataType.INT8)]);
    const deq = b.op('DequantizeLinear', [quantized, b.zeros('s2', [])]);
    inferShapes(b.model);
    expect([elemType(q!), dims(q!)]).toEqual([DataType.UINT8, ['batch', 'sequence', 64]]);
    expect([elemType(scale!), dims(scale!), elemType(zero!), dims(zero!)]).toEqual([
      DataType.FLOAT,
      [],
      DataType.UINT8,
      [],
    ]);
    expect([elemType(acc), dims(acc)]).toEqual([DataType.INT32, ['batch', 'sequence', 32]]);
    expect(elemType(quantized)).toBe(DataType.INT8);
    expect([elemType(deq), dims(deq)]).toEqual([DataType.FLOAT, ['batch', 'sequence', 64]]);
  });

  test('DequantizeLinear from opset 19 takes the scale type', () => {
    const b = modelMaker(19);
    const deq = b.op('DequantizeLinear', [b.input('q', [4], DataType.INT8), b.zeros('s', [], DataType.FLOAT16)]);
    inferShapes(b.model);
    expect(elemType(deq)).toBe(DataType.FLOAT16);
  });
});

describe('convolution and pooling', () => {
  test('Conv with pads, strides, dilations and auto_pad', () => {
    const b = modelMaker();
    const x = b.input('x', ['n', 3, 32, 31]);
    const w = b.zeros('w', [16, 3, 3, 3]);
    const strided = b.op('Conv', [x, w], { attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } });
    const dilated = b.op('Conv', [x, w], { attrs: { dilations: [2, 3] } });
    const same = b.op('Conv', [x, w], { attrs: { auto_pad: 'SAME_UPPER', strides: [2, 2] } });
    const valid = b.op('Conv', [x, w], { attrs: { auto_pad: 'VALID', strides: [3, 3] } });
    const symbolic = b.op('Conv', [b.input('y', ['n', 3, 'h', 'w']), w]);
    const grouped = b.op('Conv', [b.input('z', [1, 8, 5, 5]), b.zeros('g', [8, 1, 3, 3])], {
      attrs: { group: 8, pads: [1, 1, 1, 1] },
    });
    inferShapes(b.model);
    expect(dims(strided)).toEqual(['n', 16, 16, 16]);
    expect(dims(dilated)).toEqual(['n', 16, 28, 25]);
    expect(dims(same)).toEqual(['n', 16, 16, 16]);
    expect(dims(valid)).toEqual(['n', 16, 10, 10]);
    expect(dims(symbolic)).toEqual(['n', 16, 'h-2', 'w-2']);
    expect(dims(grouped)).toEqual([1, 8, 5, 5]);
  });

  test('ConvTranspose', () => {
    const b = modelMaker();
    const x = b.input('x', [1, 16, 8, 8]);
    const w = b.zeros('w', [16, 4, 4, 4]);
    const up = b.op('ConvTranspose', [x, w], { attrs: { strides: [2, 2], pads: [1, 1, 1, 1], group: 2 } });
    const given = b.op('ConvTranspose', [x, w], { attrs: { strides: [2, 2], output_shape: [17, 17] } });
    inferShapes(b.model);
    expect(dims(up)).toEqual([1, 8, 16, 16]);
    expect(dims(given)).toEqual([1, 4, 17, 17]);
  });

  test('pools, ceil_mode and global pools', () => {
    const b = modelMaker();
    const x = b.input('x', [1, 2, 5, 5]);
    const [floor, indices] = b.opOutputs('MaxPool', [x], {
      attrs: { kernel_shape: [2, 2], strides: [2, 2] },
      outputs: 2,
    });
    const ceil = b.op('MaxPool', [x], { attrs: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 } });
    const avg = b.op('AveragePool', [x], { attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } });
    const global = b.op('GlobalAveragePool', [b.input('y', ['n', 64, 'h', 'w'])]);
    inferShapes(b.model);
    expect(dims(floor!)).toEqual([1, 2, 2, 2]);
    expect([elemType(indices!), dims(indices!)]).toEqual([DataType.INT64, [1, 2, 2, 2]]);
    expect(dims(ceil)).toEqual([1, 2, 3, 3]);
    expect(dims(avg)).toEqual([1, 2, 5, 5]);
    expect(dims(global)).toEqual(['n', 64, 1, 1]);
  });

  test('quantized convolution', () => {
    const b = modelMaker();
    const y = b.op('ConvInteger', [
      b.input('x', [1, 3, 8, 8], DataType.UINT8),
      b.zeros('w', [4, 3, 3, 3], DataType.UINT8),
    ]);
    inferShapes(b.model);
    expect([elemType(y), dims(y)]).toEqual([DataType.INT32, [1, 4, 6, 6]]);
  });
});

describe('normalization', () => {
  test('BatchNormalization and LayerNormalization statistics', () => {
    const b = modelMaker(17);
    const x = b.input('x', ['n', 3, 'h', 'w']);
    const c = b.zeros('c', [3]);
    const bn = b.op('BatchNormalization', [x, c, c, c, c]);
    const h = b.input('hidden', ['batch', 'sequence', 64], DataType.FLOAT16);
    const [y, mean, inv] = b.opOutputs('LayerNormalization', [h, b.zeros('g', [64], DataType.FLOAT16)], { outputs: 3 });
    const [y1, mean1] = b.opOutputs('LayerNormalization', [h, b.zeros('g1', [64], DataType.FLOAT16)], {
      attrs: { axis: 1 },
      outputs: 2,
    });
    inferShapes(b.model);
    expect(dims(bn)).toEqual(['n', 3, 'h', 'w']);
    expect([elemType(y!), dims(y!)]).toEqual([DataType.FLOAT16, ['batch', 'sequence', 64]]);
    expect([elemType(mean!), dims(mean!), dims(inv!)]).toEqual([
      DataType.FLOAT,
      ['batch', 'sequence', 1],
      ['batch', 'sequence', 1],
    ]);
    expect([dims(y1!), dims(mean1!)]).toEqual([
      ['batch', 'sequence', 64],
      ['batch', 1, 1],
    ]);
  });

  test('LSTM outputs by layout', () => {
    const b = modelMaker();
    const x = b.input('x', ['seq', 'batch', 10]);
    const [y, yh, yc] = b.opOutputs('LSTM', [x, b.zeros('w', [2, 80, 10]), b.zeros('r', [2, 80, 20])], {
      attrs: { hidden_size: 20, direction: 'bidirectional' },
      outputs: 3,
    });
    inferShapes(b.model);
    expect(dims(y!)).toEqual(['seq', 2, 'batch', 20]);
    expect(dims(yh!)).toEqual([2, 'batch', 20]);
    expect(dims(yc!)).toEqual([2, 'batch', 20]);
  });
});

describe('reductions', () => {
  test('axes as attribute (before opset 18) with keepdims', () => {
    const b = modelMaker(13);
    const x = b.input('x', ['batch', 'sequence', 64]);
    const mean = b.op('ReduceMean', [x], { attrs: { axes: [-1] } });
    const dropped = b.op('ReduceMax', [x], { attrs: { axes: [0, 2], keepdims: 0 } });
    const all = b.op('ReduceMin', [x], { attrs: { keepdims: 0 } });
    const sum = b.op('ReduceSum', [x, b.ints('axes', [1])]);
    inferShapes(b.model);
    expect(dims(mean)).toEqual(['batch', 'sequence', 1]);
    expect(dims(dropped)).toEqual(['sequence']);
    expect(dims(all)).toEqual([]);
    expect(dims(sum)).toEqual(['batch', 1, 64]);
  });

  test('axes as input from opset 18, empty axes and noop_with_empty_axes', () => {
    const b = modelMaker(18);
    const x = b.input('x', ['batch', 'sequence', 64]);
    const mean = b.op('ReduceMean', [x, b.ints('axes', [-1])], { attrs: { keepdims: 0 } });
    const all = b.op('ReduceL2', [x]);
    const noop = b.op('ReduceSum', [x], { attrs: { noop_with_empty_axes: 1 } });
    const unknown = b.op('ReduceMax', [x, b.input('axes_in', [1], DataType.INT64)], { attrs: { keepdims: 0 } });
    inferShapes(b.model);
    expect(dims(mean)).toEqual(['batch', 'sequence']);
    expect(dims(all)).toEqual([1, 1, 1]);
    expect(dims(noop)).toEqual(['batch', 'sequence', 64]);
    expect(dims(unknown)).toEqual([undefined, undefined]);
  });
});
