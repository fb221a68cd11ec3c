import { describe, expect, test } from 'vitest';
import { attr } from '../../src/ir/attribute.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { inferShapes } from '../../src/shape/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { modelMaker } from '../kit/index.js';
import { dims, elemType } from './build.js';

const INT64_MAX = 9223372036854775807n;

describe('gathering', () => {
  test('Gather inserts the indices shape at the axis', () => {
    const b = modelMaker();
    const table = b.zeros('table', [512, 64]);
    const ids = b.input('ids', ['batch', 'sequence'], DataType.INT64);
    const emb = b.op('Gather', [table, ids]);
    const mid = b.op('Gather', [b.input('x', [5, 7, 9]), b.ints('idx', [0, 1, 2, 3, 4, 5], [2, 3])], {
      attrs: { axis: -2 },
    });
    const scalar = b.op('Gather', [b.input('y', [5, 7]), b.ints('one', [1], [])], { attrs: { axis: 1 } });
    inferShapes(b.model);
    expect(dims(emb)).toEqual(['batch', 'sequence', 64]);
    expect(dims(mid)).toEqual([5, 2, 3, 9]);
    expect(dims(scalar)).toEqual([5]);
  });

  test('GatherElements and GatherND', () => {
    const b = modelMaker();
    const ge = b.op('GatherElements', [b.input('x', [3, 4]), b.input('i', ['n', 4], DataType.INT64)], {
      attrs: { axis: 0 },
    });
    const gnd = b.op('GatherND', [b.input('d', [2, 3, 4, 5]), b.input('j', [2, 6, 2], DataType.INT64)], {
      attrs: { batch_dims: 1 },
    });
    inferShapes(b.model);
    expect(dims(ge)).toEqual(['n', 4]);
    expect(dims(gnd)).toEqual([2, 6, 5]);
  });
});

describe('Slice', () => {
  test('constant bounds, clamped like the spec says', () => {
    const b = modelMaker();
    const x = b.input('x', [20, 10, 5]);
    const s = (starts: number[], ends: (number | bigint)[], axes?: number[], steps?: number[]) =>
      b.op('Slice', [
        x,
        b.ints('st', starts),
        b.ints('en', ends),
        axes ? b.ints('ax', axes) : null,
        steps ? b.ints('sp', steps) : null,
      ]);
    const basic = s([0, 0], [3, 10], [0, 1]);
    const negative = s([-1], [-1000], [1], [-1]);
    const outOfRange = s([1000], [1000], [1]);
    const stepped = s([20, 10, 4], [0, 0, 1], [0, 1, 2], [-1, -3, -1]);
    const toEnd = s([1], [INT64_MAX], [-1]);
    inferShapes(b.model);
    expect(dims(basic)).toEqual([3, 10, 5]);
    expect(dims(negative)).toEqual([20, 10, 5]);
    expect(dims(outOfRange)).toEqual([20, 0, 5]);
    expect(dims(stepped)).toEqual([19, 3, 3]);
    expect(dims(toEnd)).toEqual([20, 10, 4]);
  });

  test('symbolic dims: to the end, from the end, and up to a computed length', () => {
    const b = modelMaker();
    const x = b.input('x', ['batch', 'sequence', 64]);
    const dropFirst = b.op('Slice', [x, b.ints('s', [1]), b.ints('e', [INT64_MAX]), b.ints('a', [1])]);
    const lastTwo = b.op('Slice', [x, b.ints('s2', [-2]), b.ints('e2', [INT64_MAX]), b.ints('a2', [1])]);
    const reversed = b.op('Slice', [
      x,
      b.ints('s3', [-1]),
      b.ints('e3', [-INT64_MAX]),
      b.ints('a3', [1]),
      b.ints('st3', [-1]),
    ]);
    // position_ids[:, :sequence] as exporters write it: the end comes from Shape(input_ids)[1].
    const positions = b.ints(
      'position_ids',
      Array.from({ length: 512 }, (_, i) => i),
      [1, 512],
    );
    const length = b.op('Unsqueeze', [b.op('Gather', [b.op('Shape', [x]), b.ints('one', [1], [])]), b.ints('ax', [0])]);
    const sliced = b.op('Slice', [positions, b.ints('zero', [0]), length, b.ints('a4', [1])]);
    inferShapes(b.model);
    expect(dims(dropFirst)).toEqual(['batch', 'sequence-1', 64]);
    expect(dims(lastTwo)).toEqual(['batch', 2, 64]);
    expect(dims(reversed)).toEqual(['batch', 'sequence', 64]);
    expect(dims(sliced)).toEqual([1, 'sequence']);
  });

  test('unknown bounds leave only the sliced axes unknown', () => {
    const b = modelMaker();
    const x = b.input('x', ['n', 10, 5]);
    const ends = b.input('ends', [1], DataType.INT64);
    const partly = b.op('Slice', [x, b.ints('s', [0]), ends, b.ints('a', [1])]);
    const unknownAxes = b.op('Slice', [x, b.ints('s2', [0]), ends, b.input('axes', [1], DataType.INT64)]);
    inferShapes(b.model);
    expect(dims(partly)).toEqual(['n', undefined, 5]);
    expect(dims(unknownAxes)).toEqual([undefined, undefined, undefined]);
  });

  test('opset 9 attributes', () => {
    const b = modelMaker(9);
    const y = b.op('Slice', [b.input('x', [4, 6])], { attrs: { starts: [1, 0], ends: [3, -1] } });
    inferShapes(b.model);
    expect(dims(y)).toEqual([2, 5]);
  });
});

describe('shape values', () => {
  test('Shape with start and end, and Size', () => {
    const b = modelMaker(15);
    const x = b.input('x', ['batch', 'sequence', 64]);
    const whole = b.op('Shape', [x]);
    const tail = b.op('Shape', [x], { attrs: { start: -2 } });
    const size = b.op('Size', [x]);
    const flat = b.op('Reshape', [x, b.op('Unsqueeze', [size, b.ints('ax', [0])])]);
    const viaTail = b.op('Expand', [b.input('one', [1, 1]), tail]);
    inferShapes(b.model);
    expect([elemType(whole), dims(whole)]).toEqual([DataType.INT64, [3]]);
    expect(dims(tail)).toEqual([2]);
    expect([elemType(size), dims(size)]).toEqual([DataType.INT64, []]);
    expect(dims(flat)).toEqual(['64*batch*sequence']);
    expect(dims(viaTail)).toEqual(['sequence', 64]);
  });

  test('Range from constants and from a shape value', () => {
    const b = modelMaker();
    const fixed = b.op('Range', [b.ints('a', [2], []), b.ints('b', [11], []), b.ints('c', [3], [])]);
    const floats = b.op('Range', [b.init('fa', [0], []), b.init('fb', [2.5], []), b.init('fc', [0.5], [])]);
    const n = b.op('Gather', [b.op('Shape', [b.input('x', ['batch', 'sequence'])]), b.ints('one', [1], [])]);
    const positions = b.op('Range', [b.ints('zero', [0], []), n, b.ints('step', [1], [])]);
    const dynamic = b.op('Range', [b.ints('z', [0], []), b.input('limit', [], DataType.INT64), b.ints('s', [1], [])]);
    inferShapes(b.model);
    expect([elemType(fixed), dims(fixed)]).toEqual([DataType.INT64, [3]]);
    expect([elemType(floats), dims(floats)]).toEqual([DataType.FLOAT, [5]]);
    expect(dims(positions)).toEqual(['sequence']);
    expect(dims(dynamic)).toEqual(['unk__0']);
  });

  test('ConstantOfShape and Constant', () => {
    const b = modelMaker();
    const x = b.input('x', ['batch', 'sequence']);
    const ones = b.op('ConstantOfShape', [b.op('Shape', [x])], {
      attrs: { value: Tensor.fromArray('v', DataType.INT64, [1], [1]) },
    });
    const zeros = b.op('ConstantOfShape', [b.ints('shape', [2, 3])]);
    const tensor = b.op('Constant', [], {
      attrs: { value: Tensor.fromArray('t', DataType.FLOAT16, [2, 2], [0, 0, 0, 0]) },
    });
    const ints = b.op('Constant', [], { attrs: { value_ints: [1, 2, 3] } });
    const float = b.graph.createNode({ opType: 'Constant', attributes: [attr('value_float', 1.5)] }).output();
    const reshaped = b.op('Reshape', [b.input('y', [6]), ints]);
    inferShapes(b.model);
    expect([elemType(ones), dims(ones)]).toEqual([DataType.INT64, ['batch', 'sequence']]);
    expect([elemType(zeros), dims(zeros)]).toEqual([DataType.FLOAT, [2, 3]]);
    expect([elemType(tensor), dims(tensor)]).toEqual([DataType.FLOAT16, [2, 2]]);
    expect([elemType(ints), dims(ints)]).toEqual([DataType.INT64, [3]]);
    expect([elemType(float), dims(float)]).toEqual([DataType.FLOAT, []]);
    expect(dims(reshaped)).toEqual([1, 2, 3]);
  });
});

describe('data-dependent sizes', () => {
  test("NonZero gets a fresh symbol that never collides with the model's own", () => {
    const b = modelMaker();
    const x = b.input('x', [3, 'unk__3']);
    const nz = b.op('NonZero', [x]);
    const again = b.op('NonZero', [b.input('y', [2])]);
    inferShapes(b.model);
    expect([elemType(nz), dims(nz)]).toEqual([DataType.INT64, [2, 'unk__4']]);
    expect(dims(again)).toEqual([1, 'unk__5']);
  });

  test('TopK, ArgMax and OneHot', () => {
    const b = modelMaker();
    const x = b.input('x', ['n', 10]);
    const [values, indices] = b.opOutputs('TopK', [x, b.ints('k', [3])], { attrs: { axis: -1 }, outputs: 2 });
    const arg = b.op('ArgMax', [x], { attrs: { axis: 1, keepdims: 0 } });
    const hot = b.op(
      'OneHot',
      [b.input('i', ['n'], DataType.INT64), b.ints('depth', [7], []), b.init('vals', [0, 1])],
      { attrs: { axis: 0 } },
    );
    inferShapes(b.model);
    expect([dims(values!), elemType(values!)]).toEqual([['n', 3], DataType.FLOAT]);
    expect([dims(indices!), elemType(indices!)]).toEqual([['n', 3], DataType.INT64]);
    expect([dims(arg), elemType(arg)]).toEqual([['n'], DataType.INT64]);
    expect([dims(hot), elemType(hot)]).toEqual([[7, 'n'], DataType.FLOAT]);
  });

  test('a declared output of a data-dependent op keeps its own name', () => {
    const b = modelMaker();
    const nz = b.op('NonZero', [b.input('x', [4])]);
    nz.type = tensorType(DataType.INT64, [1, 'count']);
    b.output(nz, null);
    inferShapes(b.model);
    expect(dims(nz)).toEqual([1, 'count']);
  });
});
