// IEEE half and bfloat16 bit conversions (round to nearest even), shared by tensors, the evaluator and FP16.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

export function numberToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = mant >> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

export function bfloat16BitsToNumber(b: number): number {
  u32[0] = b << 16;
  return f32[0]!;
}

export function numberToBfloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * float32 bit patterns to float16 bits, element by element, with the same rounding as numberToFloat16Bits (nearest
 * even; overflow to infinity; NaN stays NaN). Works on the bits so whole weight tensors convert fast.
 */
export function float32ToFloat16Array(
  source: Float32Array,
  target: Uint16Array<ArrayBufferLike> = new Uint16Array(source.length),
): Uint16Array<ArrayBufferLike> {
  const words = new Uint32Array(source.buffer, source.byteOffset, source.length);
  for (let i = 0; i < words.length; i++) {
    const x = words[i]!;
    const abs = x & 0x7fffffff;
    // Most weights are normal halves (2^-14 <= |x| < 65520): rebias, round the 13 dropped bits to nearest even.
    target[i] =
      (abs - 0x38800000) >>> 0 < 0x0efff000
        ? ((x >>> 16) & 0x8000) | ((abs + 0x0fff + ((abs >>> 13) & 1) - 0x38000000) >>> 13)
        : outsideNormalHalf(x);
  }
  return target;
}

/** Bits of a float32 outside the normal float16 range: NaN, values rounding past 65504, subnormals and zeros. */
function outsideNormalHalf(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;
  if (abs >= 0x477ff000) return sign | 0x7c00; // 65520 and up round to infinity
  if (abs < 0x33000000) return sign; // below half the smallest subnormal: zero
  // Subnormal half: shift the full mantissa down and round to nearest even.
  const mant = (abs & 0x7fffff) | 0x800000;
  const shift = 126 - (abs >>> 23);
  const half = 1 << (shift - 1);
  let r = mant >>> shift;
  const rem = mant & ((1 << shift) - 1);
  if (rem > half || (rem === half && r & 1)) r++;
  return sign | r;
}
