// Evaluator cases the ONNX backend data leaves out: integer rounding rules, clamping corners, opset-dependent
// forms, exact float16 rounding, refusals (UnsupportedOp) and the output budget.
import { describe, expect, it } from 'vitest';
import { UnsupportedOp, evaluateFromDims, evaluateNode, type EvalNode } from '../../src/eval/index.js';
import { erf } from '../../src/eval/math.js';
import { OnnxOptError } from '../../src/errors.js';
import { attr, encodeString, type Attribute } from '../../src/ir/attribute.js';
import { Tensor } from '../../src/ir/tensor.js';
import { DataType } from '../../src/tensor/dtype.js';
import { elementsOf } from './compare.js';

const { FLOAT, FLOAT16, DOUBLE, INT8, INT32, INT64, UINT8, UINT64, BOOL } = DataType;

function node(opType: string, attributes: Attribute[] = [], outputs = 1, domain = ''): EvalNode {
  return {
    opType,
    domain,
    attributes: new Map(attributes.map((a) => [a.name, a])),
    outputs: new Array(outputs).fill(null),
  };
}

const t = (dataType: number, dims: number[], values: readonly (number | bigint)[]) =>
  Tensor.fromArray('', dataType, dims, values as number[]);
const f32 = (dims: number[], values: number[]) => t(FLOAT, dims, values);
const i64 = (values: (number | bigint)[], dims = [values.length]) => t(INT64, dims, values);

function run(op: EvalNode, inputs: (Tensor | undefined)[], opset = 17): Tensor[] {
  return evaluateNode(op, inputs, opset);
}

function one(
  op: EvalNode,
  inputs: (Tensor | undefined)[],
  opset = 17,
): { dims: number[]; values: (number | bigint)[] } {
  const [out] = run(op, inputs, opset);
  return { dims: [...out!.dims], values: out!.dataType === FLOAT16 ? out!.toNumbers() : elementsOf(out!) };
}

describe('integer arithmetic', () => {
  it('divides integers truncating toward zero', () => {
    expect(one(node('Div'), [t(INT32, [4], [-7, 7, -7, 7]), t(INT32, [4], [2, 2, -2, -2])]).values).toEqual([
      -3, 3, 3, -3,
    ]);
    expect(one(node('Div'), [i64([-7n, 2n ** 62n + 1n]), i64([2n, 2n])]).values).toEqual([-3n, 2n ** 61n]);
  });

  it('refuses integer division by zero', () => {
    expect(() => run(node('Div'), [t(INT32, [1], [1]), t(INT32, [1], [0])])).toThrow(UnsupportedOp);
    expect(() => run(node('Mod'), [i64([1]), i64([0])])).toThrow(UnsupportedOp);
  });

  it('takes the sign of the divisor for Mod and of the dividend for fmod', () => {
    const a = t(INT32, [4], [-7, 7, -7, 7]);
    const b = t(INT32, [4], [3, -3, -3, 3]);
    expect(one(node('Mod'), [a, b]).values).toEqual([2, -2, -1, 1]);
    expect(one(node('Mod', [attr('fmod', 1)]), [a, b]).values).toEqual([-1, 1, -1, 1]);
    expect(() => run(node('Mod'), [f32([1], [1]), f32([1], [2])])).toThrow(/fmod=1/);
  });

  it('wraps integer overflow and multiplies 32-bit integers exactly', () => {
    expect(one(node('Add'), [t(INT8, [1], [127]), t(INT8, [1], [1])]).values).toEqual([-128]);
    expect(one(node('Mul'), [t(INT32, [1], [123456789]), t(INT32, [1], [987654321])]).values).toEqual([
      Number(BigInt.asIntN(32, 123456789n * 987654321n)),
    ]);
  });

  it('raises integers to integer powers exactly, refusing negative powers and overflow', () => {
    expect(one(node('Pow'), [i64([3]), i64([39])]).values).toEqual([3n ** 39n]);
    expect(one(node('Pow'), [t(INT32, [4], [0, -1, -1, -2]), i64([0, 1001, 1000, 31])]).values).toEqual([
      1,
      -1,
      1,
      -(2 ** 31),
    ]);
    expect(() => run(node('Pow'), [i64([3]), i64([-1])])).toThrow(UnsupportedOp);
    expect(() => run(node('Pow'), [t(INT32, [1], [2]), t(INT32, [1], [31])])).toThrow(/does not fit int32/);
    expect(one(node('Pow'), [t(INT32, [2], [2, 3]), f32([2], [0.5, 2])]).values).toEqual([1, 9]);
    expect(one(node('Pow'), [f32([1], [2]), i64([3])]).values).toEqual([8]);
  });
});

describe('broadcasting', () => {
  it('broadcasts numpy style and rejects incompatible shapes', () => {
    const r = one(node('Sub'), [f32([2, 1], [10, 20]), f32([3], [1, 2, 3])]);
    expect(r).toEqual({ dims: [2, 3], values: [9, 8, 7, 19, 18, 17] });
    expect(() => run(node('Add'), [f32([2], [1, 2]), f32([3], [1, 2, 3])])).toThrow(/do not broadcast/);
  });

  it('refuses the legacy broadcast form before opset 7', () => {
    const op = node('Add', [attr('broadcast', 1)]);
    expect(() => run(op, [f32([2, 3], [1, 2, 3, 4, 5, 6]), f32([3], [1, 2, 3])], 6)).toThrow(UnsupportedOp);
    expect(one(op, [f32([2], [1, 2]), f32([2], [3, 4])], 6).values).toEqual([4, 6]);
  });

  it('selects with Where over three broadcast shapes, strings included', () => {
    const cond = t(BOOL, [2, 1], [1, 0]);
    const x = new Tensor('', DataType.STRING, [2], [encodeString('a'), encodeString('b')]);
    const y = new Tensor('', DataType.STRING, [], [encodeString('z')]);
    const [out] = run(node('Where'), [cond, x, y]);
    expect(out!.dims).toEqual([2, 2]);
    expect(out!.strings!.map((s) => new TextDecoder().decode(s))).toEqual(['a', 'b', 'z', 'z']);
  });

  it('sums and averages several inputs, propagating NaN through Max', () => {
    expect(one(node('Sum'), [f32([2], [1, 2]), f32([], [10]), f32([1], [100])]).values).toEqual([111, 112]);
    expect(one(node('Mean'), [f32([2], [1, 2]), f32([2], [3, 6])]).values).toEqual([2, 4]);
    expect(one(node('Max'), [f32([2], [NaN, 1]), f32([2], [0, NaN])]).values).toEqual([NaN, NaN]);
  });
});

describe('Cast', () => {
  it('rounds float32 to float16 to nearest even, overflowing to infinity', () => {
    const ulp = 2 ** -10;
    const x = f32([6], [1 + ulp / 2, 1 + (3 * ulp) / 2, 65519, 65520, 2 ** -25, 2 ** -24 * 1.5]);
    const [out] = run(node('Cast', [attr('to', FLOAT16)]), [x]);
    expect(elementsOf(out!)).toEqual([0x3c00, 0x3c02, 0x7bff, 0x7c00, 0x0000, 0x0002]);
  });

  it('rounds int64 beyond 2^53 to float32 once', () => {
    // 2^60 + 2^36 + 1 lies just above the midpoint between two floats; rounding through a double would tie to 2^60.
    const x = i64([2n ** 60n + 2n ** 36n + 1n, -(2n ** 60n + 2n ** 36n + 1n)]);
    expect(one(node('Cast', [attr('to', FLOAT)]), [x]).values).toEqual([2 ** 60 + 2 ** 37, -(2 ** 60 + 2 ** 37)]);
  });

  it('truncates floats to integers and refuses values out of range', () => {
    expect(one(node('Cast', [attr('to', INT32)]), [f32([3], [-2.7, 2.7, -0.5])]).values).toEqual([-2, 2, 0]);
    expect(() => run(node('Cast', [attr('to', UINT8)]), [f32([1], [256])])).toThrow(UnsupportedOp);
    expect(() => run(node('Cast', [attr('to', INT64)]), [f32([1], [NaN])])).toThrow(UnsupportedOp);
    expect(() => run(node('Cast', [attr('to', UINT64)]), [f32([1], [-1])])).toThrow(UnsupportedOp);
  });

  it('gives the minimum for values below an int32/int64 range, as onnxruntime does on x86 and ARM', () => {
    expect(one(node('Cast', [attr('to', INT64)]), [f32([2], [-Infinity, -1e30])]).values).toEqual([
      -(2n ** 63n),
      -(2n ** 63n),
    ]);
    expect(one(node('Cast', [attr('to', INT32)]), [f32([1], [-Infinity])]).values).toEqual([-(2 ** 31)]);
    expect(() => run(node('Cast', [attr('to', INT64)]), [f32([1], [Infinity])])).toThrow(UnsupportedOp);
    expect(() => run(node('Cast', [attr('to', INT8)]), [f32([1], [-Infinity])])).toThrow(UnsupportedOp);
  });

  it('wraps integers into narrower ones and maps to bool', () => {
    expect(one(node('Cast', [attr('to', INT8)]), [i64([300, -129])]).values).toEqual([44, 127]);
    expect(one(node('Cast', [attr('to', UINT64)]), [i64([-1])]).values).toEqual([2n ** 64n - 1n]);
    expect(one(node('Cast', [attr('to', BOOL)]), [f32([3], [0, -0.5, NaN])]).values).toEqual([0, 1, 1]);
  });

  it('reads Cast-1 target names and refuses strings', () => {
    expect(one(node('Cast', [attr('to', 'DOUBLE')]), [f32([1], [0.5])], 1).values).toEqual([0.5]);
    expect(() => run(node('Cast', [attr('to', DataType.STRING)]), [f32([1], [1])])).toThrow(UnsupportedOp);
  });
});

describe('Pad', () => {
  const x = f32([2, 3], [1, 2, 3, 4, 5, 6]);

  it('pads by every mode, and crops with negative pads', () => {
    const padded = (mode: string, pads: number[]) => one(node('Pad', [attr('mode', mode)]), [x, i64(pads)], 19).values;
    // one column on each side of the last axis
    expect(padded('constant', [0, 1, 0, 1])).toEqual([0, 1, 2, 3, 0, 0, 4, 5, 6, 0]);
    expect(padded('edge', [0, 1, 0, 1])).toEqual([1, 1, 2, 3, 3, 4, 4, 5, 6, 6]);
    expect(padded('reflect', [0, 1, 0, 1])).toEqual([2, 1, 2, 3, 2, 5, 4, 5, 6, 5]);
    expect(padded('wrap', [0, 1, 0, 1])).toEqual([3, 1, 2, 3, 1, 6, 4, 5, 6, 4]);
    expect(one(node('Pad'), [x, i64([0, -1, 0, 0])]).values).toEqual([2, 3, 5, 6]);
  });

  it('takes a constant value, axes (opset 18), and the attributes of opset 2', () => {
    expect(one(node('Pad'), [x, i64([1, 0]), f32([], [9]), i64([-1])], 18)).toEqual({
      dims: [2, 4],
      values: [9, 1, 2, 3, 9, 4, 5, 6],
    });
    expect(one(node('Pad'), [i64([7n, 8n]), i64([1, 1]), i64([-1], [])]).values).toEqual([-1n, 7n, 8n, -1n]);
    const old = node('Pad', [attr('pads', [1, 0, 0, 0]), attr('value', 5, true)]);
    expect(one(old, [x], 2)).toEqual({ dims: [3, 3], values: [5, 5, 5, 1, 2, 3, 4, 5, 6] });
  });
});

describe('Slice', () => {
  const x = f32([5], [0, 1, 2, 3, 4]);
  const slice = (starts: (number | bigint)[], ends: (number | bigint)[], steps?: (number | bigint)[]) =>
    one(node('Slice'), [x, i64(starts), i64(ends), i64([0]), steps && i64(steps)]).values;

  it('clamps out-of-range and INT64_MAX ends', () => {
    expect(slice([1], [2n ** 63n - 1n])).toEqual([1, 2, 3, 4]);
    expect(slice([-100], [2])).toEqual([0, 1]);
    expect(slice([10], [20])).toEqual([]);
  });

  it('walks backwards with negative steps down to the first element', () => {
    expect(slice([-1], [-(2n ** 63n)], [-1])).toEqual([4, 3, 2, 1, 0]);
    expect(slice([-1], [2n ** 63n - 2n], [-1])).toEqual([]);
    expect(slice([100], [0], [-2])).toEqual([4, 2]);
    expect(slice([3], [-100], [-1])).toEqual([3, 2, 1, 0]);
    expect(slice([-1], [-1], [-1])).toEqual([]);
  });

  it('refuses an INT_MAX end with a negative step, which onnxruntime and the spec read differently', () => {
    expect(() => slice([2], [2n ** 63n - 1n], [-1])).toThrow(UnsupportedOp);
    expect(() => slice([2], [2 ** 31 - 1], [-1])).toThrow(UnsupportedOp);
  });

  it('reads attributes before opset 10 and refuses a zero step', () => {
    const op = node('Slice', [attr('starts', [1, 0]), attr('ends', [2, 1000]), attr('axes', [0, 1])]);
    expect(one(op, [f32([3, 2], [0, 1, 2, 3, 4, 5])], 9)).toEqual({ dims: [1, 2], values: [2, 3] });
    expect(() => slice([0], [1], [0])).toThrow(/step is 0/);
  });
});

describe('shape ops across opsets', () => {
  const x = f32([1, 3, 1], [1, 2, 3]);

  it('squeezes with the axes attribute before 13 and the axes input from 13', () => {
    expect(one(node('Squeeze', [attr('axes', [0])]), [x], 11).dims).toEqual([3, 1]);
    expect(one(node('Squeeze'), [x, i64([-1])], 13).dims).toEqual([1, 3]);
    expect(one(node('Squeeze'), [x], 13).dims).toEqual([3]);
    expect(() => run(node('Squeeze', [attr('axes', [0])]), [x], 13)).toThrow(/input from opset 13/);
    expect(() => run(node('Squeeze'), [x, i64([1])], 13)).toThrow(/cannot squeeze/);
  });

  it('unsqueezes against the output rank', () => {
    expect(one(node('Unsqueeze', [attr('axes', [0, 4])]), [x], 11).dims).toEqual([1, 1, 3, 1, 1]);
    expect(one(node('Unsqueeze'), [f32([2], [1, 2]), i64([-1, 0])], 13).dims).toEqual([1, 2, 1]);
    expect(() => run(node('Unsqueeze', [attr('axes', [0])]), [x, i64([0])], 11)).toThrow(/takes 1 input/);
  });

  it('reshapes with 0, -1 and allowzero', () => {
    const y = f32([2, 3, 4], new Array(24).fill(0));
    expect(one(node('Reshape'), [y, i64([0, -1])]).dims).toEqual([2, 12]);
    // Without allowzero a 0 copies the input's dim: [3, 0] asks for [3, 3], which 0 elements cannot fill.
    expect(() => run(node('Reshape'), [f32([0, 3], []), i64([3, 0])])).toThrow(/cannot reshape/);
    expect(one(node('Reshape', [attr('allowzero', 1)]), [f32([0, 3], []), i64([3, 0])], 14).dims).toEqual([3, 0]);
    expect(() => run(node('Reshape'), [y, i64([5, -1])])).toThrow(/cannot reshape/);
  });

  it('computes Shape with start/end and from dims alone', () => {
    expect(one(node('Shape', [attr('start', -2)]), [x], 15).values).toEqual([3n, 1n]);
    expect(elementsOf(evaluateFromDims(node('Shape', [attr('end', -1)]), [7, 8, 9], 15)[0]!)).toEqual([7n, 8n]);
    expect(elementsOf(evaluateFromDims(node('Size'), [7, 8, 9], 15)[0]!)).toEqual([504n]);
  });

  it('flattens at any axis up to the rank', () => {
    expect(one(node('Flatten', [attr('axis', 3)]), [x]).dims).toEqual([3, 1]);
    expect(one(node('Flatten', [attr('axis', 0)]), [x]).dims).toEqual([1, 3]);
  });
});

describe('Split', () => {
  const x = f32([5], [0, 1, 2, 3, 4]);
  const parts = (outs: Tensor[]) => outs.map((o) => elementsOf(o));

  it('splits by attribute (opset < 13), input (13+) or num_outputs (18+)', () => {
    expect(parts(run(node('Split', [attr('split', [2, 3])], 2), [x], 11))).toEqual([
      [0, 1],
      [2, 3, 4],
    ]);
    expect(parts(run(node('Split', [], 2), [x, i64([4, 1])], 13))).toEqual([[0, 1, 2, 3], [4]]);
    expect(parts(run(node('Split', [attr('num_outputs', 2)], 2), [x], 18))).toEqual([
      [0, 1, 2],
      [3, 4],
    ]);
    expect(() => run(node('Split', [], 2), [x], 13)).toThrow(/equal parts/);
  });
});

describe('reductions', () => {
  const x = f32([2, 3], [1, 2, 3, 4, 5, 6]);

  it('reads axes from the attribute or, from opset 13 (ReduceSum) and 18 (others), the input', () => {
    expect(one(node('ReduceSum', [attr('axes', [1])]), [x], 11)).toEqual({ dims: [2, 1], values: [6, 15] });
    expect(one(node('ReduceSum', [attr('keepdims', 0)]), [x, i64([0])], 13)).toEqual({ dims: [3], values: [5, 7, 9] });
    expect(one(node('ReduceMean', [attr('axes', [-1])]), [x], 17).values).toEqual([2, 5]);
    expect(one(node('ReduceMax'), [x, i64([0])], 18).values).toEqual([4, 5, 6]);
    expect(() => run(node('ReduceMean', [attr('axes', [0])]), [x], 18)).toThrow(/input from opset 18/);
  });

  it('reduces everything for empty axes unless noop_with_empty_axes', () => {
    expect(one(node('ReduceProd'), [x], 17)).toEqual({ dims: [1, 1], values: [720] });
    expect(one(node('ReduceSum', [attr('noop_with_empty_axes', 1)]), [x, i64([])], 13).values).toEqual([
      1, 2, 3, 4, 5, 6,
    ]);
  });

  it('averages integers with truncation and refuses an empty max', () => {
    expect(one(node('ReduceMean'), [t(INT32, [3], [-1, -1, -1]).withName(''), undefined], 17).values).toEqual([-1]);
    expect(one(node('ReduceMean'), [t(INT32, [2], [-1, -2])], 17).values).toEqual([-1]);
    expect(() => run(node('ReduceMax'), [f32([0], [])], 17)).toThrow(UnsupportedOp);
    expect(one(node('ReduceSum'), [f32([0], [])], 17).values).toEqual([0]);
  });
});

describe('Softmax', () => {
  const x = f32([2, 2], [0, Math.log(3), 0, 0]);

  it('normalizes the flattened tail before opset 13 and one axis from 13', () => {
    const legacy = one(node('Softmax', [attr('axis', 0)]), [x], 11).values as number[];
    expect(legacy.map((v) => v * 6)).toEqual([1, 3, 1, 1].map((v) => expect.closeTo(v, 5)));
    const perAxis = one(node('Softmax', [attr('axis', 0)]), [x], 13).values as number[];
    expect(perAxis).toEqual([0.5, 0.75, 0.5, 0.25].map((v) => expect.closeTo(v, 6)));
  });
});

describe('MatMul and Gemm', () => {
  const seq = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

  it('handles 1-D operands and broadcast batches', () => {
    expect(one(node('MatMul'), [f32([3], [1, 2, 3]), f32([3], [4, 5, 6])])).toEqual({ dims: [], values: [32] });
    expect(one(node('MatMul'), [f32([2, 1, 3], seq(6)), f32([3], [1, 0, 1])])).toEqual({
      dims: [2, 1],
      values: [4, 10],
    });
    expect(one(node('MatMul'), [f32([2], [1, 1]), f32([3, 2, 2], seq(12))])).toEqual({
      dims: [3, 2],
      values: [4, 6, 12, 14, 20, 22],
    });
    const batched = one(node('MatMul'), [f32([1, 2, 2], [1, 0, 0, 1]), f32([3, 2, 1], seq(6))]);
    expect(batched).toEqual({ dims: [3, 2, 1], values: seq(6) });
  });

  it('gives every row the same sums, in blocks of four rows and in the rows left over', () => {
    // 6 rows: one block of four, two rows alone; batched so each block starts at an offset
    const [m, k, n] = [6, 5, 3];
    const a = Array.from({ length: 2 * m * k }, (_, i) => ((i * 7) % 11) - 5);
    const b = Array.from({ length: k * n }, (_, i) => ((i * 5) % 7) - 3);
    const expected: number[] = [];
    for (let batch = 0; batch < 2; batch++)
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let p = 0; p < k; p++) acc += a[(batch * m + i) * k + p]! * b[p * n + j]!;
          expected.push(acc);
        }
    expect(one(node('MatMul'), [f32([2, m, k], a), f32([k, n], b)])).toEqual({ dims: [2, m, n], values: expected });
  });

  it('multiplies integers modulo 2^bits', () => {
    expect(one(node('MatMul'), [i64([2n ** 62n, 3n], [1, 2]), i64([4n, 1n], [2, 1])]).values).toEqual([3n]);
  });

  it('applies Gemm transposes, alpha, beta and a broadcast C', () => {
    const op = node('Gemm', [attr('transA', 1), attr('alpha', 2, true), attr('beta', 10, true)]);
    const r = one(op, [f32([2, 1], [1, 2]), f32([2, 2], [1, 2, 3, 4]), f32([2], [1, -1])]);
    expect(r).toEqual({ dims: [1, 2], values: [2 * 7 + 10, 2 * 10 - 10] });
  });
});

describe('generators', () => {
  it('builds every Constant form', () => {
    expect(one(node('Constant', [attr('value_float', 1.5, true)]), []).values).toEqual([1.5]);
    expect(one(node('Constant', [attr('value_ints', [1, 2])]), [])).toEqual({ dims: [2], values: [1n, 2n] });
    expect(one(node('Constant', [attr('value_int', 7)]), [])).toEqual({ dims: [], values: [7n] });
    const sparse: Attribute = {
      name: 'sparse_value',
      type: 'sparse_tensor',
      value: { values: f32([2], [5, 6]), indices: i64([1, 3]), dims: [2, 2] },
    };
    expect(one(node('Constant', [sparse]), [])).toEqual({ dims: [2, 2], values: [0, 5, 0, 6] });
    expect(() => run(node('Constant', [attr('value_int', 1), attr('value_float', 1, true)]), [])).toThrow(
      /exactly one/,
    );
  });

  it('fills ConstantOfShape, float32 zero by default', () => {
    expect(one(node('ConstantOfShape'), [i64([2, 1])])).toEqual({ dims: [2, 1], values: [0, 0] });
    const op = node('ConstantOfShape', [attr('value', t(INT8, [1], [-3]))]);
    expect(one(op, [i64([3])]).values).toEqual([-3, -3, -3]);
  });

  it('accumulates Range in the output type and counts with ceil', () => {
    expect(one(node('Range'), [i64([10]), i64([-1]), i64([-4])]).values).toEqual([10n, 6n, 2n]);
    expect(one(node('Range'), [f32([], [0]), f32([], [1]), f32([], [0.3])]).values).toEqual([
      0,
      Math.fround(0.3),
      Math.fround(Math.fround(0.3) + Math.fround(0.3)),
      Math.fround(Math.fround(Math.fround(0.3) * 2) + Math.fround(0.3)),
    ]);
    expect(one(node('Range'), [i64([0]), i64([-5]), i64([1])]).values).toEqual([]);
  });

  it('tiles, expands and gathers with negative indices', () => {
    expect(one(node('Tile'), [f32([2], [1, 2]), i64([3])]).values).toEqual([1, 2, 1, 2, 1, 2]);
    expect(one(node('Expand'), [f32([2, 1], [1, 2]), i64([1, 3])])).toEqual({
      dims: [2, 3],
      values: [1, 1, 1, 2, 2, 2],
    });
    const g = one(node('Gather', [attr('axis', 1)]), [f32([2, 3], [1, 2, 3, 4, 5, 6]), i64([-1], [])]);
    expect(g).toEqual({ dims: [2], values: [3, 6] });
    expect(() => run(node('Gather'), [f32([2], [1, 2]), i64([2])])).toThrow(/out of range/);
  });
});

describe('math', () => {
  it('computes erf to float64 accuracy, near zero and in the tails', () => {
    const known: [number, number][] = [
      [1e-3, 0.0011283787909692363],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3.5, 0.9999992569016276],
      [-2.5, -0.999593047982555],
    ];
    for (const [x, y] of known) expect(erf(x)).toBeCloseTo(y, 14);
  });

  it('rounds half to even', () => {
    expect(one(node('Round'), [f32([6], [0.5, 1.5, 2.5, -0.5, -1.5, 2.4])]).values).toEqual([0, 2, 2, -0, -2, 2]);
  });
});

describe('refusals and guarantees', () => {
  it('refuses other domains, unknown ops and unknown attributes', () => {
    const x = f32([1], [1]);
    expect(() => run(node('Relu', [], 1, 'com.microsoft'), [x])).toThrow(UnsupportedOp);
    expect(() => run(node('RandomNormalLike'), [x])).toThrow(UnsupportedOp);
    expect(() => run(node('Relu', [attr('alpha', 1)]), [x])).toThrow(/unknown attribute 'alpha'/);
    expect(() => run(node('Relu'), [t(INT32, [1], [1])], 13)).toThrow(UnsupportedOp);
    expect(() => run(node('Sqrt'), [t(INT32, [1], [1])])).toThrow(UnsupportedOp);
  });

  it('reports invalid inputs as OnnxOptError, not as unsupported', () => {
    let caught: unknown;
    try {
      run(node('Add'), [f32([1], [1]), t(DOUBLE, [1], [1])]);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(OnnxOptError);
    expect(caught).not.toBeInstanceOf(UnsupportedOp);
  });

  it('stops before allocating outputs over the budget', () => {
    const op = node('ConstantOfShape');
    expect(() => evaluateNode(op, [i64([100000, 100000])], 17, { maxOutputBytes: 4000 })).toThrow(/exceeds the limit/);
    expect(() => evaluateNode(op, [i64([10, 101])], 17, { maxOutputBytes: 4000 })).toThrow(/exceeds the limit/);
    expect(evaluateNode(op, [i64([10, 100])], 17, { maxOutputBytes: 4000 })[0]!.size).toBe(1000);
  });

  it('never hands back an input tensor object', () => {
    const x = f32([2], [1, 2]);
    for (const [op, inputs] of [
      [node('Identity'), [x]],
      [node('Cast', [attr('to', FLOAT)]), [x]],
    ] as const) {
      const [out] = run(op, [...inputs]);
      expect(out).not.toBe(x);
      expect(elementsOf(out!)).toEqual([1, 2]);
    }
  });
});

describe('broadcasting and concatenation paths', () => {
  // The kernels take shortcuts for an operand of the result's shape, a scalar second operand and typed storage:
  // every shortcut against the elementwise definition.
  const shapes: [number[], number[]][] = [
    [
      [2, 3],
      [2, 3],
    ],
    [[2, 3], []],
    [
      [2, 3],
      [1, 1],
    ],
    [[], [2, 3]],
    [
      [2, 1],
      [1, 3],
    ],
    [[3], [2, 3]],
  ];
  const count = (d: number[]) => d.reduce((a, b) => a * b, 1);
  const at = (d: number[], out: number[], i: number) => {
    // the element of shape d that element i of shape `out` reads
    let rest = i,
      pos = 0,
      stride = 1;
    for (let k = out.length - 1; k >= 0; k--) {
      const j = k - (out.length - d.length);
      const idx = rest % out[k]!;
      rest = Math.floor(rest / out[k]!);
      if (j >= 0) {
        if (d[j] !== 1) pos += idx * stride;
        stride *= d[j]!;
      }
    }
    return pos;
  };
  it.each(shapes)('Sub of [%s] and [%s], as float and as int64', (da, db) => {
    const out =
      da.length >= db.length
        ? da.map((d, k) => Math.max(d, db[k - (da.length - db.length)] ?? 1))
        : db.map((d, k) => Math.max(d, da[k - (db.length - da.length)] ?? 1));
    const a = Array.from({ length: count(da) }, (_, i) => 10 * i + 1);
    const b = Array.from({ length: count(db) }, (_, i) => i + 3);
    const expected = Array.from({ length: count(out) }, (_, i) => a[at(da, out, i)]! - b[at(db, out, i)]!);
    expect(one(node('Sub'), [f32(da, a), f32(db, b)])).toEqual({ dims: out, values: expected });
    expect(one(node('Sub'), [t(INT64, da, a.map(BigInt)), t(INT64, db, b.map(BigInt))])).toEqual({
      dims: out,
      values: expected.map(BigInt),
    });
  });

  it('concatenates typed and string elements alike', () => {
    expect(one(node('Concat', [attr('axis', 1)]), [f32([2, 1], [1, 2]), f32([2, 2], [3, 4, 5, 6])]).values).toEqual([
      1, 3, 4, 2, 5, 6,
    ]);
    const s = (dims: number[], v: string[]) => new Tensor('', DataType.STRING, dims, v.map(encodeString));
    const [joined] = run(node('Concat', [attr('axis', 1)]), [s([2, 1], ['a', 'b']), s([2, 2], ['c', 'd', 'e', 'f'])]);
    expect(joined!.strings!.map((x) => new TextDecoder().decode(x))).toEqual(['a', 'c', 'd', 'b', 'e', 'f']);
  });
});
