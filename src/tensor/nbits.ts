// Blockwise N-bit weight quantization for com.microsoft::MatMulNBits, bit for bit as onnxruntime's
// MatMulNBitsQuantizer (DEFAULT/RTN algorithm, MLAS `BlockwiseQuantizer<T, block, bits, columnwise>`) makes it:
// a (K, N) weight is cut into blocks of `blockSize` rows per column; each block gets a scale (and, asymmetric, a
// zero point); values are packed per column, low bits first. All arithmetic is float32, as in the C++.
import { float16BitsToNumber, numberToFloat16Bits } from './float16.js';

export interface NBitsLayout {
  /** Rows (the MatMul's inner dimension) and columns of the weight. */
  k: number;
  n: number;
  bits: 2 | 4 | 8;
  blockSize: number;
  symmetric: boolean;
  /** Scales are stored as float16 (an fp16 weight's scales): rounded to it before their reciprocal is taken. */
  float16Scales?: boolean;
}

export interface NBitsShape {
  kBlocks: number;
  /** Bytes of one block of one column. */
  blobSize: number;
  /** Bytes of zero points per column (blocks packed like the data). */
  zeroPointBytes: number;
}

export function nbitsShape(layout: NBitsLayout): NBitsShape {
  const kBlocks = Math.ceil(layout.k / layout.blockSize);
  const perByte = 8 / layout.bits;
  return { kBlocks, blobSize: (layout.blockSize * layout.bits) / 8, zeroPointBytes: Math.ceil(kBlocks / perByte) };
}

const f32 = Math.fround;

/** The parameters of every block: scales (as stored) and, asymmetric, packed zero points. */
export interface NBitsParams {
  /** [N * kBlocks], column by column. */
  scales: Float32Array;
  /** [N * zeroPointBytes]; absent when symmetric (the runtime uses 2^(bits-1)). */
  zeroPoints?: Uint8Array;
}

export function emptyParams(layout: NBitsLayout): NBitsParams {
  const { kBlocks, zeroPointBytes } = nbitsShape(layout);
  const mid = 1 << (layout.bits - 1);
  // every nibble starts at the middle value: a trailing unused one stays so, as onnxruntime writes it
  let fill = 0;
  for (let shift = 0; shift < 8; shift += layout.bits) fill |= mid << shift;
  return {
    scales: new Float32Array(layout.n * kBlocks),
    zeroPoints: layout.symmetric ? undefined : new Uint8Array(layout.n * zeroPointBytes).fill(fill),
  };
}

/**
 * Quantizes whole blocks of rows: `rows` holds rows [row0, row0 + rows.length / N) of the row-major weight, row0 a
 * multiple of blockSize and the count a multiple of it (or reaching K). Writes the blocks' scales and zero points
 * into `params` and, when `packed` ([N, kBlocks, blobSize] bytes, zero where nothing is written) is given, their data.
 */
export function quantizeBlockRows(
  rows: Float32Array,
  row0: number,
  layout: NBitsLayout,
  params: NBitsParams,
  packed?: Uint8Array,
): void {
  const { n, bits, blockSize, symmetric } = layout;
  const { kBlocks, blobSize, zeroPointBytes } = nbitsShape(layout);
  const kMax = (1 << bits) - 1;
  const mid = 1 << (bits - 1);
  const perByte = 8 / bits;
  const rowCount = rows.length / n;
  const mins = new Float32Array(n);
  const maxs = new Float32Array(n);
  const toScale = layout.float16Scales ? (x: number) => float16BitsToNumber(numberToFloat16Bits(x)) : f32;
  for (let start = 0; start < rowCount; start += blockSize) {
    const end = Math.min(start + blockSize, rowCount);
    const block = (row0 + start) / blockSize;
    // each block's range, row by row (memory order) for all columns at once
    mins.fill(3.4028234663852886e38);
    maxs.fill(-3.4028234663852886e38);
    for (let r = start; r < end; r++) {
      const row = r * n;
      for (let col = 0; col < n; col++) {
        const v = rows[row + col]!;
        if (v < mins[col]!) mins[col] = v;
        if (v > maxs[col]!) maxs[col] = v;
      }
    }
    for (let col = 0; col < n; col++) {
      let min = mins[col]!;
      let max = maxs[col]!;
      let scale: number;
      let zp = mid;
      if (symmetric) {
        const m = Math.abs(max) > Math.abs(min) ? max : min;
        scale = toScale(f32(-m / mid));
      } else {
        min = Math.min(min, 0);
        max = Math.max(max, 0);
        const scaleF = f32(f32(max - min) / kMax);
        const zpF = scaleF !== 0 ? f32(0 - f32(min / scaleF)) : min;
        zp = zpF < 0 ? 0 : zpF > kMax ? kMax : roundHalfAway(zpF);
        scale = toScale(scaleF);
        const zpIndex = col * zeroPointBytes + Math.floor(block / perByte);
        const shift = (block % perByte) * bits;
        params.zeroPoints![zpIndex] = (params.zeroPoints![zpIndex]! & ~(kMax << shift)) | (zp << shift);
      }
      params.scales[col * kBlocks + block] = scale;
      if (!packed) continue;
      const reciprocal = scale !== 0 ? f32(1 / scale) : 0;
      const base = col * kBlocks * blobSize + block * blobSize;
      // q = clamp(roundf(v * r + zp)) in float32; roundf of a positive value is floor(x + 0.5), exact in doubles
      if (bits === 4) {
        for (let r = start, at = base; r < end; r += 2, at++) {
          const x0 = f32(f32(rows[r * n + col]! * reciprocal) + zp);
          const q0 = x0 <= 0 ? 0 : x0 >= 15 ? 15 : (x0 + 0.5) | 0;
          let q1 = 0;
          if (r + 1 < end) {
            const x1 = f32(f32(rows[(r + 1) * n + col]! * reciprocal) + zp);
            q1 = x1 <= 0 ? 0 : x1 >= 15 ? 15 : (x1 + 0.5) | 0;
          }
          packed[at] = q0 | (q1 << 4);
        }
        continue;
      }
      for (let r = start; r < end; r++) {
        const x = f32(f32(rows[r * n + col]! * reciprocal) + zp);
        const q = x <= 0 ? 0 : x >= kMax ? kMax : (x + 0.5) | 0;
        const k = r - start;
        const at = base + Math.floor(k / perByte);
        packed[at] = packed[at]! | (q << ((k % perByte) * bits));
      }
    }
  }
}

/** C's roundf for non-negative float32 values: halves away from zero (x + 0.5 is exact in doubles). */
function roundHalfAway(x: number): number {
  return Math.floor(x + 0.5);
}
