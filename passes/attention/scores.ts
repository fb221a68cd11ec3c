// What the attention verifiers share: reading a probe's scores as scale · q·kᵀ (+ bias) + mask, the reference
// attention those numbers imply, and the small helpers around them. verify.ts (q, k and v projected from one input)
// and separate.ts (separate query, key and value) measure alike; gqa-verify.ts (decoders: softcaps, causality read
// off the scores) shares the helpers.
import type { Value } from '../../src/ir/graph.js';
import type { Tensor } from '../../src/ir/tensor.js';

/** Scores below this are masked ones. */
export const MASKED = -1000;

export const NOT_SCALED = 'scores are not a scaled q·kᵀ';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Uniform floats in [-0.5, 0.5) from a linear congruential generator: the decoder verifiers' probe values. */
export function lcgFloats(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5);
}

/**
 * A bias or mask written out at (B, N, S, T), or undefined where it does not broadcast to that along its first two
 * axes only, as an attention bias does.
 */
export function broadcastBias(
  t: Tensor,
  [B, N, S, T]: readonly [number, number, number, number],
): Float32Array | undefined {
  const [b0, n0, s0, t0] = t.dims;
  if (t.rank !== 4 || (b0 !== 1 && b0 !== B) || (n0 !== 1 && n0 !== N) || s0 !== S || t0 !== T) return undefined;
  const src = t.toFloat32();
  const out = new Float32Array(B * N * S * T);
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++) {
      const from = ((b0 === 1 ? 0 : b) * n0! + (n0 === 1 ? 0 : n)) * S * T;
      out.set(src.subarray(from, from + S * T), (b * N + n) * S * T);
    }
  return out;
}

/** The scores evaluated on a probe, as a copy (a bias is taken off in place; the evaluator's tensors are shared). */
export function scoresCopy(z: Tensor, dims: readonly number[]): Float32Array | string {
  if (z.dims.join() !== dims.join()) return `scores are shaped [${z.dims}], expected [${dims}]`;
  return Float32Array.from(z.toFloat32());
}

/**
 * The query rows a probe checks: every row of a short sequence; of a long static one (a speech encoder's 1500
 * frames), 32 spread over it, the first and last included, so that checking stays linear in its length.
 */
export function queryRows(S: number): number[] {
  const count = 32;
  if (S <= 2 * count) return Array.from({ length: S }, (_, i) => i);
  return Array.from({ length: count }, (_, k) => Math.round((k * (S - 1)) / (count - 1)));
}

/** q·kᵀ of head n between query i and key j of batch b. */
export type Dot = (b: number, n: number, i: number, j: number) => number;

/**
 * The (batch, heads, query, key) grid of a probe's scores, over the checked query rows: the index arithmetic in one
 * place.
 */
export class ScoreGrid {
  readonly rows: number[];

  constructor(
    readonly B: number,
    readonly N: number,
    readonly Sq: number,
    readonly Sk: number,
  ) {
    this.rows = queryRows(Sq);
  }

  /** Flat index of score (b, n, i, j). */
  score(b: number, n: number, i: number, j: number): number {
    return ((b * this.N + n) * this.Sq + i) * this.Sk + j;
  }

  /** Flat index of (b, i, j) in a mask shared by the heads. */
  mask(b: number, i: number, j: number): number {
    return (b * this.Sq + i) * this.Sk + j;
  }

  /** Visits every score of the checked rows in order; a string returned by `visit` stops the walk and is returned. */
  each(visit: (b: number, n: number, i: number, j: number) => string | void): string | undefined {
    const { B, N, Sk } = this;
    for (let b = 0; b < B; b++)
      for (let n = 0; n < N; n++)
        for (const i of this.rows)
          for (let j = 0; j < Sk; j++) {
            const stop = visit(b, n, i, j);
            if (stop !== undefined) return stop;
          }
    return undefined;
  }
}

/** What the scores say: the scale of q·kᵀ, which (b, query, key) are masked, and what masked scores become. */
export interface Scores {
  scale: number;
  masked: Uint8Array;
  filterValue: number;
}

/**
 * The scores (a bias already taken off) measured against q·kᵀ: one scale, masked positions shared by the heads.
 * Scores that `maskedBy` (the bias) masks itself are its own to explain, and skipped.
 */
export function measureScores(zs: Float32Array, grid: ScoreGrid, dot: Dot, maskedBy?: Float32Array): Scores | string {
  const { B, Sq, Sk } = grid;
  const skipped = (at: number) => maskedBy !== undefined && maskedBy[at]! < MASKED;
  const ratios: number[] = [];
  const masked = new Uint8Array(B * Sq * Sk);
  const inconsistent = grid.each((b, n, i, j) => {
    const at = grid.score(b, n, i, j);
    if (skipped(at)) return;
    const isMasked = zs[at]! < MASKED ? 1 : 0;
    const m = grid.mask(b, i, j);
    if (n > 0 && masked[m] !== isMasked) return 'the mask differs between heads';
    masked[m] = isMasked;
    const d = dot(b, n, i, j);
    if (!isMasked && Math.abs(d) > 1e-3) ratios.push(zs[at]! / d);
  });
  if (inconsistent) return inconsistent;
  if (!ratios.length) return 'no unmasked scores to measure the scale from';
  const scale = median(ratios);
  const fills: number[] = [];
  const unscaled = grid.each((b, n, i, j) => {
    const at = grid.score(b, n, i, j);
    if (skipped(at)) return;
    const expect = scale * dot(b, n, i, j);
    if (masked[grid.mask(b, i, j)]) fills.push(zs[at]! - expect);
    else if (Math.abs(zs[at]! - expect) > 1e-3 * (1 + Math.abs(expect))) return NOT_SCALED;
  });
  if (unscaled) return unscaled;
  return { scale, masked, filterValue: fills.length ? Math.fround(median(fills)) : -10000 };
}

/**
 * softmax(scale · q·kᵀ + bias + mask) · v on the checked rows, laid out (B, Sq, N·H): what the site's output must be.
 * `value(b, n, j, h)` reads element h of key j's value in head n.
 */
export function expectedAttention(
  grid: ScoreGrid,
  { scale, masked, filterValue }: Scores,
  added: Float32Array | undefined,
  dot: Dot,
  value: (b: number, n: number, j: number, h: number) => number,
  H: number,
): Float64Array {
  const { B, N, Sq, Sk } = grid;
  const D = N * H;
  const expected = new Float64Array(B * Sq * D);
  const logits = new Float64Array(Sk);
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++)
      for (const i of grid.rows) {
        let max = -Infinity;
        for (let j = 0; j < Sk; j++) {
          const term = added ? added[grid.score(b, n, i, j)]! : 0;
          logits[j] = scale * dot(b, n, i, j) + term + (masked[grid.mask(b, i, j)] ? filterValue : 0);
          max = Math.max(max, logits[j]!);
        }
        let sum = 0;
        for (let j = 0; j < Sk; j++) sum += logits[j] = Math.exp(logits[j]! - max);
        for (let h = 0; h < H; h++) {
          let acc = 0;
          for (let j = 0; j < Sk; j++) acc += (logits[j]! / sum) * value(b, n, j, h);
          expected[(b * Sq + i) * D + n * H + h] = acc;
        }
      }
  return expected;
}

/** Why the site's output (B, Sq, D) is not the expected attention on the checked rows, or undefined when it is. */
export function outputMismatch(
  expected: Float64Array,
  got: Float32Array,
  grid: ScoreGrid,
  D: number,
): string | undefined {
  const { B, Sq } = grid;
  let worst = 0;
  let peak = 1;
  for (let b = 0; b < B; b++)
    for (const i of grid.rows)
      for (let k = (b * Sq + i) * D; k < (b * Sq + i + 1) * D; k++) {
        worst = Math.max(worst, Math.abs(expected[k]! - got[k]!));
        peak = Math.max(peak, Math.abs(expected[k]!));
      }
  return worst <= 1e-4 * peak ? undefined : `the site's output differs from attention by ${worst.toExponential(2)}`;
}

/**
 * The site's meaning, or where its scores are not a scaled q·kᵀ plus a mask, its meaning with one of its `addends` as
 * an additive bias (a relative position bias): `verifyWith(bias)` verifies it either way; `whyNot(addend)` says why an
 * addend cannot be a bias (computed from q, k or v); `noAddends` is the refusal of a site that has none.
 */
export function withAdditiveBias<M>(
  verifyWith: (bias: Value | undefined) => M | string,
  addends: readonly Value[],
  whyNot: (addend: Value) => string | undefined,
  noAddends: string,
): M | string {
  const plain = verifyWith(undefined);
  if (typeof plain !== 'string' || plain !== NOT_SCALED) return plain;
  const reasons: string[] = [];
  for (const addend of addends) {
    const refusal = whyNot(addend);
    if (refusal) {
      reasons.push(`'${addend.name}' ${refusal}`);
      continue;
    }
    const meaning = verifyWith(addend);
    if (typeof meaning !== 'string') return meaning;
    reasons.push(`'${addend.name}' as a bias: ${meaning}`);
  }
  return reasons.length ? `${NOT_SCALED}, and no additive term is a bias: ${reasons.join('; ')}` : noAddends;
}
