// Scalar functions JavaScript lacks, accurate to double precision (well beyond float32's needs).

const TWO_OVER_SQRT_PI = 1.1283791670955126;

/** The error function: its Maclaurin series below |x| = 3, the continued fraction of erfc above. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  const a = Math.abs(x);
  if (a >= 6) return Math.sign(x);
  if (a < 3) {
    // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const next = sum + term / (2 * n + 1);
      if (next === sum) break;
      sum = next;
    }
    return TWO_OVER_SQRT_PI * sum;
  }
  return Math.sign(x) * (1 - erfcLarge(a));
}

/** erfc(a) for a >= 3 by Lentz's evaluation of erfc(a) = exp(-a^2)/sqrt(pi) * 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))). */
function erfcLarge(a: number): number {
  const tiny = 1e-300;
  let f = a;
  let c = a;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const k = n / 2;
    d = a + k * d;
    d = d === 0 ? tiny : d;
    c = a + k / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-a * a) / (Math.sqrt(Math.PI) * f);
}

/** Rounds half to even, as ONNX Round does. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * int64 -> float32 with one correct rounding: the value is first cut to 53 significant bits rounding to odd
 * (keeping a sticky bit), so the double that results rounds to the same float32 as the exact integer would.
 */
export function bigintToFloat32(x: bigint): number {
  const neg = x < 0n;
  let m = neg ? -x : x;
  const bits = m.toString(2).length;
  if (bits > 53) {
    const shift = BigInt(bits - 53);
    const kept = m >> shift;
    const sticky = (m & ((1n << shift) - 1n)) !== 0n ? 1n : 0n;
    m = (kept | sticky) << shift;
  }
  const v = Math.fround(Number(m));
  return neg ? -v : v;
}
