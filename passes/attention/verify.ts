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
import {
  NOT_SCALED,
  ScoreGrid,
  broadcastBias,
  expectedAttention,
  measureScores,
  withAdditiveBias,
  outputMismatch,
  scoresCopy,
  type Dot,
  type Scores,
} from './scores.js';

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

/**
 * Whether a value's dims past the batch are static, so that every probe (each of one batch size) sizes it alike. Read
 * from its type: evaluating it here, without a probe's overrides, would cache values that depend on them.
 */
export function staticPastBatch(v: Value): boolean {
  const shape = shapeOf(v.type);
  return !!shape && shape.slice(1).every((d) => typeof d === 'number');
}

/** A site evaluated on one probe: q, k, v computed from x, and the evaluator that sees them. */
interface Projected {
  evaluate: (v: Value) => Tensor;
  grid: ScoreGrid;
  H: number;
  D: number;
  dot: Dot;
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
  return { evaluate, grid: new ScoreGrid(B, N, S, S), H, D, dot, pv };
}

/** The scores minus `bias` (returned as `added`), measured against q·kᵀ. */
function scoresOf(
  site: AttentionSite,
  { evaluate, grid, dot }: Projected,
  bias: Value | undefined,
): (Scores & { added: Float32Array | undefined }) | string {
  const { B, N, Sq: S } = grid;
  const zs = scoresCopy(evaluate(site.scores), [B, N, S, S]);
  if (typeof zs === 'string') return zs;
  let added: Float32Array | undefined;
  if (bias) {
    const t = evaluate(bias);
    if (t.dataType !== DataType.FLOAT) return `the additive term '${bias.name}' is not float32`;
    added = broadcastBias(t, [B, N, S, S]);
    if (!added) return `the additive term is shaped [${t.dims}], not (${B}|1, ${N}|1, ${S}, ${S})`;
    for (let i = 0; i < zs.length; i++) zs[i] = zs[i]! - added[i]!;
  }
  // A bias can carry the mask itself (T5 fills masked keys of its position bias with float32's lowest value): those
  // scores are whatever the bias makes them, and no other rule has to explain them.
  const scores = measureScores(zs, grid, dot, added);
  return typeof scores === 'string' ? scores : { ...scores, added };
}

/** The value after the context that equals a reference attention with these scores: (B, S, D), or (B·S, D). */
function matchOutput(
  site: AttentionSite,
  { evaluate, grid, H, D, dot, pv }: Projected,
  scores: Scores & { added: Float32Array | undefined },
): { output: Value; flattened: boolean } | string {
  const { B, Sq: S } = grid;
  const expected = expectedAttention(
    grid,
    scores,
    scores.added,
    dot,
    (b, n, j, h) => pv[(b * S + j) * D + n * H + h]!,
    H,
  );
  // The attention output is (B, S, D), or (B·S, D) where the output projection is a Gemm on flattened rows.
  const shapes = site.outputCandidates.map((v) => evaluate(v).dims.join());
  let at = shapes.indexOf([B, S, D].join());
  const flattened = at < 0;
  if (flattened) at = shapes.indexOf([B * S, D].join());
  if (at < 0) return `no value after the context is shaped [${[B, S, D]}] or [${[B * S, D]}]`;
  const output = site.outputCandidates[at]!;
  return outputMismatch(expected, evaluate(output).toFloat32(), grid, D) ?? { output, flattened };
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
  const scores = scoresOf(site, projected, bias);
  if (typeof scores === 'string') return scores;
  const { B, N, Sq: S } = projected.grid;
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
  return withAdditiveBias<AttentionMeaning>(
    (bias) => {
      const meaning = verifyWith(site, probes, bias, scratch);
      // the bias's reads of the site's shapes are answered from x's shape when the site is rewritten
      return bias && typeof meaning !== 'string' ? { ...meaning, biasShapeReads: shapeReadsOf(bias, site)! } : meaning;
    },
    site.addends,
    (addend) => {
      const shapeReads = shapeReadsOf(addend, site);
      const unanswerable = shapeReads && whyNotRerootable(shapeReads, site.q.x);
      if (!shapeReads || unanswerable)
        return `is computed from q, k or v${unanswerable ? ` (its shape read: ${unanswerable})` : ''}`;
      return undefined;
    },
    `${NOT_SCALED} and has no additive term to take as a bias`,
  );
}

function verifyWith(
  site: AttentionSite,
  probes: Probe[],
  bias: Value | undefined,
  scratch: Scratch,
): AttentionMeaning | string {
  return agreedMeaning<AttentionMeaning>(
    probes,
    site.scores,
    (probe, i) => probeSite(site, probe, 101 + i, bias, scratch),
    (first, next) => {
      const masks = first.maskCandidates.filter((v) => next.maskCandidates.includes(v));
      const alike =
        first.flattened === next.flattened &&
        (first.maskInput === undefined) === (next.maskInput === undefined) &&
        (!first.maskInput || masks.length > 0);
      if (!alike) return undefined;
      // Inputs that match on every probe are told apart by name; more than one left is too ambiguous to fuse.
      const named = masks.length > 1 ? masks.filter((v) => /mask/i.test(v.name)) : masks;
      if (first.maskInput && named.length !== 1)
        return `cannot tell which input is the mask: ${masks.map((v) => v.name).join(', ')}`;
      return { ...first, maskCandidates: named, ...(named.length ? { maskInput: named[0] } : {}) };
    },
  );
}

/** What probes of one site must agree on, whatever the site. */
interface Comparable {
  numHeads: number;
  output: Value;
  scale: number;
  causal: boolean;
  maskInput?: Value;
}

/**
 * The meaning every probe agrees on, or the first reason a probe gives. Probes must agree on the heads, the output, the
 * scale and, where each can tell, causality; `merge` compares the rest of two probes' meanings and returns them
 * merged, undefined where they disagree, or why the site is refused.
 */
export function agreedMeaning<M extends Comparable>(
  probes: readonly Probe[],
  scores: Value,
  probeOne: (probe: Probe, index: number) => Probed<M> | string,
  merge: (first: Probed<M>, next: Probed<M>) => Probed<M> | string | undefined,
): M | string {
  // what the generic meaning is known to hold
  type Seen = Probed<M> & Probed<Comparable>;
  let first: Seen | undefined;
  for (const [i, probe] of probes.entries()) {
    // where the site's sizes are static, another probe checks them no more; it is still needed to tell masks apart
    // and, where the first could not, whether it is causal
    if (first && !first.maskInput && first.causal !== undefined && staticPastBatch(scores)) break;
    let meaning: Seen;
    try {
      const probed = probeOne(probe, i);
      if (typeof probed === 'string') return probed;
      meaning = probed as Seen;
    } catch (e) {
      return `cannot evaluate the site: ${(e as Error).message}`;
    }
    if (!first) {
      first = meaning;
      continue;
    }
    const same =
      first.numHeads === meaning.numHeads &&
      first.output === meaning.output &&
      (first.causal === undefined || meaning.causal === undefined || first.causal === meaning.causal) &&
      Math.abs(first.scale - meaning.scale) <= 1e-5 * Math.abs(first.scale);
    const merged = same ? merge(first, meaning) : undefined;
    if (merged === undefined) return 'probes of different sizes disagree about the site';
    if (typeof merged === 'string') return merged;
    first = { ...merged, causal: first.causal ?? meaning.causal } as Seen;
  }
  const causal = first!.causal;
  if (causal === undefined) return 'the probes cannot tell whether the site is causal';
  return { ...first!, causal } as unknown as M;
}
