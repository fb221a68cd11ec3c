// Checks by evaluation that an attention site computes softmax(scale · q·kᵀ [+ bias] + mask) · v, and learns its
// parameters: heads, scale, which graph input is the key mask (and its fill value), whether it is causal, and which
// value, if any, is an additive bias such as a relative position bias.
import type { Graph, Node, Value } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor, elementCount, type Scratch } from '../../src/ir/tensor.js';
import { elemTypeOf, shapeOf } from '../../src/ir/types.js';
import { ProbeEvaluator, makeProbeInputs, type ProbeInputs } from '../../src/eval/probe.js';
import { seededRandom } from '../../src/tensor/random.js';
import { DataType } from '../../src/tensor/dtype.js';
import { shapeReadsOf, whyNotRerootable } from './shape-reads.js';
import type { AttentionSite, Projection } from './site.js';

export interface AttentionMeaning {
  numHeads: number;
  headSize: number;
  /** Multiplies q·kᵀ. */
  scale: number;
  /** The graph input holding the 2-D (batch, key) 0/1 mask, if keys are masked by one. */
  maskInput?: Value;
  /** Every graph input the probes could not tell apart from maskInput (several may match by chance). */
  maskCandidates: Value[];
  causal: boolean;
  /** What masked scores become (exporters use float32's lowest value or -10000). */
  filterValue: number;
  /** A value (B|1, N|1, S, S), computed from the graph inputs alone, added to the scaled scores. */
  bias?: Value;
  /** Shape nodes the bias reads of the attention's own values, to be answered from the input's shape (shape-reads.ts). */
  biasShapeReads?: Node[];
  /** The value (B, S, N·H) that Attention replaces, or (B·S, N·H) when `flattened`. */
  output: Value;
  flattened: boolean;
}

/** Scores below this are masked ones. */
const MASKED = -1000;

export interface Probe {
  inputs: ProbeInputs;
  evaluator: ProbeEvaluator;
}

/**
 * Two probes of different sizes (where dims are not pinned), shared by every site of a model; `batch` sizes the
 * first symbolic dim; `scope` is the graph evaluated (an If branch reading the main graph's inputs).
 */
export function makeProbes(
  model: Model,
  fixedDims: Readonly<Record<string, number>> = {},
  batch = 2,
  scope: Graph = model.graph,
): Probe[] {
  // symbolic dims in order of appearance (batch, sequence, then e.g. an encoder's sequence), each probe's distinct
  return [
    [batch, 3, 4],
    [batch, 2, 5],
  ].map((sizes, i) => {
    const inputs = makeProbeInputs(model, sizes, 17 + i, fixedDims);
    return { inputs, evaluator: new ProbeEvaluator(model, inputs, scope) };
  });
}

function seededFloats(count: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: count }, () => random() - 0.5);
}

/**
 * x · W + b over all of W's columns for the probe's rows, (rows, width), rounded as the graph's MatMul and Add round
 * it; undefined when W or b does not fit x. site.ts matched the projection's value to be exactly this (MatMul(x, W)
 * + b, or Gemm on x's rows); computing it here reads W through the scratch buffer, where evaluating the graph would
 * keep every weight in memory.
 */
function linearRows(
  p: Projection,
  x: Float32Array,
  rows: number,
  din: number,
  scratch: Scratch,
): Float32Array | undefined {
  const [wr, wc] = p.weight.dims as [number, number];
  const width = p.transposed ? wr : wc;
  const b = p.bias?.toFloat32();
  if ((p.transposed ? wc : wr) !== din || (b && b.length !== width)) return undefined;
  const w = p.weight.peekFloat32(scratch);
  const acc = new Float64Array(rows * width);
  if (p.transposed) {
    // W is (width, din): each output is one dot product along a row of W
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < width; j++) acc[r * width + j] = dot(x, r * din, w, j * din, din);
  } else {
    // blocks of two rows by four columns, their sums held in locals; each sum still runs over i in order, as the
    // evaluator's MatMul does
    const fullRows = rows - (rows % 2);
    const fullColumns = width - (width % 4);
    for (let r = 0; r < fullRows; r += 2)
      for (let j = 0; j < fullColumns; j += 4) block2x4(acc, x, r, w, j, din, width);
    for (let r = 0; r < rows; r++)
      for (let j = r < fullRows ? fullColumns : 0; j < width; j++)
        acc[r * width + j] = columnDot(x, r * din, w, j, din, width);
  }
  return Float32Array.from(acc, (v, k) => (b ? Math.fround(Math.fround(v) + b[k % width]!) : v));
}

// The inner loops of linearRows as functions of their own: called many times, they are compiled after a few calls,
// where one loop nest in linearRows would run its first millions of steps unoptimized (several times slower).

/** Rows r, r+1 by columns j..j+3 of x · W (W is (din, width)). */
function block2x4(
  acc: Float64Array,
  x: Float32Array,
  r: number,
  w: Float32Array,
  j: number,
  din: number,
  width: number,
): void {
  let s00 = 0,
    s01 = 0,
    s02 = 0,
    s03 = 0,
    s10 = 0,
    s11 = 0,
    s12 = 0,
    s13 = 0;
  const x0 = r * din;
  const x1 = x0 + din;
  for (let i = 0, at = j; i < din; i++, at += width) {
    const a = x[x0 + i]!;
    const b = x[x1 + i]!;
    const w0 = w[at]!;
    const w1 = w[at + 1]!;
    const w2 = w[at + 2]!;
    const w3 = w[at + 3]!;
    s00 += a * w0;
    s01 += a * w1;
    s02 += a * w2;
    s03 += a * w3;
    s10 += b * w0;
    s11 += b * w1;
    s12 += b * w2;
    s13 += b * w3;
  }
  const o = r * width + j;
  acc[o] = s00;
  acc[o + 1] = s01;
  acc[o + 2] = s02;
  acc[o + 3] = s03;
  acc[o + width] = s10;
  acc[o + width + 1] = s11;
  acc[o + width + 2] = s12;
  acc[o + width + 3] = s13;
}

/** One element of x · W: row x0 of x with column j of W. */
function columnDot(x: Float32Array, x0: number, w: Float32Array, j: number, din: number, width: number): number {
  let sum = 0;
  for (let i = 0, at = j; i < din; i++, at += width) sum += x[x0 + i]! * w[at]!;
  return sum;
}

function dot(x: Float32Array, x0: number, w: Float32Array, w0: number, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += x[x0 + i]! * w[w0 + i]!;
  return sum;
}

/** Columns [c0, c1) of a projection's (rows, all) value, in float64. */
function columnsOf(values: Float32Array, rows: number, p: Projection): Float64Array {
  const all = values.length / rows;
  const [c0, c1] = p.columns;
  const width = c1 - c0;
  const out = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) for (let j = 0; j < width; j++) out[r * width + j] = values[r * all + c0 + j]!;
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const NOT_SCALED = 'scores are not a scaled q·kᵀ';

/** The bias broadcast to (B, N, S, S), or why it cannot be an attention bias. */
function broadcastBias(t: Tensor, B: number, N: number, S: number): Float32Array | string {
  const [b0, n0, s0, s1] = t.dims;
  if (t.rank !== 4 || (b0 !== 1 && b0 !== B) || (n0 !== 1 && n0 !== N) || s0 !== S || s1 !== S)
    return `the additive term is shaped [${t.dims}], not (${B}|1, ${N}|1, ${S}, ${S})`;
  const src = t.toFloat32();
  const out = new Float32Array(B * N * S * S);
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++) {
      const from = ((b0 === 1 ? 0 : b) * n0! + (n0 === 1 ? 0 : n)) * S * S;
      out.set(src.subarray(from, from + S * S), (b * N + n) * S * S);
    }
  return out;
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

/**
 * Whether a value's dims past the batch are static, so that every probe (each of one batch size) sizes it alike. Read
 * from its type: evaluating it here, without a probe's overrides, would cache values that depend on them.
 */
export function staticPastBatch(v: Value): boolean {
  const shape = shapeOf(v.type);
  return !!shape && shape.slice(1).every((d) => typeof d === 'number');
}

/** The (batch, heads, query, key) grid of a probe's scores, over the checked query rows: the index arithmetic in one place. */
class ScoreGrid {
  readonly rows: number[];

  constructor(
    readonly B: number,
    readonly N: number,
    readonly S: number,
  ) {
    this.rows = queryRows(S);
  }

  /** Flat index of score (b, n, i, j). */
  score(b: number, n: number, i: number, j: number): number {
    return ((b * this.N + n) * this.S + i) * this.S + j;
  }

  /** Flat index of (b, i, j) in a mask shared by the heads. */
  mask(b: number, i: number, j: number): number {
    return (b * this.S + i) * this.S + j;
  }

  /** Visits every score of the checked rows in order; a string returned by `visit` stops the walk and is returned. */
  each(visit: (b: number, n: number, i: number, j: number) => string | void): string | undefined {
    const { B, N, S } = this;
    for (let b = 0; b < B; b++)
      for (let n = 0; n < N; n++)
        for (const i of this.rows)
          for (let j = 0; j < S; j++) {
            const stop = visit(b, n, i, j);
            if (stop !== undefined) return stop;
          }
    return undefined;
  }
}

/** A site evaluated on one probe: q, k, v computed from x, and the evaluator that sees them. */
interface Projected {
  evaluate: (v: Value) => Tensor;
  grid: ScoreGrid;
  H: number;
  D: number;
  /** q·kᵀ of head n between query i and key j of batch b. */
  dot: (b: number, n: number, i: number, j: number) => number;
  pv: Float64Array;
}

/** q, k and v on the probe, computed from their weights (see linearRows) and given to the evaluator. */
function project(site: AttentionSite, probe: Probe, seed: number, scratch: Scratch): Projected | string {
  const { evaluator } = probe;
  const xDims = evaluator.dimsOf(site.q.x);
  if (xDims.length !== 3) return `attention input has rank ${xDims.length}, expected 3`;
  const [B, S, din] = xDims as [number, number, number];
  const x = seededFloats(B * S * din, seed);
  const rows = B * S;
  const overrides = new Map<Value, Tensor>([[site.q.x, Tensor.fromArray('probe', DataType.FLOAT, xDims, x)]]);
  for (const p of [site.q, site.k, site.v]) {
    if (overrides.has(p.value)) continue;
    const values = linearRows(p, x, rows, din, scratch);
    if (!values) return `projection '${p.value.name}' has a weight or bias that does not fit its input`;
    const dims = evaluator.dimsOf(p.value);
    if (elementCount(dims) !== values.length || dims.at(-1) !== values.length / rows)
      return `projection '${p.value.name}' is shaped [${dims}], not ${rows} rows of x · W`;
    overrides.set(p.value, Tensor.fromArray('', DataType.FLOAT, dims, values));
  }
  const evaluate = evaluator.with(overrides);

  const qDims = evaluate(site.scoresMatMul.input(0)).dims;
  if (qDims.length !== 4) return `q is shaped ${qDims.length}-D, expected (batch, heads, sequence, head size)`;
  const [, N, , H] = qDims as [number, number, number, number];
  const D = N * H;
  for (const p of [site.q, site.k, site.v])
    if (p.columns[1] - p.columns[0] !== D) return `a projection is not ${N}x${H} wide`;
  const [pq, pk, pv] = [site.q, site.k, site.v].map((p) => columnsOf(overrides.get(p.value)!.toFloat32(), rows, p)) as [
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  const dot = (b: number, n: number, i: number, j: number) => {
    let acc = 0;
    for (let h = 0; h < H; h++) acc += pq[(b * S + i) * D + n * H + h]! * pk[(b * S + j) * D + n * H + h]!;
    return acc;
  };
  return { evaluate, grid: new ScoreGrid(B, N, S), H, D, dot, pv };
}

/** What the scores say: the scale of q·kᵀ, which (b, query, key) are masked and with what, and an added bias. */
interface Scores {
  scale: number;
  masked: Uint8Array;
  filterValue: number;
  added: Float32Array | undefined;
}

/** The scores minus `bias`, measured against q·kᵀ: one scale, masked positions shared by the heads. */
function measureScores(
  site: AttentionSite,
  { evaluate, grid, dot }: Projected,
  bias: Value | undefined,
): Scores | string {
  const { B, N, S } = grid;
  const z = evaluate(site.scores);
  if (z.dims.join() !== [B, N, S, S].join()) return `scores are shaped [${z.dims}], expected [${[B, N, S, S]}]`;
  // a copy: the bias is subtracted in place, and the evaluator's tensors are shared
  const zs = Float32Array.from(z.toFloat32());
  let added: Float32Array | undefined;
  if (bias) {
    const t = evaluate(bias);
    if (t.dataType !== DataType.FLOAT) return `the additive term '${bias.name}' is not float32`;
    const b = broadcastBias(t, B, N, S);
    if (typeof b === 'string') return b;
    added = b;
    for (let i = 0; i < zs.length; i++) zs[i] = zs[i]! - added[i]!;
  }
  // A bias can carry the mask itself (T5 fills masked keys of its position bias with float32's lowest value): those
  // scores are whatever the bias makes them, and no other rule has to explain them.
  const maskedByBias = (at: number) => added !== undefined && added[at]! < MASKED;
  const ratios: number[] = [];
  const masked = new Uint8Array(B * S * S);
  const inconsistent = grid.each((b, n, i, j) => {
    const at = grid.score(b, n, i, j);
    if (maskedByBias(at)) return;
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
    if (maskedByBias(at)) return;
    const expect = scale * dot(b, n, i, j);
    if (masked[grid.mask(b, i, j)]) fills.push(zs[at]! - expect);
    else if (Math.abs(zs[at]! - expect) > 1e-3 * (1 + Math.abs(expect))) return NOT_SCALED;
  });
  if (unscaled) return unscaled;
  return { scale, masked, filterValue: fills.length ? Math.fround(median(fills)) : -10000, added };
}

/** The value after the context that equals a reference attention with these scores: (B, S, D), or (B·S, D). */
function matchOutput(
  site: AttentionSite,
  { evaluate, grid, H, D, dot, pv }: Projected,
  scores: Scores,
): { output: Value; flattened: boolean } | string {
  const { B, N, S } = grid;
  const { scale, masked, filterValue, added } = scores;
  const expected = new Float64Array(B * S * D);
  const logits = new Float64Array(S);
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++)
      for (const i of grid.rows) {
        let max = -Infinity;
        for (let j = 0; j < S; j++) {
          const term = added ? added[grid.score(b, n, i, j)]! : 0;
          logits[j] = scale * dot(b, n, i, j) + term + (masked[grid.mask(b, i, j)] ? filterValue : 0);
          max = Math.max(max, logits[j]!);
        }
        let sum = 0;
        for (let j = 0; j < S; j++) sum += logits[j] = Math.exp(logits[j]! - max);
        for (let h = 0; h < H; h++) {
          let acc = 0;
          for (let j = 0; j < S; j++) acc += (logits[j]! / sum) * pv[(b * S + j) * D + n * H + h]!;
          expected[(b * S + i) * D + n * H + h] = acc;
        }
      }
  // The attention output is (B, S, D), or (B·S, D) where the output projection is a Gemm on flattened rows.
  const shapes = site.outputCandidates.map((v) => evaluate(v).dims.join());
  let at = shapes.indexOf([B, S, D].join());
  const flattened = at < 0;
  if (flattened) at = shapes.indexOf([B * S, D].join());
  if (at < 0) return `no value after the context is shaped [${[B, S, D]}] or [${[B * S, D]}]`;
  const output = site.outputCandidates[at]!;
  const got = evaluate(output).toFloat32();
  let worst = 0;
  let peak = 1;
  for (let b = 0; b < B; b++)
    for (const i of grid.rows)
      for (let k = (b * S + i) * D; k < (b * S + i + 1) * D; k++) {
        worst = Math.max(worst, Math.abs(expected[k]! - got[k]!));
        peak = Math.max(peak, Math.abs(expected[k]!));
      }
  if (!(worst <= 1e-4 * peak)) return `the site's output differs from attention by ${worst.toExponential(2)}`;
  return { output, flattened };
}

/** What one probe shows of a site: its causality is undefined where the probe's key mask hides it. */
export type Probed<Meaning extends { causal: boolean }> = Omit<Meaning, 'causal'> & { causal?: boolean };

/** The meaning of one site on one probe, taking `bias` (if given) as an additive term of the scores. */
function probeSite(
  site: AttentionSite,
  probe: Probe,
  seed: number,
  bias: Value | undefined,
  scratch: Scratch,
): Probed<AttentionMeaning> | string {
  const projected = project(site, probe, seed, scratch);
  if (typeof projected === 'string') return projected;
  const scores = measureScores(site, projected, bias);
  if (typeof scores === 'string') return scores;
  const { B, N, S } = projected.grid;
  const explained = explainMask(probe.inputs, scores.masked, B, S, S, projected.grid.rows);
  if (typeof explained === 'string') return explained;
  const maskInput = explained.maskCandidates[0];
  const found = matchOutput(site, projected, scores);
  if (typeof found === 'string') return found;
  const { scale, filterValue } = scores;
  return {
    numHeads: N,
    headSize: projected.H,
    scale,
    ...explained,
    ...(maskInput ? { maskInput } : {}),
    filterValue,
    ...found,
    ...(bias ? { bias } : {}),
  };
}

/**
 * Which rule masks (b, query i, key j) on the checked query rows: 0/1 graph inputs over keys (every one that fits;
 * none when no input is needed), causality (key j after query i + Sk - Sq), both, or nothing. `causal` is undefined
 * where either rule fits: the key mask hides every later key of the checked rows, so this probe cannot tell.
 */
export function explainMask(
  inputs: ProbeInputs,
  masked: Uint8Array,
  B: number,
  Sq: number,
  Sk: number,
  rows: readonly number[],
): { maskCandidates: Value[]; causal?: boolean } | string {
  const candidates: (Value | undefined)[] = [undefined];
  for (const [v, t] of inputs.feeds)
    if (t.dims.join() === [B, Sk].join() && elemTypeOf(v.type) !== DataType.FLOAT) candidates.push(v);
  const fitting = (causal: boolean) =>
    candidates.filter((input) => {
      const m = input ? inputs.feeds.get(input)!.toNumbers() : undefined;
      for (let b = 0; b < B; b++)
        for (const i of rows)
          for (let j = 0; j < Sk; j++) {
            const predicted = (m && m[b * Sk + j] === 0) || (causal && j > i + Sk - Sq) ? 1 : 0;
            if (predicted !== masked[(b * Sq + i) * Sk + j]) return false;
          }
      return true;
    });
  const [plain, causal] = [fitting(false), fitting(true)];
  const fits = plain.length ? plain : causal;
  if (!fits.length) return 'the masked scores follow no key mask input or causal rule';
  const rule = plain.length && causal.length ? {} : { causal: !plain.length };
  return { maskCandidates: fits.includes(undefined) ? [] : (fits as Value[]), ...rule };
}

/**
 * The site's meaning if every probe agrees, else the first reason it is not attention. Scores that are not a scaled
 * q·kᵀ plus a mask may still be attention with an additive bias: each addend not computed from q, k or v (but perhaps
 * from their shapes) is tried as one.
 */
export function verifyAttention(site: AttentionSite, probes: Probe[], scratch: Scratch): AttentionMeaning | string {
  const plain = verifyWith(site, probes, undefined, scratch);
  if (typeof plain !== 'string' || plain !== NOT_SCALED) return plain;
  const reasons: string[] = [];
  for (const addend of site.addends) {
    const shapeReads = shapeReadsOf(addend, site);
    const unanswerable = shapeReads && whyNotRerootable(shapeReads, site.q.x);
    if (!shapeReads || unanswerable) {
      reasons.push(
        `'${addend.name}' is computed from q, k or v${unanswerable ? ` (its shape read: ${unanswerable})` : ''}`,
      );
      continue;
    }
    const meaning = verifyWith(site, probes, addend, scratch);
    if (typeof meaning !== 'string') return { ...meaning, biasShapeReads: shapeReads };
    reasons.push(`'${addend.name}' as a bias: ${meaning}`);
  }
  return reasons.length
    ? `${NOT_SCALED}, and no additive term is a bias: ${reasons.join('; ')}`
    : `${NOT_SCALED} and has no additive term to take as a bias`;
}

function verifyWith(
  site: AttentionSite,
  probes: Probe[],
  bias: Value | undefined,
  scratch: Scratch,
): AttentionMeaning | string {
  let first: Probed<AttentionMeaning> | undefined;
  for (const [i, probe] of probes.entries()) {
    // where the site's sizes are static, another probe checks them no more; it is still needed to tell masks apart
    // and, where the first could not, whether it is causal
    if (first && !first.maskInput && first.causal !== undefined && staticPastBatch(site.scores)) break;
    let meaning: Probed<AttentionMeaning> | string;
    try {
      meaning = probeSite(site, probe, 101 + i, bias, scratch);
    } catch (e) {
      return `cannot evaluate the site: ${(e as Error).message}`;
    }
    if (typeof meaning === 'string') return meaning;
    if (first) {
      const masks = first.maskCandidates.filter((v) => meaning.maskCandidates.includes(v));
      const same =
        first.numHeads === meaning.numHeads &&
        first.output === meaning.output &&
        first.flattened === meaning.flattened &&
        (first.maskInput === undefined) === (meaning.maskInput === undefined) &&
        (!first.maskInput || masks.length > 0) &&
        (first.causal === undefined || meaning.causal === undefined || first.causal === meaning.causal) &&
        Math.abs(first.scale - meaning.scale) <= 1e-5 * Math.abs(first.scale);
      if (!same) return 'probes of different sizes disagree about the site';
      // Inputs that match on every probe are told apart by name; more than one left is too ambiguous to fuse.
      const named = masks.length > 1 ? masks.filter((v) => /mask/i.test(v.name)) : masks;
      if (first.maskInput && named.length !== 1)
        return `cannot tell which input is the mask: ${masks.map((v) => v.name).join(', ')}`;
      first = {
        ...first,
        maskCandidates: named,
        ...(named.length ? { maskInput: named[0] } : {}),
        causal: first.causal ?? meaning.causal,
      };
    } else first = meaning;
  }
  const causal = first!.causal;
  if (causal === undefined) return 'the probes cannot tell whether the site is causal';
  return { ...first!, causal };
}
