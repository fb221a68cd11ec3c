// Small models built in code for I/O tests.
import { Graph, Value } from '../../src/ir/graph.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';

/** Deterministic pseudo-random floats (a fixed LCG), so tensors have varied bytes without Math.random. */
export function floats(count: number, seed = 1): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/**
 * y = Relu(Reshape(x @ w1 @ w2 + b)): with the default 1024-byte threshold and width >= 16, the two weights go to
 * external data while the bias and the int64 shape constant stay inline.
 */
export function mlpModel(width = 32): Model {
  const g = new Graph('mlp');
  const m = new Model(g);
  m.irVersion = 10;
  m.opsetImports = [{ domain: '', version: 21 }];
  m.producerName = 'onnx-opt tests';
  const x = g.addInput(new Value('x', tensorType(DataType.FLOAT, ['batch', width])));
  const w1 = g.addInitializer('w1', Tensor.fromArray('', DataType.FLOAT, [width, width], floats(width * width, 1)));
  const w2 = g.addInitializer('w2', Tensor.fromArray('', DataType.FLOAT, [width, width], floats(width * width, 2)));
  const b = g.addInitializer('b', Tensor.fromArray('', DataType.FLOAT, [width], floats(width, 3)));
  const shape = g.addInitializer('shape', Tensor.fromArray('', DataType.INT64, [2], [-1, width]));
  const h = g.createNode({ opType: 'MatMul', inputs: [x, w1] }).output();
  const h2 = g.createNode({ opType: 'MatMul', inputs: [h, w2] }).output();
  const biased = g.createNode({ opType: 'Add', inputs: [h2, b] }).output();
  const reshaped = g.createNode({ opType: 'Reshape', inputs: [biased, shape] }).output();
  const y = new Value('y', tensorType(DataType.FLOAT, ['batch', width]));
  g.createNode({ opType: 'Relu', inputs: [reshaped], outputs: [y] });
  g.outputs.push(y);
  return m;
}
