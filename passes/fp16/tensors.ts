// float32 constants to float16 with one rule everywhere: finite values beyond ±65504 clamp to ±65504 (so a mask's
// finfo.min becomes the most negative half, not -inf), and nonzero values too small for a half become the smallest
// subnormal of their sign (so an epsilon never turns into 0). Infinities and NaN stay what they are.

import { Tensor } from '../../src/ir/tensor.js';
import { DataType } from '../../src/tensor/dtype.js';
import { float32ToFloat16Array } from '../../src/tensor/float16.js';

export interface ConstantCounts {
  /** Finite values beyond the float16 range, clamped to ±65504. */
  clamped: number;
  /** Nonzero values below the smallest float16 subnormal, raised to ±2^-24. */
  tiny: number;
}

const MAX_HALF = 0x7bff;
const MIN_SUBNORMAL = 0x0001;
/** Elements converted per step: the float32 block and its halves stay in cache for the clamping scan. */
const CHUNK = 1 << 16;
/** Elements read per step from an external file, so a weight is never in memory whole as float32. */
const EXTERNAL_BLOCK = 1 << 22;

/** Float16 bits of float32 values under the clamping rule above, into `halves`; counts what it clamped or raised. */
export function toFloat16Bits(values: Float32Array, counts: ConstantCounts, halves = new Uint16Array(values.length)): Uint16Array {
  for (let start = 0; start < values.length; start += CHUNK) {
    const end = Math.min(start + CHUNK, values.length);
    float32ToFloat16Array(values.subarray(start, end), halves.subarray(start, end));
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

/** A float16 copy of a float32 tensor, same name, dims and annotations. External data is read block by block. */
export function toFloat16Tensor(tensor: Tensor, counts: ConstantCounts): Tensor {
  const halves = new Uint16Array(tensor.size);
  const source = tensor.externalSource;
  if (source) {
    // one block buffer for the whole tensor: fresh memory for every block would cost more than reading it
    const block = new Float32Array(Math.min(EXTERNAL_BLOCK, halves.length));
    const blockBytes = new Uint8Array(block.buffer);
    for (let start = 0; start < halves.length; start += EXTERNAL_BLOCK) {
      const count = Math.min(EXTERNAL_BLOCK, halves.length - start);
      const bytes = source.loader({ ...source.where, offset: source.where.offset + start * 4, length: count * 4 }, blockBytes);
      // a loader that ignored the block buffer hands back its own bytes
      if (bytes.buffer !== block.buffer || bytes.byteOffset !== 0) blockBytes.set(bytes);
      toFloat16Bits(block.subarray(0, count), counts, halves.subarray(start, start + count));
    }
  } else toFloat16Bits(tensor.toFloat32(), counts, halves);
  const out = new Tensor(tensor.name, DataType.FLOAT16, tensor.dims, new Uint8Array(halves.buffer));
  out.docString = tensor.docString;
  out.metadataProps = tensor.metadataProps.map(([k, v]) => [k, v]);
  return out;
}

/** A float16 tensor holding float32 numbers given as a list (Constant's value_float/value_floats). */
export function float16TensorOf(name: string, dims: readonly number[], values: readonly number[], counts: ConstantCounts): Tensor {
  const halves = toFloat16Bits(Float32Array.from(values), counts);
  return new Tensor(name, DataType.FLOAT16, dims, new Uint8Array(halves.buffer));
}
