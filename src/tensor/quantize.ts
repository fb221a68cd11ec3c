// Linear 8-bit quantization of weights, reproducing onnxruntime's Python quantizer bit for bit
// (quant_utils.compute_scale_zp / quantize_nparray): ranges are widened to include 0, the scale is computed in
// float64 from float32 bounds and stored as float32, values are divided in float32 and rounded half to even.
import { OnnxOptError } from '../errors.js';

export type QuantType = 'int8' | 'uint8';

export interface QuantRange {
  qmin: number;
  qmax: number;
}

/** float32's smallest normal number: below it a scale is replaced by 1 (all-zero data). */
const FLOAT32_TINY = 1.1754943508222875e-38;

/** The full value range of each type: quantized values are clipped to it whatever range the scale was made for. */
const TYPE_RANGE: Record<QuantType, QuantRange> = { int8: { qmin: -128, qmax: 127 }, uint8: { qmin: 0, qmax: 255 } };

/**
 * The integer range the real range is mapped onto. Reduced range uses 7 bits ([-64, 64] or [0, 127]) so that u8 x s8
 * products summed in pairs cannot saturate int16 (AVX2 without VNNI); symmetric int8 drops -128 so 0 stays centered.
 */
export function quantRange(type: QuantType, options: { symmetric: boolean; reduceRange: boolean }): QuantRange {
  if (options.reduceRange) return type === 'int8' ? { qmin: -64, qmax: 64 } : { qmin: 0, qmax: 127 };
  // onnxruntime 1.30 restricts only signed types when symmetric (ONNX_INT_TYPE_SYMMETRIC_RANGE): uint8 keeps 0..255,
  // its zero point round(127.5) = 128
  if (options.symmetric && type === 'int8') return { qmin: -127, qmax: 127 };
  return TYPE_RANGE[type];
}

/** 1.5 * 2^52: adding and subtracting it rounds a double of magnitude below 2^51 to an integer, ties to even. */
const ROUNDER = 6755399441055744;

/** Rounds to the nearest integer, ties to the even one (numpy.round, std::nearbyint). */
export function roundHalfToEven(x: number): number {
  if (Math.abs(x) < 2 ** 51) return x + ROUNDER - ROUNDER;
  const r = Math.round(x); // ties go up
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface QuantParams {
  /** A float32 value. */
  scale: number;
  zeroPoint: number;
}

/** Scale and zero point for real values in [rmin, rmax] (float32 numbers), as onnxruntime computes them. */
export function computeScaleZeroPoint(rmin: number, rmax: number, range: QuantRange, symmetric: boolean): QuantParams {
  if (!Number.isFinite(rmin) || !Number.isFinite(rmax)) {
    throw new OnnxOptError(`cannot quantize values in [${rmin}, ${rmax}]: the range must be finite`);
  }
  let lo = Math.min(rmin, 0);
  let hi = Math.max(rmax, 0);
  if (symmetric) {
    const absmax = Math.max(-lo, hi);
    lo = -absmax;
    hi = absmax;
  }
  // rmax - rmin is a float32 subtraction; the division by the integer range is float64. A range wider than float32
  // can hold (weights near ±3.4e38) would make the scale infinite and every dequantized value NaN: its float64 width
  // keeps the scale finite.
  const width = Math.fround(hi - lo);
  const scale = (Number.isFinite(width) ? width : hi - lo) / (range.qmax - range.qmin);
  if (scale < FLOAT32_TINY) return { scale: 1, zeroPoint: 0 };
  const zeroPoint = symmetric
    ? roundHalfToEven((range.qmin + range.qmax) / 2)
    : roundHalfToEven(range.qmin - lo / scale);
  return { scale: Math.fround(scale), zeroPoint };
}

export interface WeightQuantOptions {
  type: QuantType;
  /** Default: symmetric for int8, asymmetric for uint8 (onnxruntime's default for weights). */
  symmetric?: boolean;
  reduceRange: boolean;
  /** Quantize each slice along this axis with its own scale and zero point; per tensor when absent. */
  axis?: number;
}

export interface QuantizedWeight {
  type: QuantType;
  dims: readonly number[];
  data: Int8Array | Uint8Array;
  /** One per channel along `axis`, or a single one. */
  scales: Float32Array;
  zeroPoints: Int8Array | Uint8Array;
  axis: number | undefined;
}

/**
 * Float32 values handed over block by block, in order, each block whole rows of the last axis: for weights quantized
 * per tensor or per channel of the last axis, so that a large one never has to be in memory whole.
 */
export interface BlockedValues {
  length: number;
  forEachBlock(visit: (block: Float32Array) => void): void;
}

/** How a weight is quantized: its scales and zero points, and the filling of its data from the float values. */
export interface WeightQuantization extends Omit<QuantizedWeight, 'data'> {
  /** Writes the quantized values of `values` (the weight the plan was made from) into `out`. */
  fill(values: Float32Array | BlockedValues, out: Int8Array | Uint8Array): void;
}

type Layout = { outer: number; channels: number; inner: number };

function eachBlock(
  values: Float32Array | BlockedValues,
  layout: Layout,
  visit: (block: Float32Array, at: number, layout: Layout) => void,
): void {
  if (values instanceof Float32Array) return visit(values, 0, layout);
  const row = layout.channels * layout.inner;
  if (layout.inner !== 1)
    throw new OnnxOptError('values in blocks are quantized per tensor or along the last axis only');
  let at = 0;
  values.forEachBlock((block) => {
    if (block.length % row !== 0)
      throw new OnnxOptError(`a block of ${block.length} values is not whole rows of ${row}`);
    visit(block, at, { outer: block.length / row, channels: layout.channels, inner: 1 });
    at += block.length;
  });
}

/** Scales and zero points for float32 weights (row-major, `dims`), per tensor or per channel. */
export function planWeightQuantization(
  values: Float32Array | BlockedValues,
  dims: readonly number[],
  options: WeightQuantOptions,
): WeightQuantization {
  const { type, reduceRange, axis } = options;
  const symmetric = options.symmetric ?? type === 'int8';
  const count = dims.reduce((n, d) => n * d, 1);
  if (values.length !== count)
    throw new OnnxOptError(`weight has ${values.length} values, dims [${dims}] need ${count}`);
  if (axis !== undefined && (!Number.isInteger(axis) || axis < 0 || axis >= dims.length)) {
    throw new OnnxOptError(`quantization axis ${axis} is out of range for dims [${dims}]`);
  }
  // per tensor is one channel repeated element by element, which any block boundary respects
  const channels = axis === undefined ? 1 : dims[axis]!;
  const inner = axis === undefined ? 1 : dims.slice(axis + 1).reduce((n, d) => n * d, 1);
  const layout = { outer: count === 0 ? 0 : count / (channels * inner), channels, inner };
  const mins = new Float64Array(channels).fill(Infinity);
  const maxs = new Float64Array(channels).fill(-Infinity);
  eachBlock(values, layout, (block, _at, blockLayout) => channelRanges(block, blockLayout, mins, maxs));
  const range = quantRange(type, { symmetric, reduceRange });
  const params = Array.from({ length: channels }, (_, c) =>
    count === 0 ? { scale: 1, zeroPoint: 0 } : computeScaleZeroPoint(mins[c]!, maxs[c]!, range, symmetric),
  );
  const scales = Float32Array.from(params, (p) => p.scale);
  const zeroPoints =
    type === 'int8' ? Int8Array.from(params, (p) => p.zeroPoint) : Uint8Array.from(params, (p) => p.zeroPoint);
  const { qmin, qmax } = TYPE_RANGE[type];
  // the same values as the scales, without a float32 -> float64 conversion per element
  const divisors = Float64Array.from(scales);
  const fill = (v: Float32Array | BlockedValues, out: Int8Array | Uint8Array) =>
    eachBlock(v, layout, (block, at, blockLayout) =>
      quantizeValues(block, blockLayout, divisors, zeroPoints, out.subarray(at, at + block.length), qmin, qmax),
    );
  return { type, dims, scales, zeroPoints, axis, fill };
}

/** Quantizes float32 weights (row-major, `dims`) per tensor or per channel. */
export function quantizeWeight(
  values: Float32Array,
  dims: readonly number[],
  options: WeightQuantOptions,
): QuantizedWeight {
  const { fill, ...plan } = planWeightQuantization(values, dims, options);
  const data = plan.type === 'int8' ? new Int8Array(values.length) : new Uint8Array(values.length);
  fill(values, data);
  return { ...plan, data };
}

/**
 * data = clip(round_half_even(float32(v / scale)) + zero point) over (outer, channels, inner), with the clip at the
 * type's full range (not the reduced one). Every v / scale here is at most the integer range in size (the scale spans
 * the channel's own min and max, and NaN was refused), so the ROUNDER trick applies without roundHalfToEven's range
 * check. A plain function over plain loops: the hottest loop of quantization (V8 keeps it tight).
 */
function quantizeValues(
  values: Float32Array,
  layout: Layout,
  divisors: Float64Array,
  zeroPoints: Int8Array | Uint8Array,
  data: Int8Array | Uint8Array,
  qmin: number,
  qmax: number,
): void {
  const { outer, channels, inner } = layout;
  for (let o = 0, at = 0; o < outer; o++) {
    if (inner === 1) {
      for (let c = 0; c < channels; c++, at++) {
        const q = Math.fround(values[at]! / divisors[c]!) + ROUNDER - ROUNDER + zeroPoints[c]!;
        data[at] = q < qmin ? qmin : q > qmax ? qmax : q;
      }
      continue;
    }
    for (let c = 0; c < channels; c++) {
      const divisor = divisors[c]!,
        zeroPoint = zeroPoints[c]!;
      for (const end = at + inner; at < end; at++) {
        const q = Math.fround(values[at]! / divisor) + ROUNDER - ROUNDER + zeroPoint;
        data[at] = q < qmin ? qmin : q > qmax ? qmax : q;
      }
    }
  }
}

/**
 * Widens each channel's [min, max] by the values, viewed as (outer, channels, inner): element (o, c, i) sits at
 * (o * channels + c) * inner + i. Channels along the last axis (inner 1) are visited row by row.
 */
function channelRanges(values: Float32Array, layout: Layout, mins: Float64Array, maxs: Float64Array): void {
  const { outer, channels, inner } = layout;
  let hasNaN = false;
  for (let o = 0, at = 0; o < outer; o++) {
    if (inner === 1) {
      for (let c = 0; c < channels; c++, at++) {
        const v = values[at]!;
        if (v < mins[c]!) mins[c] = v;
        if (v > maxs[c]!) maxs[c] = v;
        if (v !== v) hasNaN = true;
      }
      continue;
    }
    for (let c = 0; c < channels; c++) {
      let lo = mins[c]!,
        hi = maxs[c]!;
      for (const end = at + inner; at < end; at++) {
        const v = values[at]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
        if (v !== v) hasNaN = true;
      }
      mins[c] = lo;
      maxs[c] = hi;
    }
  }
  if (hasNaN) throw new OnnxOptError('cannot quantize a weight that holds NaN');
}
