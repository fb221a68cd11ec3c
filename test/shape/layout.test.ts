import { describe, expect, test } from 'vitest';
import { inferShapes } from '../../src/shape/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { modelMaker } from '../kit/index.js';
import { dims } from './build.js';

describe('Reshape', () => {
  test('0 copies, -1 infers, symbolically too', () => {
    const b = modelMaker();
    const x = b.input('x', ['batch', 'sequence', 64]);
    const heads = b.op('Reshape', [x, b.ints('s1', [0, 0, 4, -1])]);
    const rows = b.op('Reshape', [x, b.ints('s2', [-1, 64])]);
    const back = b.op('Reshape', [rows, b.ints('s3', [-1, 8, 8])]);
    const stat = b.op('Reshape', [b.input('y', [2, 3, 4]), b.ints('s4', [0, -1])]);
    inferShapes(b.model);
    expect(dims(heads)).toEqual(['batch', 'sequence', 4, 16]);
    expect(dims(rows)).toEqual(['batch*sequence', 64]);
    expect(dims(back)).toEqual(['batch*sequence', 8, 8]);
    expect(dims(stat)).toEqual([2, 12]);
  });

  test('a -1 that does not divide symbolically gets a fresh symbol', () => {
    const b = modelMaker();
    const x = b.input('x', ['n', 6]);
    const r = b.op('Reshape', [x, b.ints('s', [4, -1])]);
    inferShapes(b.model);
    expect(dims(r)).toEqual([4, 'unk__0']);
  });

  test('allowzero keeps a literal 0', () => {
    const b = modelMaker(14);
    const x = b.input('x', [0, 3]);
    const zero = b.op('Reshape', [x, b.ints('s', [3, 0])], { attrs: { allowzero: 1 } });
    const copy = b.op('Reshape', [b.input('y', [2, 3]), b.ints('t', [0, 3])]);
    inferShapes(b.model);
    expect(dims(zero)).toEqual([3, 0]);
    expect(dims(copy)).toEqual([2, 3]);
  });

  test('an unknown target of known length gives the rank', () => {
    const b = modelMaker();
    const r = b.op('Reshape', [b.input('x', [6]), b.input('shape', [3], DataType.INT64)]);
    inferShapes(b.model);
    expect(dims(r)).toEqual([undefined, undefined, undefined]);
  });
});

describe('rank changes', () => {
  test('Flatten', () => {
    const b = modelMaker();
    const x = b.input('x', ['batch', 3, 'h', 'w']);
    const [f0, f2, fLast] = [0, 2, -1].map((axis) => b.op('Flatten', [x], { attrs: { axis } }));
    inferShapes(b.model);
    expect(dims(f0!)).toEqual([1, '3*batch*h*w']);
    expect(dims(f2!)).toEqual(['3*batch', 'h*w']);
    expect(dims(fLast!)).toEqual(['3*batch*h', 'w']);
  });

  test('Transpose with and without perm', () => {
    const b = modelMaker();
    const x = b.input('x', ['a', 'b', 3]);
    const reversed = b.op('Transpose', [x]);
    const perm = b.op('Transpose', [x], { attrs: { perm: [1, 2, 0] } });
    const bad = b.op('Transpose', [x], { attrs: { perm: [0, 0, 1] } });
    inferShapes(b.model);
    expect(dims(reversed)).toEqual([3, 'b', 'a']);
    expect(dims(perm)).toEqual(['b', 3, 'a']);
    expect(dims(bad)).toBeUndefined();
  });

  test('Squeeze and Unsqueeze, attribute form (opset 11)', () => {
    const b = modelMaker(11);
    const x = b.input('x', ['n', 1, 4, 1]);
    const squeezed = b.op('Squeeze', [x], { attrs: { axes: [1, -1] } });
    const unsqueezed = b.op('Unsqueeze', [squeezed], { attrs: { axes: [0, -1] } });
    inferShapes(b.model);
    expect(dims(squeezed)).toEqual(['n', 4]);
    expect(dims(unsqueezed)).toEqual([1, 'n', 4, 1]);
  });

  test('Squeeze and Unsqueeze, input form (opset 13)', () => {
    const b = modelMaker(13);
    const x = b.input('x', ['n', 1, 4, 1]);
    const squeezed = b.op('Squeeze', [x, b.ints('axes', [1])]);
    const all = b.op('Squeeze', [b.input('y', [1, 3, 1])]);
    const symbolic = b.op('Squeeze', [x]);
    const unsqueezed = b.op('Unsqueeze', [squeezed, b.ints('uaxes', [1, 3])]);
    const unknownAxes = b.op('Unsqueeze', [x, b.input('axes_in', [2], DataType.INT64)]);
    inferShapes(b.model);
    expect(dims(squeezed)).toEqual(['n', 4, 1]);
    expect(dims(all)).toEqual([3]);
    // 'n' might be 1, so without axes the rank is unknown.
    expect(dims(symbolic)).toBeUndefined();
    expect(dims(unsqueezed)).toEqual(['n', 1, 4, 1, 1]);
    expect(dims(unknownAxes)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  });
});

describe('joining and splitting', () => {
  test('Concat adds the axis symbolically', () => {
    const b = modelMaker();
    const past = b.input('past', ['batch', 12, 'past', 64]);
    const now = b.input('now', ['batch', 12, 'sequence', 64]);
    const kv = b.op('Concat', [past, now], { attrs: { axis: -2 } });
    const stat = b.op('Concat', [b.input('a', [2, 3]), b.input('c', [2, 5])], { attrs: { axis: 1 } });
    const partly = b.op('Concat', [b.input('d', [undefined, 3]), b.input('e', [4, 3])], { attrs: { axis: 1 } });
    inferShapes(b.model);
    expect(dims(kv)).toEqual(['batch', 12, 'past+sequence', 64]);
    expect(dims(stat)).toEqual([2, 8]);
    expect(dims(partly)).toEqual([4, 6]);
  });

  test('Split by attribute, by input, by num_outputs and evenly', () => {
    const b11 = modelMaker(11);
    const a = b11.opOutputs('Split', [b11.input('x', ['n', 10])], { attrs: { axis: 1, split: [3, 7] }, outputs: 2 });
    inferShapes(b11.model);
    expect(a.map(dims)).toEqual([
      ['n', 3],
      ['n', 7],
    ]);

    const b13 = modelMaker(13);
    const x13 = b13.input('x', ['n', 192]);
    const byInput = b13.opOutputs('Split', [x13, b13.ints('parts', [64, 128])], { attrs: { axis: -1 }, outputs: 2 });
    const even = b13.opOutputs('Split', [x13], { attrs: { axis: 1 }, outputs: 3 });
    const evenSymbolic = b13.opOutputs('Split', [x13], { attrs: { axis: 0 }, outputs: 2 });
    inferShapes(b13.model);
    expect(byInput.map(dims)).toEqual([
      ['n', 64],
      ['n', 128],
    ]);
    expect(even.map(dims)).toEqual([
      ['n', 64],
      ['n', 64],
      ['n', 64],
    ]);
    expect(evenSymbolic.map(dims)).toEqual([
      ['unk__0', 192],
      ['unk__0', 192],
    ]);

    const b18 = modelMaker(18);
    const uneven = b18.opOutputs('Split', [b18.input('x', [5, 2])], { attrs: { num_outputs: 2 }, outputs: 2 });
    inferShapes(b18.model);
    expect(uneven.map(dims)).toEqual([
      [3, 2],
      [2, 2],
    ]);
  });
});

describe('growing', () => {
  test('Expand to a constant and to a computed shape', () => {
    const b = modelMaker();
    const x = b.input('x', [4, 1]);
    const fixed = b.op('Expand', [x, b.ints('shape', [2, 1, 3])]);
    const ids = b.input('ids', ['batch', 'sequence'], DataType.INT64);
    const positions = b.input('positions', [1, 'sequence'], DataType.INT64);
    const expanded = b.op('Expand', [positions, b.op('Shape', [ids])]);
    inferShapes(b.model);
    expect(dims(fixed)).toEqual([2, 4, 3]);
    expect(dims(expanded)).toEqual(['batch', 'sequence']);
  });

  test('Tile and Pad', () => {
    const b = modelMaker(13);
    const x = b.input('x', ['n', 3]);
    const tiled = b.op('Tile', [x, b.ints('reps', [2, 2])]);
    const padded = b.op('Pad', [x, b.ints('pads', [1, 0, 2, 3])]);
    inferShapes(b.model);
    expect(dims(tiled)).toEqual(['2*n', 6]);
    expect(dims(padded)).toEqual(['n+3', 6]);

    const old = modelMaker(10);
    const p = old.op('Pad', [old.input('x', [2, 2])], { attrs: { pads: [0, 1, 0, 1] } });
    inferShapes(old.model);
    expect(dims(p)).toEqual([2, 4]);
  });

  test('Resize by scales, by sizes, and Upsample', () => {
    const b = modelMaker(13);
    const x = b.input('x', ['n', 3, 4, 5]);
    const scales = b.init('scales', [1, 1, 2, 1.5]);
    const byScales = b.op('Resize', [x, null, scales]);
    const bySizes = b.op('Resize', [x, null, null, b.ints('sizes', [1, 3, 7, 9])]);
    inferShapes(b.model);
    expect(dims(byScales)).toEqual(['n', 3, 8, 7]);
    expect(dims(bySizes)).toEqual([1, 3, 7, 9]);

    const b9 = modelMaker(9);
    const up = b9.op('Upsample', [b9.input('x', [1, 1, 2, 2]), b9.init('s', [1, 1, 2, 3])]);
    inferShapes(b9.model);
    expect(dims(up)).toEqual([1, 1, 4, 6]);
  });

  test('DepthToSpace and SpaceToDepth', () => {
    const b = modelMaker();
    const x = b.input('x', ['n', 8, 'h', 'w']);
    const d2s = b.op('DepthToSpace', [x], { attrs: { blocksize: 2 } });
    const s2d = b.op('SpaceToDepth', [b.input('y', [1, 3, 4, 6])], { attrs: { blocksize: 2 } });
    inferShapes(b.model);
    expect(dims(d2s)).toEqual(['n', 2, '2*h', '2*w']);
    expect(dims(s2d)).toEqual([1, 12, 2, 3]);
  });
});
