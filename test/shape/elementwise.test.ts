import { describe, expect, test } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { inferShapes } from '../../src/shape/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { modelMaker } from '../kit/index.js';
import { dims, elemType } from './build.js';

describe('elementwise ops', () => {
  test('unary ops keep type and symbolic shape', () => {
    const b = modelMaker();
    const x = b.input('x', ['batch', 'sequence', 8], DataType.FLOAT16);
    const outs = ['Sqrt', 'Exp', 'Erf', 'Tanh', 'Sigmoid', 'Relu', 'Neg', 'Abs', 'Reciprocal', 'Floor', 'Identity'].map(
      (op) => b.op(op, [x]),
    );
    const clip = b.op('Clip', [x, b.zeros('lo', [], DataType.FLOAT16), null]);
    const softmax = b.op('LogSoftmax', [x], { attrs: { axis: 1 } });
    inferShapes(b.model);
    for (const v of [...outs, clip, softmax]) {
      expect(dims(v)).toEqual(['batch', 'sequence', 8]);
      expect(elemType(v)).toBe(DataType.FLOAT16);
    }
  });

  test('numpy broadcasting with symbols', () => {
    const b = modelMaker();
    const x = b.input('x', ['batch', 1, 5]);
    const y = b.input('y', [4, 1]);
    const z = b.input('z', ['batch', 'sequence', 1, 1]);
    const sum = b.op('Add', [x, y]);
    const wide = b.op('Mul', [z, x]);
    const pow = b.op('Pow', [x, b.zeros('two', [])]);
    const variadic = b.op('Sum', [x, y, z]);
    const max = b.op('Max', [y, x]);
    inferShapes(b.model);
    expect(dims(sum)).toEqual(['batch', 4, 5]);
    // sequence against batch: either may be 1, so the dim is unknown.
    expect(dims(wide)).toEqual(['batch', undefined, 1, 5]);
    expect(dims(pow)).toEqual(['batch', 1, 5]);
    expect(dims(variadic)).toEqual(['batch', undefined, 4, 5]);
    expect(dims(max)).toEqual(['batch', 4, 5]);
  });

  test('comparisons and logic give bool; Where takes the values type', () => {
    const b = modelMaker();
    const x = b.input('x', ['batch', 'sequence']);
    const m = b.input('m', ['batch', 1, 'sequence'], DataType.BOOL);
    const less = b.op('Less', [x, b.zeros('zero', [])]);
    const both = b.op('And', [less, m]);
    const not = b.op('Not', [both]);
    const nan = b.op('IsNaN', [x]);
    const where = b.op('Where', [m, x, b.zeros('fill', [1])]);
    inferShapes(b.model);
    expect([elemType(less), dims(less)]).toEqual([DataType.BOOL, ['batch', 'sequence']]);
    expect(dims(both)).toEqual(['batch', 'batch', 'sequence']);
    expect([elemType(not), elemType(nan)]).toEqual([DataType.BOOL, DataType.BOOL]);
    expect([elemType(where), dims(where)]).toEqual([DataType.FLOAT, ['batch', 'batch', 'sequence']]);
  });

  test('Cast, CastLike and Dropout', () => {
    const b = modelMaker();
    const x = b.input('x', ['n', 3], DataType.INT64);
    const cast = b.op('Cast', [x], { attrs: { to: DataType.FLOAT16 } });
    const like = b.op('CastLike', [x, b.zeros('t', [], DataType.DOUBLE)]);
    const [dropped, mask] = b.opOutputs('Dropout', [cast], { outputs: 2 });
    inferShapes(b.model);
    expect([elemType(cast), dims(cast)]).toEqual([DataType.FLOAT16, ['n', 3]]);
    expect(elemType(like)).toBe(DataType.DOUBLE);
    expect([elemType(dropped!), elemType(mask!), dims(mask!)]).toEqual([DataType.FLOAT16, DataType.BOOL, ['n', 3]]);
  });

  test('sizes that cannot broadcast leave the shape unknown, without throwing', () => {
    const b = modelMaker();
    const sum = b.op('Add', [b.input('x', [2, 3]), b.input('y', [4, 3])]);
    const { issues } = inferShapes(b.model);
    expect(issues).toEqual([]);
    expect(elemType(sum)).toBe(DataType.FLOAT);
    expect(dims(sum)).toBeUndefined();
  });

  test('integer arithmetic on shape values stays symbolic (Reshape to batch*sequence)', () => {
    const b = modelMaker();
    const x = b.input('x', ['batch', 'sequence', 64]);
    const shape = b.op('Shape', [x]);
    const at = (i: number) => b.op('Gather', [shape, b.ints(`i${i}`, [i], [])]);
    const rows = b.op('Mul', [at(0), at(1)]);
    const half = b.op('Div', [at(2), b.ints('two', [2], [])]);
    const target = b.op(
      'Concat',
      [b.op('Unsqueeze', [rows, b.ints('ax', [0])]), b.op('Unsqueeze', [half, b.ints('ax', [0])]), b.ints('two_', [2])],
      { attrs: { axis: 0 } },
    );
    const flat = b.op('Reshape', [x, target]);
    inferShapes(b.model);
    expect(dims(flat)).toEqual(['batch*sequence', 32, 2]);
  });

  test("the exporter's Where(Equal(shape, -1), 1, shape) before Expand keeps the symbols", () => {
    const b = modelMaker();
    const ids = b.input('ids', ['batch', 'sequence'], DataType.INT64);
    const shape = b.op('Shape', [ids]);
    const dim = (i: number) =>
      b.op('Unsqueeze', [b.op('Gather', [shape, b.ints(`i${i}`, [i], [])]), b.ints(`a${i}`, [0])]);
    const target = b.op('Concat', [dim(0), b.ints('one', [1]), dim(1), dim(1)], { attrs: { axis: 0 } });
    const ones = b.op('ConstantOfShape', [b.ints('four', [4])], {
      attrs: { value: Tensor.fromArray('v', DataType.INT64, [1], [1]) },
    });
    const minusOnes = b.op('Mul', [ones, b.ints('m1', [-1], [])]);
    const fixed = b.op('Where', [b.op('Equal', [target, minusOnes]), ones, target]);
    const mask = b.op('Expand', [b.input('m', ['batch', 1, 1, 'sequence'], DataType.BOOL), fixed]);
    inferShapes(b.model);
    expect(dims(mask)).toEqual(['batch', 1, 'sequence', 'sequence']);
  });

  test('an op without a rule leaves its outputs alone; declared types still flow on', () => {
    const b = modelMaker();
    const x = b.input('x', ['n', 4]);
    const custom = b.op('MyOp', [x], { domain: 'my.domain' });
    const typed = b.op('MyOp', [x], { domain: 'my.domain' });
    typed.type = tensorType(DataType.FLOAT, ['n', 5]);
    const after = b.op('Relu', [custom]);
    const afterTyped = b.op('Relu', [typed]);
    inferShapes(b.model);
    expect(custom.type).toBeUndefined();
    expect(after.type).toBeUndefined();
    expect(dims(afterTyped)).toEqual(['n', 5]);
  });
});
