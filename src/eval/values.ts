// Reading tensors as numbers or as movable elements, building result tensors, and index arithmetic
// (broadcasting, strided views) shared by the kernels.
import { Tensor, elementCount } from '../ir/tensor.js';
import { DataType, bitsPerElement, dataTypeName, typedArrayFor, type TypedArray } from '../tensor/dtype.js';
import {
  bfloat16BitsToNumber,
  float16BitsToNumber,
  numberToBfloat16Bits,
  numberToFloat16Bits,
} from '../tensor/float16.js';
import type { KernelContext } from './kernel.js';

const FLOATS: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);
const SIGNED_INTS: ReadonlySet<number> = new Set([DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64]);
const UNSIGNED_INTS: ReadonlySet<number> = new Set([DataType.UINT8, DataType.UINT16, DataType.UINT32, DataType.UINT64]);

export const isFloat = (t: number): boolean => FLOATS.has(t);
export const isNumeric = (t: number): boolean => isFloat(t) || SIGNED_INTS.has(t) || UNSIGNED_INTS.has(t);
/** int64 and uint64 elements are bigints; every other numeric type is computed as JS numbers. */
export const isWide = (t: number): boolean => t === DataType.INT64 || t === DataType.UINT64;

/** Type classes kernels accept. */
export type TypeClass = 'float' | 'signed' | 'numeric' | 'bool' | 'any';

/** The smallest and largest value of an integer type. */
export function integerRange(t: number): [bigint, bigint] {
  const bits = BigInt(bitsPerElement(t));
  return SIGNED_INTS.has(t) ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n] : [0n, (1n << bits) - 1n];
}

export function checkType(ctx: KernelContext, t: number, accepted: TypeClass): void {
  const ok =
    accepted === 'float'
      ? isFloat(t)
      : accepted === 'signed'
        ? isFloat(t) || SIGNED_INTS.has(t)
        : accepted === 'numeric'
          ? isNumeric(t)
          : accepted === 'bool'
            ? t === DataType.BOOL
            : isMovable(t);
  if (!ok) ctx.unsupported(`element type ${dataTypeName(t)}`);
}

export function sameType(ctx: KernelContext, tensors: readonly Tensor[]): number {
  const t = tensors[0]!.dataType;
  for (const x of tensors) {
    if (x.dataType !== t) ctx.invalid(`inputs mix ${dataTypeName(t)} and ${dataTypeName(x.dataType)}`);
  }
  return t;
}

export type BigArray = BigInt64Array | BigUint64Array;
export type NumberArray = ArrayLike<number>;

export function isBig(a: NumberArray | BigArray): a is BigArray {
  return a instanceof BigInt64Array || a instanceof BigUint64Array;
}

/** Elements as numbers (float16/bfloat16 decoded, bool as 0/1) or, for int64/uint64, as bigints. */
export function numbersOf(t: Tensor): NumberArray | BigArray {
  if (t.dataType === DataType.FLOAT16) return Float64Array.from(t.typed() as Uint16Array, float16BitsToNumber);
  if (t.dataType === DataType.BFLOAT16) return Float64Array.from(t.typed() as Uint16Array, bfloat16BitsToNumber);
  return t.typed();
}

/** Scratch space for `count` results of type t: bigints for int64/uint64, else float64 numbers. */
export function newNumbers(ctx: KernelContext, t: number, count: number): Float64Array | BigArray {
  ctx.reserve(count, t);
  if (t === DataType.INT64) return new BigInt64Array(count);
  if (t === DataType.UINT64) return new BigUint64Array(count);
  return new Float64Array(count);
}

/** Rounds a number to the precision of float type t, for computations that must round at every step. */
export function rounder(t: number): (x: number) => number {
  switch (t) {
    case DataType.FLOAT:
      return Math.fround;
    case DataType.FLOAT16:
      return (x) => float16BitsToNumber(numberToFloat16Bits(x));
    case DataType.BFLOAT16:
      return (x) => bfloat16BitsToNumber(numberToBfloat16Bits(x));
    default:
      return (x) => x;
  }
}

/**
 * A tensor of type t from computed values. Floats round to nearest even; integers are stored modulo 2^bits (the
 * values are exact integers already); bool stores nonzero as 1.
 */
export function fromNumbers(t: number, dims: readonly number[], values: NumberArray | BigArray): Tensor {
  let stored: TypedArray;
  if (t === DataType.FLOAT16) stored = Uint16Array.from(values as NumberArray, numberToFloat16Bits);
  else if (t === DataType.BFLOAT16) stored = Uint16Array.from(values as NumberArray, numberToBfloat16Bits);
  else if (t === DataType.BOOL) stored = Uint8Array.from(values as NumberArray, (v) => (v ? 1 : 0));
  else if (isWide(t)) {
    const Ctor = t === DataType.INT64 ? BigInt64Array : BigUint64Array;
    stored = isBig(values)
      ? values.constructor === Ctor
        ? values
        : new Ctor(values)
      : new Ctor(Array.from(values, (v) => BigInt(v)));
  } else {
    const Ctor = typedArrayFor(t) as unknown as new (v: ArrayLike<number>) => TypedArray;
    stored = new Ctor(isBig(values) ? Array.from(values, Number) : values);
  }
  return Tensor.fromArray('', t, dims, stored);
}

/** Element types the evaluator can copy between tensors: numbers, bool and strings. */
function isMovable(t: number): boolean {
  return isNumeric(t) || t === DataType.BOOL || t === DataType.STRING;
}

/** A tensor's elements in storage form (float16 as bits, strings as bytes), for ops that only move them. */
export type Elements = TypedArray | Uint8Array[];
type Slots = { [index: number]: unknown };

export function elementsOf(ctx: KernelContext, t: Tensor): Elements {
  if (!isMovable(t.dataType)) ctx.unsupported(`element type ${dataTypeName(t.dataType)}`);
  return t.strings ?? t.typed();
}

/** A tensor whose element i is source element positions[i]. */
export function take(
  ctx: KernelContext,
  source: Tensor,
  dims: readonly number[],
  positions: ArrayLike<number>,
): Tensor {
  const from = elementsOf(ctx, source) as unknown as Slots;
  const out = newElements(ctx, source.dataType, positions.length);
  const to = out as unknown as Slots;
  for (let i = 0; i < positions.length; i++) to[i] = from[positions[i]!];
  return fromElements(source.dataType, dims, out);
}

export function newElements(ctx: KernelContext, t: number, count: number): Elements {
  ctx.reserve(count, t);
  if (t === DataType.STRING) return new Array<Uint8Array>(count);
  const Ctor = typedArrayFor(t) as unknown as new (n: number) => TypedArray;
  return new Ctor(count);
}

export function fromElements(t: number, dims: readonly number[], elements: Elements): Tensor {
  if (Array.isArray(elements)) return new Tensor('', t, dims, elements);
  return Tensor.fromArray('', t, dims, elements as TypedArray);
}

/** The same elements under new dims (bytes shared; works for every element type, packed ones included). */
export function withDims(t: Tensor, dims: readonly number[]): Tensor {
  return new Tensor('', t.dataType, dims, t.strings ?? t.bytes());
}

/** Integer elements of an int32/int64 tensor as numbers (int64 beyond 2^53 rounds, which clamping tolerates). */
export function intsOf(ctx: KernelContext, t: Tensor, what: string): number[] {
  if (t.dataType !== DataType.INT64 && t.dataType !== DataType.INT32) {
    ctx.invalid(`${what} must be int64 or int32, got ${dataTypeName(t.dataType)}`);
  }
  return t.toNumbers();
}

/** The single element of a scalar-like tensor (one element, any rank). */
export function scalarOf(ctx: KernelContext, t: Tensor, what: string): number | bigint {
  const v = numbersOf(t);
  if (v.length !== 1) ctx.invalid(`${what} must have one element, has ${v.length}`);
  return v[0]!;
}

/** Normalizes a possibly negative axis against a rank. */
export function axisOf(ctx: KernelContext, axis: number, rank: number): number {
  if (axis < -rank || axis >= rank) ctx.invalid(`axis ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let k = dims.length - 1; k >= 0; k--) {
    s[k] = acc;
    acc *= dims[k]!;
  }
  return s;
}

/** Numpy (multidirectional) broadcasting of several shapes. */
export function broadcastDims(ctx: KernelContext, shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let k = 0; k < s.length; k++) {
      const o = rank - s.length + k;
      const d = s[k]!;
      if (d === out[o]) continue;
      if (out[o] === 1) out[o] = d;
      else if (d !== 1) ctx.invalid(`shapes ${shapes.map((x) => `[${x.join(',')}]`).join(' and ')} do not broadcast`);
    }
  }
  return out;
}

/** Source positions of a strided walk: element i of `dims` reads offset + sum(index_k * strides_k). */
export function stridedPositions(
  ctx: KernelContext,
  dims: readonly number[],
  strides: readonly number[],
  offset = 0,
): Float64Array {
  const count = elementCount(dims);
  ctx.reserve(count);
  const out = new Float64Array(count);
  const rank = dims.length;
  if (count === 0) return out;
  if (rank === 0) {
    out[0] = offset;
    return out;
  }
  // the last axis in a tight loop, the outer axes advanced once per row
  const row = dims[rank - 1]!;
  const step = strides[rank - 1]!;
  const index = new Array<number>(rank - 1).fill(0);
  let pos = offset;
  for (let i = 0; i < count; i += row) {
    for (let j = 0; j < row; j++) out[i + j] = pos + j * step;
    for (let k = rank - 2; k >= 0; k--) {
      index[k]!++;
      pos += strides[k]!;
      if (index[k]! < dims[k]!) break;
      pos -= strides[k]! * dims[k]!;
      index[k] = 0;
    }
  }
  return out;
}

/** Whether two shapes are the same. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, k) => d === b[k]);
}

/** For each element of the broadcast shape `to`, the position of the element of shape `from` it reads. */
export function broadcastPositions(ctx: KernelContext, from: readonly number[], to: readonly number[]): Float64Array {
  const own = stridesOf(from);
  const strides = to.map((_, k) => {
    const j = k - (to.length - from.length);
    return j < 0 || from[j] === 1 ? 0 : own[j]!;
  });
  return stridedPositions(ctx, to, strides);
}
