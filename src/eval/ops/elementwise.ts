// Elementwise math with numpy broadcasting: unary functions, binary arithmetic, variadic Min/Max/Sum/Mean, Clip.
// Results are computed in double precision and rounded once to the output type, which for +, -, *, /, sqrt is
// exactly IEEE single (or half) precision arithmetic.
import { DataType, dataTypeName } from '../../tensor/dtype.js';
import { Tensor, elementCount } from '../../ir/tensor.js';
import { erf, roundHalfEven } from '../math.js';
import { UnsupportedOp, type Inputs, type KernelContext, type OpDef } from '../kernel.js';
import {
  broadcastDims,
  broadcastPositions,
  checkType,
  fromNumbers,
  integerRange,
  isBig,
  isFloat,
  isWide,
  newNumbers,
  numbersOf,
  sameShape,
  sameType,
  scalarOf,
  type BigArray,
  type NumberArray,
  type TypeClass,
} from '../values.js';

interface UnaryDef {
  types: TypeClass;
  num: (x: number) => number;
  big?: (x: bigint) => bigint;
}

const unaryDefs: Record<string, UnaryDef> = {
  Neg: { types: 'signed', num: (x) => -x, big: (x) => -x },
  Abs: { types: 'numeric', num: Math.abs, big: (x) => (x < 0n ? -x : x) },
  Sign: { types: 'numeric', num: Math.sign, big: (x) => (x > 0n ? 1n : x < 0n ? -1n : 0n) },
  Relu: { types: 'signed', num: (x) => (x > 0 ? x : Number.isNaN(x) ? x : 0), big: (x) => (x > 0n ? x : 0n) },
  Sqrt: { types: 'float', num: Math.sqrt },
  Exp: { types: 'float', num: Math.exp },
  Log: { types: 'float', num: Math.log },
  Reciprocal: { types: 'float', num: (x) => 1 / x },
  Erf: { types: 'float', num: erf },
  Tanh: { types: 'float', num: Math.tanh },
  Sigmoid: { types: 'float', num: (x) => 1 / (1 + Math.exp(-x)) },
  Floor: { types: 'float', num: Math.floor },
  Ceil: { types: 'float', num: Math.ceil },
  Round: { types: 'float', num: roundHalfEven },
  Sin: { types: 'float', num: Math.sin },
  Cos: { types: 'float', num: Math.cos },
  Tan: { types: 'float', num: Math.tan },
  Asin: { types: 'float', num: Math.asin },
  Acos: { types: 'float', num: Math.acos },
  Atan: { types: 'float', num: Math.atan },
  Sinh: { types: 'float', num: Math.sinh },
  Cosh: { types: 'float', num: Math.cosh },
  Asinh: { types: 'float', num: Math.asinh },
  Acosh: { types: 'float', num: Math.acosh },
  Atanh: { types: 'float', num: Math.atanh },
};

/**
 * Storage for results written once each: float32 ones straight into a Float32Array (storing a double there rounds
 * it as fromNumbers would), others as newNumbers makes them.
 */
function newResults(ctx: KernelContext, t: number, count: number): Float32Array | Float64Array | BigArray {
  if (t !== DataType.FLOAT) return newNumbers(ctx, t, count);
  ctx.reserve(count, t);
  return new Float32Array(count);
}

/** The tensor of results made by newResults. */
function results(t: number, dims: readonly number[], values: Float32Array | Float64Array | BigArray): Tensor {
  return values instanceof Float32Array ? Tensor.fromArray('', t, dims, values) : fromNumbers(t, dims, values);
}

function unary(op: string, def: UnaryDef) {
  return (inputs: Inputs, ctx: KernelContext): Tensor[] => {
    const x = ctx.input(inputs, 0);
    checkType(ctx, x.dataType, def.types);
    // Relu took integer types only at opset 14.
    if (op === 'Relu' && !isFloat(x.dataType) && ctx.opset < 14) ctx.unsupported(`integer Relu before opset 14`);
    const src = numbersOf(x);
    const out = newResults(ctx, x.dataType, src.length);
    if (isBig(src)) {
      if (!def.big) ctx.unsupported(`element type ${dataTypeName(x.dataType)}`);
      for (let i = 0; i < src.length; i++) (out as BigArray)[i] = def.big(src[i]!);
    } else {
      for (let i = 0; i < src.length; i++) (out as Float64Array)[i] = def.num(src[i]!);
    }
    return [results(x.dataType, x.dims, out)];
  };
}

interface BinaryDef {
  types: TypeClass;
  num: (a: number, b: number) => number;
  /** For integer types held as numbers, when it differs from `num` (products need the low 32 bits exactly). */
  int?: (a: number, b: number) => number;
  big?: (a: bigint, b: bigint) => bigint;
}

function noIntegerZero(b: number | bigint): void {
  if (b === 0 || b === 0n) throw new UnsupportedOp('integer division by zero');
}

const binaryDefs: Record<string, BinaryDef> = {
  Add: { types: 'numeric', num: (a, b) => a + b, big: (a, b) => a + b },
  Sub: { types: 'numeric', num: (a, b) => a - b, big: (a, b) => a - b },
  Mul: { types: 'numeric', num: (a, b) => a * b, int: Math.imul, big: (a, b) => a * b },
  // Integer division truncates toward zero (C++ and onnxruntime; the ONNX reference casts a/b back to int).
  Div: {
    types: 'numeric',
    num: (a, b) => a / b,
    int: (a, b) => (noIntegerZero(b), Math.trunc(a / b)),
    big: (a, b) => (noIntegerZero(b), a / b),
  },
};

/** Elementwise a op b over the broadcast shape, as `outType`; `num` handles numbers, `big` int64/uint64 pairs. */
export function broadcastBinary(
  ctx: KernelContext,
  a: Tensor,
  b: Tensor,
  outType: number,
  num: ((a: number, b: number) => number) | undefined,
  big: ((a: bigint, b: bigint) => bigint | number) | undefined,
): Tensor {
  const dims = broadcastDims(ctx, [a.dims, b.dims]);
  const count = elementCount(dims);
  // no positions are made for an operand of the result's shape (it reads its own) nor for a scalar b with such an a
  const scalarB = sameShape(a.dims, dims) && elementCount(b.dims) === 1;
  const pa = sameShape(a.dims, dims) ? (ctx.reserve(count), undefined) : broadcastPositions(ctx, a.dims, dims);
  const pb =
    sameShape(b.dims, dims) || scalarB ? (ctx.reserve(count), undefined) : broadcastPositions(ctx, b.dims, dims);
  const va = numbersOf(a);
  const vb = numbersOf(b);
  const out = newResults(ctx, outType, count) as unknown as { [i: number]: number | bigint };
  if (isBig(va) || isBig(vb)) {
    if (!big || !isBig(va) || !isBig(vb))
      return ctx.unsupported(`element types ${dataTypeName(a.dataType)}, ${dataTypeName(b.dataType)}`);
    // Bigint results fill int64/uint64 outputs; others (bool from comparisons, narrower integers) take numbers.
    const store = isWide(outType) ? (r: bigint | number) => r : Number;
    for (let i = 0; i < count; i++) out[i] = store(big(va[pa ? pa[i]! : i]!, vb[scalarB ? 0 : pb ? pb[i]! : i]!));
  } else {
    if (!num) return ctx.unsupported(`element types ${dataTypeName(a.dataType)}, ${dataTypeName(b.dataType)}`);
    const [xa, xb] = [va as NumberArray, vb as NumberArray];
    if (scalarB) for (let i = 0, y = xb[0]!; i < count; i++) out[i] = num(xa[i]!, y);
    else if (!pa && !pb) for (let i = 0; i < count; i++) out[i] = num(xa[i]!, xb[i]!);
    else if (!pa) for (let i = 0; i < count; i++) out[i] = num(xa[i]!, xb[pb![i]!]!);
    else if (!pb) for (let i = 0; i < count; i++) out[i] = num(xa[pa[i]!]!, xb[i]!);
    else for (let i = 0; i < count; i++) out[i] = num(xa[pa[i]!]!, xb[pb[i]!]!);
  }
  return results(outType, dims, out as unknown as Float64Array | BigArray);
}

/** Before opset 7 binary ops broadcast only through the legacy `broadcast`/`axis` attributes: refuse that form. */
export function checkLegacyBroadcast(ctx: KernelContext, tensors: readonly Tensor[]): void {
  if (ctx.opset >= 7) return;
  const first = tensors[0]!.dims.join(',');
  if (tensors.some((t) => t.dims.join(',') !== first)) ctx.unsupported(`legacy (opset ${ctx.opset}) broadcasting`);
}

function binary(def: BinaryDef) {
  return (inputs: Inputs, ctx: KernelContext): Tensor[] => {
    const a = ctx.input(inputs, 0);
    const b = ctx.input(inputs, 1);
    const type = sameType(ctx, [a, b]);
    checkType(ctx, type, def.types);
    checkLegacyBroadcast(ctx, [a, b]);
    const num = isFloat(type) ? def.num : (def.int ?? def.num);
    return [broadcastBinary(ctx, a, b, type, num, def.big)];
  };
}

/**
 * Pow: the result has the base's type. Integer powers are exact, and refused when negative or when the base type
 * cannot hold them (C++ leaves that undefined, numpy wraps); an integer base with a float exponent truncates the
 * double result toward zero, as std::pow cast back does.
 */
function pow(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  const y = ctx.input(inputs, 1);
  checkType(ctx, x.dataType, 'numeric');
  checkType(ctx, y.dataType, 'numeric');
  if (ctx.opset < 12 && x.dataType !== y.dataType) ctx.invalid('base and exponent types differ before opset 12');
  checkLegacyBroadcast(ctx, [x, y]);
  if (isFloat(x.dataType)) {
    return [broadcastBinary(ctx, x, asNumbers(y), x.dataType, Math.pow, undefined)];
  }
  if (isFloat(y.dataType)) {
    const [lo, hi] = integerRange(x.dataType);
    const truncated = (a: number, b: number) => {
      const r = Math.trunc(Math.pow(a, b));
      if (!Number.isSafeInteger(r) || BigInt(r) < lo || BigInt(r) > hi)
        throw new UnsupportedOp(`Pow: ${a}^${b} does not fit ${dataTypeName(x.dataType)}`);
      return r;
    };
    const doubles = broadcastBinary(ctx, asNumbers(x), y, DataType.DOUBLE, truncated, undefined);
    return [fromNumbers(x.dataType, doubles.dims, numbersOf(doubles) as Float64Array)];
  }
  return [broadcastBinary(ctx, asBigInts(x), asBigInts(y), x.dataType, undefined, integerPower(x.dataType))];
}

/** a^b for integers of type t, exactly. */
function integerPower(t: number): (a: bigint, b: bigint) => bigint {
  const [lo, hi] = integerRange(t);
  return (a, b) => {
    if (b < 0n) throw new UnsupportedOp('Pow: integer base with a negative exponent');
    // |a| >= 2 overflows every integer type beyond the 64th power; 0, 1 and -1 never do.
    const r = b === 0n ? 1n : a >= -1n && a <= 1n ? (a === -1n && b % 2n === 0n ? 1n : a) : b > 64n ? hi + 1n : a ** b;
    if (r < lo || r > hi) throw new UnsupportedOp(`Pow: ${a}^${b} does not fit ${dataTypeName(t)}`);
    return r;
  };
}

/** int64/uint64 elements as doubles (exponents only need their value), other tensors as they are. */
function asNumbers(t: Tensor): Tensor {
  return isWide(t.dataType)
    ? fromNumbers(DataType.DOUBLE, t.dims, Float64Array.from(numbersOf(t) as BigArray, Number))
    : t;
}

/** Integer elements as int64 (uint64 stays), so integer powers of mixed widths compute on bigints. */
function asBigInts(t: Tensor): Tensor {
  return isWide(t.dataType)
    ? t
    : fromNumbers(
        DataType.INT64,
        t.dims,
        BigInt64Array.from(numbersOf(t) as NumberArray, (v) => BigInt(v)),
      );
}

/** Mod: fmod=1 keeps the dividend's sign (C fmod); fmod=0 (integers only) the divisor's, like Python's %. */
function mod(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const a = ctx.input(inputs, 0);
  const b = ctx.input(inputs, 1);
  const type = sameType(ctx, [a, b]);
  checkType(ctx, type, 'numeric');
  const fmod = ctx.int('fmod', 0);
  if (fmod !== 0 && fmod !== 1) ctx.invalid(`fmod must be 0 or 1, got ${fmod}`);
  if (isFloat(type) && fmod === 0) ctx.invalid('floating point Mod needs fmod=1');
  const num = fmod
    ? (x: number, y: number) => (isFloat(type) ? x % y : (noIntegerZero(y), x % y))
    : (x: number, y: number) => {
        noIntegerZero(y);
        const r = x % y;
        return r !== 0 && r < 0 !== y < 0 ? r + y : r;
      };
  const big = (x: bigint, y: bigint) => {
    noIntegerZero(y);
    const r = x % y;
    return fmod || r === 0n || r < 0n === y < 0n ? r : r + y;
  };
  return [broadcastBinary(ctx, a, b, type, num, big)];
}

interface VariadicDef {
  types: TypeClass;
  num: (a: number, b: number) => number;
  big?: (a: bigint, b: bigint) => bigint;
  mean?: boolean;
}

const variadicDefs: Record<string, VariadicDef> = {
  Sum: { types: 'float', num: (a, b) => a + b },
  Mean: { types: 'float', num: (a, b) => a + b, mean: true },
  // NaN propagates, as in numpy and onnxruntime.
  Max: { types: 'numeric', num: (a, b) => (a > b || Number.isNaN(a) ? a : b), big: (a, b) => (a > b ? a : b) },
  Min: { types: 'numeric', num: (a, b) => (a < b || Number.isNaN(a) ? a : b), big: (a, b) => (a < b ? a : b) },
};

function variadic(def: VariadicDef) {
  return (inputs: Inputs, ctx: KernelContext): Tensor[] => {
    if (inputs.length === 0) ctx.invalid('needs at least one input');
    const xs = inputs.map((_, i) => ctx.input(inputs, i));
    const type = sameType(ctx, xs);
    checkType(ctx, type, def.types);
    if (!isFloat(type) && ctx.opset < 12) ctx.unsupported('integer inputs before opset 12');
    if (ctx.opset < 8) checkLegacyBroadcast(ctx, xs);
    // Each step rounds to the output type, as a chain of binary ops would.
    let acc = broadcastBinary(
      ctx,
      xs[0]!,
      xs[0]!,
      type,
      (a) => a,
      (a) => a,
    );
    for (const x of xs.slice(1)) acc = broadcastBinary(ctx, acc, x, type, def.num, def.big);
    if (def.mean) acc = broadcastBinary(ctx, acc, acc, type, (a) => a / xs.length, undefined);
    return [acc];
  };
}

/** Clip: bounds are attributes before opset 11, optional scalar inputs from 11. NaN passes through. */
function clip(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  checkType(ctx, x.dataType, ctx.opset < 12 ? 'float' : 'numeric');
  let lo: number | bigint | undefined;
  let hi: number | bigint | undefined;
  if (ctx.opset < 11) {
    ctx.maxInputs(inputs, 1);
    lo = ctx.float('min', -3.4028234663852886e38);
    hi = ctx.float('max', 3.4028234663852886e38);
  } else {
    for (const [i, what] of [
      [1, 'min'],
      [2, 'max'],
    ] as const) {
      const t = inputs[i];
      if (!t) continue;
      if (t.dataType !== x.dataType)
        ctx.invalid(`${what} is ${dataTypeName(t.dataType)}, input is ${dataTypeName(x.dataType)}`);
      if (what === 'min') lo = scalarOf(ctx, t, what);
      else hi = scalarOf(ctx, t, what);
    }
  }
  const bound = <T extends number | bigint>(v: T): T => {
    let y = lo !== undefined && v < lo ? (lo as T) : v;
    y = hi !== undefined && hi < y ? (hi as T) : y;
    return y;
  };
  const src = numbersOf(x);
  const out = newNumbers(ctx, x.dataType, src.length) as unknown as { [i: number]: number | bigint };
  for (let i = 0; i < src.length; i++) out[i] = bound(src[i]!);
  return [fromNumbers(x.dataType, x.dims, out as unknown as Float64Array | BigArray)];
}

const legacyBinaryAttrs = ['broadcast', 'axis', 'consumed_inputs'];

export const elementwiseOps: Record<string, OpDef> = {
  ...Object.fromEntries(
    Object.entries(unaryDefs).map(([op, def]) => [op, { kernel: unary(op, def), attributes: ['consumed_inputs'] }]),
  ),
  ...Object.fromEntries(
    Object.entries(binaryDefs).map(([op, def]) => [op, { kernel: binary(def), attributes: legacyBinaryAttrs }]),
  ),
  ...Object.fromEntries(
    Object.entries(variadicDefs).map(([op, def]) => [op, { kernel: variadic(def), attributes: ['consumed_inputs'] }]),
  ),
  Pow: { kernel: pow, attributes: ['broadcast', 'axis'] },
  Mod: { kernel: mod, attributes: ['fmod'], since: 10 },
  Clip: { kernel: clip, attributes: ['min', 'max', 'consumed_inputs'] },
};
