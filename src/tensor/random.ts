// The one seeded generator of the library: probe inputs (src/eval/probe.ts) and generated model inputs
// (src/runtime/inputs.ts) draw from it, so a seed means the same numbers everywhere.

/** Uniform numbers in [0, 1) from mulberry32: small, fast, deterministic across platforms for a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
