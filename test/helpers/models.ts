// Small models built in code for I/O tests.
import { Graph, Value } from '../../src/ir/graph.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';
import { uniformFloats } from '../kit/random.js';

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
  const w1 = g.addInitializer(
    'w1',
    Tensor.fromArray('', DataType.FLOAT, [width, width], uniformFloats(width * width, 1)),
  );
  const w2 = g.addInitializer(
    'w2',
    Tensor.fromArray('', DataType.FLOAT, [width, width], uniformFloats(width * width, 2)),
  );
  const b = g.addInitializer('b', Tensor.fromArray('', DataType.FLOAT, [width], uniformFloats(width, 3)));
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
