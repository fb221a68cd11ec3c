// bitsandbytes-style 4-bit blocks for com.microsoft::MatMulBnb4, as onnxruntime's MatMulBnb4Quantizer makes them
// (blockwise_quant_block_bnb4.h): the (K, N) weight is transposed to (N, K) and flattened, cut into blocks of
// `blockSize` consecutive values; each block is divided by its absolute maximum (float32) and every value mapped to
// the nearest of 16 NF4 or FP4 levels by a fixed decision tree; two values a byte, the FIRST in the HIGH bits.

/** MatMulBnb4's quant_type: 0 FP4, 1 NF4. */
export type Bnb4Type = 'fp4' | 'nf4';
export const BNB4_QUANT_TYPE: Record<Bnb4Type, number> = { fp4: 0, nf4: 1 };

/** NF4's decision thresholds (float32 literals in the C++), ascending: a value's code is how many it exceeds. */
const NF4_THRESHOLDS = [
  -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544, -0.23460740596055984,
  -0.13791173323988914, -0.045525018125772476, 0.03979014977812767, 0.1202552504837513, 0.2035212516784668,
  0.2920137718319893, 0.3893125355243683, 0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
].map(Math.fround);

function nf4(x: number): number {
  let code = 0;
  // NaN exceeds nothing: code 0, as the C++ tree gives
  while (code < 15 && x > NF4_THRESHOLDS[code]!) code++;
  return code;
}

const FP4 = [0.00260417, 0.0859375, 0.20833333, 0.29166667, 0.4166667, 0.583333, 0.8333333].map(Math.fround);

/** FP4 (bias 3): a sign bit over 3 bits whose levels, by magnitude, are codes 0, 1, 6, 7, 4, 5, 2, 3. */
function fp4(x: number): number {
  const sign = x < 0 ? 0b1000 : 0;
  const a = Math.abs(x);
  let code: number;
  if (a > FP4[3]!) code = a > FP4[5]! ? (a > FP4[6]! ? 0b0011 : 0b0010) : a > FP4[4]! ? 0b0101 : 0b0100;
  else code = a > FP4[1]! ? (a > FP4[2]! ? 0b0111 : 0b0110) : a > FP4[0]! ? 0b0001 : 0b0000;
  return code + sign;
}

export interface Bnb4Weight {
  /** ceil(N*K / 2) bytes. */
  packed: Uint8Array;
  /** One per block: ceil(N*K / blockSize). */
  absmax: Float32Array;
}

/** Quantizes a row-major (K, N) float32 weight. */
export function quantizeBnb4(
  weight: Float32Array,
  k: number,
  n: number,
  blockSize: number,
  type: Bnb4Type,
): Bnb4Weight {
  const total = k * n;
  const quantize = type === 'nf4' ? nf4 : fp4;
  const blocks = Math.ceil(total / blockSize);
  const absmax = new Float32Array(blocks);
  const packed = new Uint8Array(Math.ceil(total / 2));
  // element i of the (N, K) flattening is weight[k][n] with n = i / K, k = i % K
  const at = (i: number) => weight[(i % k) * n + Math.floor(i / k)]!;
  for (let b = 0; b < blocks; b++) {
    const start = b * blockSize;
    const end = Math.min(start + blockSize, total);
    let max = 0;
    for (let i = start; i < end; i++) max = Math.max(max, Math.abs(at(i)));
    absmax[b] = max;
    const reciprocal = max ? Math.fround(1 / Math.fround(max)) : 0;
    for (let i = start; i < end; i += 2) {
      const hi = quantize(Math.fround(at(i) * reciprocal));
      const lo = quantize(i + 1 < end ? Math.fround(at(i + 1) * reciprocal) : 0);
      packed[i >> 1] = (hi << 4) | lo;
    }
  }
  return { packed, absmax };
}
