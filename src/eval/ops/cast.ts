// Cast and CastLike between numeric types and bool. Floats round to nearest even (float16/bfloat16 via float32,
// as onnxruntime converts); float -> integer truncates toward zero and refuses values the target cannot hold
// (C++ leaves those undefined), but for values below an int32/int64 range, -Infinity included: x86 and ARM both
// give the type's minimum there, and exporters rely on it (T5/MPNet relative position buckets cast log(0)).
// Integer -> narrower integer wraps.
import type { Tensor } from '../../ir/tensor.js';
import { DataType, dataTypeName } from '../../tensor/dtype.js';
import type { Inputs, KernelContext, OpDef } from '../kernel.js';
import { bigintToFloat32 } from '../math.js';
import {
  fromNumbers,
  integerRange,
  isFloat,
  isNumeric,
  isWide,
  newNumbers,
  numbersOf,
  type BigArray,
} from '../values.js';

const castable = (t: number) => isNumeric(t) || t === DataType.BOOL;

function castTensor(ctx: KernelContext, x: Tensor, to: number): Tensor {
  if (!castable(x.dataType)) ctx.unsupported(`cast from ${dataTypeName(x.dataType)}`);
  if (!castable(to)) ctx.unsupported(`cast to ${dataTypeName(to)}`);
  if (x.dataType === to) return x.withName('');
  const src = numbersOf(x);
  const out = newNumbers(ctx, to, src.length);
  if (to === DataType.BOOL) {
    // Nonzero is true, NaN included (as static_cast<bool> has it).
    for (let i = 0; i < src.length; i++) (out as Float64Array)[i] = src[i] === 0 || src[i] === 0n ? 0 : 1;
  } else if (isFloat(to)) {
    // Integers beyond 2^53 need one correct rounding; a plain Number() would round twice on the way to float32.
    const fromBig = to === DataType.DOUBLE ? Number : bigintToFloat32;
    for (let i = 0; i < src.length; i++) {
      const v = src[i]!;
      (out as Float64Array)[i] = typeof v === 'bigint' ? fromBig(v) : v;
    }
  } else if (isFloat(x.dataType)) {
    const [lo, hi] = integerRange(to);
    for (let i = 0; i < src.length; i++) {
      const v = Math.trunc(src[i] as number);
      const below = v === -Infinity || (Number.isFinite(v) && BigInt(v) < lo);
      if (below && (to === DataType.INT64 || to === DataType.INT32)) {
        if (isWide(to)) (out as BigArray)[i] = lo;
        else (out as Float64Array)[i] = Number(lo);
        continue;
      }
      if (!Number.isFinite(v) || BigInt(v) < lo || BigInt(v) > hi)
        ctx.unsupported(`${src[i]} does not fit ${dataTypeName(to)}`);
      if (isWide(to)) (out as BigArray)[i] = BigInt(v);
      else (out as Float64Array)[i] = v;
    }
  } else if (isWide(to)) {
    for (let i = 0; i < src.length; i++) (out as BigArray)[i] = BigInt(src[i]!);
  } else {
    // Integer to narrower integer keeps the low bits; the typed array store does the wrapping.
    for (let i = 0; i < src.length; i++) {
      const v = src[i]!;
      (out as Float64Array)[i] = typeof v === 'bigint' ? Number(BigInt.asIntN(32, v)) : v;
    }
  }
  return fromNumbers(to, x.dims, out);
}

function targetType(ctx: KernelContext): number {
  const a = ctx.attribute('to');
  if (a?.type === 'int') return Number(a.value);
  // Cast-1 named the type as a string such as "FLOAT".
  if (a?.type === 'string') {
    const name = ctx.string('to')!.toUpperCase();
    const t = (DataType as Record<string, number>)[name];
    if (t !== undefined) return t;
  }
  return ctx.invalid("missing or bad 'to'");
}

function cast(inputs: Inputs, ctx: KernelContext): Tensor[] {
  return [castTensor(ctx, ctx.input(inputs, 0), targetType(ctx))];
}

function castLike(inputs: Inputs, ctx: KernelContext): Tensor[] {
  return [castTensor(ctx, ctx.input(inputs, 0), ctx.input(inputs, 1).dataType)];
}

// saturate and round_mode only affect float8 targets, which are refused.
export const castOps: Record<string, OpDef> = {
  Cast: { kernel: cast, attributes: ['to', 'saturate', 'round_mode'] },
  CastLike: { kernel: castLike, attributes: ['saturate', 'round_mode'], since: 15 },
};
