// The tests' one seeded generator, so tensors have varied bytes without Math.random and every run sees the same.

/** Uniform numbers in [0, 1) from a fixed LCG. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Uniform values in [-0.5, 0.5). */
export function uniformFloats(count: number, seed = 1): Float32Array {
  const next = lcg(seed);
  return Float32Array.from({ length: count }, () => next() - 0.5);
}

/** Bell-shaped values in [-3, 3)·scale (a sum of three uniforms), like trained weights. */
export function bellFloats(count: number, seed: number, scale = 1): Float32Array {
  const next = lcg(seed);
  return Float32Array.from({ length: count }, () => (next() + next() + next() - 1.5) * 2 * scale);
}

/** Uniform values in [-2, 2): the feeds of parity runs. */
export function randomFloats(count: number, seed: number): Float32Array {
  const next = lcg(seed);
  return Float32Array.from({ length: count }, () => next() * 4 - 2);
}
