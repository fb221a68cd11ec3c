// float32 constants to float16 with one rule everywhere: finite values beyond ±65504 clamp to ±65504 (so a mask's
// finfo.min becomes the most negative half, not -inf), and nonzero values too small for a half become the smallest
// subnormal of their sign (so an epsilon never turns into 0). Infinities and NaN stay what they are.
// Narrower limits (transformers.js's float16.py clamps to ±1e4 and raises nonzero magnitudes below 1e-7 to 1e-7) clamp
// the float32 values first, then round to nearest even as above.

import { Scratch, Tensor, type LazyBytes } from '../../src/ir/tensor.js';
import { DataType } from '../../src/tensor/dtype.js';
import { float32ToFloat16Array } from '../../src/tensor/float16.js';

export interface ConstantCounts {
  /** Finite values beyond the float16 range, clamped to ±65504. */
  clamped: number;
  /** Nonzero values below the smallest float16 subnormal, raised to ±2^-24. */
  tiny: number;
}

/** Where float32 values are clamped before rounding: finite magnitudes above maxFinite, nonzero ones below minPositive. */
export interface Float16Limits {
  maxFinite: number;
  minPositive: number;
}

/** The float16 range itself: the default. */
export const HALF_LIMITS: Float16Limits = { maxFinite: 65504, minPositive: 2 ** -24 };

const MAX_HALF = 0x7bff;
const MIN_SUBNORMAL = 0x0001;
/** Elements converted per step: the float32 block and its halves stay in cache for the clamping scan. */
const CHUNK = 1 << 16;
/** Elements read per step from an external file, so a weight is never in memory whole as float32. */
const EXTERNAL_BLOCK = 1 << 22;
/** Tensors from this size on are converted on demand (toFloat16Tensor). */
const ON_DEMAND_ELEMENTS = 1 << 16;

/** Float16 bits of float32 values under the clamping rule above, into `halves`; counts what it clamped or raised. */
export function toFloat16Bits(
  values: Float32Array,
  counts: ConstantCounts,
  halves: Uint16Array<ArrayBufferLike> = new Uint16Array(values.length),
  limits: Float16Limits = HALF_LIMITS,
): Uint16Array<ArrayBufferLike> {
  const narrower = limits.maxFinite < HALF_LIMITS.maxFinite || limits.minPositive > HALF_LIMITS.minPositive;
  // the values may be a view of a weight or a reused read buffer: clamped in a copy
  const clamped = narrower ? new Float32Array(Math.min(CHUNK, values.length)) : undefined;
  for (let start = 0; start < values.length; start += CHUNK) {
    const end = Math.min(start + CHUNK, values.length);
    const block = clamped
      ? clampInto(values.subarray(start, end), clamped, limits, counts)
      : values.subarray(start, end);
    float32ToFloat16Array(block, halves.subarray(start, end));
    for (let i = start; i < end; i++) {
      const magnitude = halves[i]! & 0x7fff;
      if (magnitude === 0x7c00 && Number.isFinite(values[i]!)) {
        halves[i] = (halves[i]! & 0x8000) | MAX_HALF;
        counts.clamped++;
      } else if (magnitude === 0 && values[i] !== 0) {
        halves[i] = (halves[i]! & 0x8000) | MIN_SUBNORMAL;
        counts.tiny++;
      }
    }
  }
  return halves;
}

/** `values` clamped to `limits` into `into` (as many as there are values), counting what moved. */
function clampInto(
  values: Float32Array,
  into: Float32Array,
  limits: Float16Limits,
  counts: ConstantCounts,
): Float32Array {
  const { maxFinite, minPositive } = limits;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const magnitude = Math.abs(v);
    if (magnitude > maxFinite && magnitude !== Infinity) {
      into[i] = v > 0 ? maxFinite : -maxFinite;
      counts.clamped++;
    } else if (magnitude < minPositive && v !== 0) {
      into[i] = v > 0 ? minPositive : -minPositive;
      counts.tiny++;
    } else into[i] = v;
  }
  return into.subarray(0, values.length);
}

/** Float16 bits of the tensor's values into `halves`, external data read block by block through `blocks`. */
function convert(
  tensor: Tensor,
  counts: ConstantCounts,
  blocks: Scratch,
  limits: Float16Limits,
  halves: Uint16Array<ArrayBufferLike>,
): void {
  const source = tensor.externalSource;
  if (!source) {
    toFloat16Bits(tensor.peekFloat32(blocks), counts, halves, limits);
    return;
  }
  const blockBytes = blocks.take(Math.min(EXTERNAL_BLOCK, halves.length) * 4);
  const block = new Float32Array(blockBytes.buffer, blockBytes.byteOffset, blockBytes.byteLength / 4);
  for (let start = 0; start < halves.length; start += EXTERNAL_BLOCK) {
    const count = Math.min(EXTERNAL_BLOCK, halves.length - start);
    const bytes = source.loader(
      { ...source.where, offset: source.where.offset + start * 4, length: count * 4 },
      blockBytes,
    );
    // a loader that ignored the block buffer hands back its own bytes
    if (bytes.buffer !== blockBytes.buffer || bytes.byteOffset !== blockBytes.byteOffset) blockBytes.set(bytes);
    toFloat16Bits(block.subarray(0, count), counts, halves.subarray(start, start + count), limits);
  }
}

/**
 * What every conversion of a pass shares: its limits, and buffers reused from one tensor to the next (fresh memory for
 * each weight costs more in page faults than the work).
 */
export class ConversionBuffers {
  /** float32 input, read from memory or an external file. */
  readonly blocks = new Scratch();
  /** float16 output of the counting pass over large tensors. */
  readonly counted = new Scratch();

  constructor(readonly limits: Float16Limits = HALF_LIMITS) {}
}

/**
 * A float16 copy of a float32 tensor, same name, dims and annotations. Large tensors are converted once to count what
 * the rule clamps or raises, and again each time their bytes are read (written out): their halves are never all in
 * memory at once.
 */
export function toFloat16Tensor(tensor: Tensor, counts: ConstantCounts, buffers = new ConversionBuffers()): Tensor {
  const size = tensor.size;
  let data: Uint8Array | LazyBytes;
  if (size < ON_DEMAND_ELEMENTS) {
    const halves = new Uint16Array(size);
    convert(tensor, counts, buffers.blocks, buffers.limits, halves);
    data = new Uint8Array(halves.buffer);
  } else {
    const counted = buffers.counted.take(size * 2);
    convert(tensor, counts, buffers.blocks, buffers.limits, new Uint16Array(counted.buffer, counted.byteOffset, size));
    const { blocks, limits } = buffers; // only these are kept with the tensor
    const load = (into?: Uint8Array): Uint8Array => {
      const bytes = into ? into.subarray(0, size * 2) : new Uint8Array(size * 2);
      convert(tensor, { clamped: 0, tiny: 0 }, blocks, limits, new Uint16Array(bytes.buffer, bytes.byteOffset, size));
      return bytes;
    };
    data = { byteLength: size * 2, load };
  }
  const out = new Tensor(tensor.name, DataType.FLOAT16, tensor.dims, data);
  out.docString = tensor.docString;
  out.metadataProps = tensor.metadataProps.map(([k, v]) => [k, v]);
  return out;
}

/** A float16 tensor holding float32 numbers given as a list (Constant's value_float/value_floats). */
export function float16TensorOf(
  name: string,
  dims: readonly number[],
  values: readonly number[],
  counts: ConstantCounts,
  limits = HALF_LIMITS,
): Tensor {
  const halves = toFloat16Bits(Float32Array.from(values), counts, undefined, limits);
  return new Tensor(name, DataType.FLOAT16, dims, new Uint8Array(halves.buffer));
}
