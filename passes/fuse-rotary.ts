// Rotary position embeddings -> com.microsoft RotaryEmbedding (ONNX's own RotaryEmbedding from opset 23). The house
// way, as for attention: a loose structural walk finds candidates, x·cos + rotate(x)·sin with cos and sin computed
// without x, and evaluation on probe inputs proves what each computes. The layout (rotate-half or interleaved pairs),
// the rotary width (partial rotary) and the cos/sin tables are read off the numbers: the tables are the graph's own
// cos and sin evaluated at positions 0..T-1, whether the graph gathers them from a table or computes them from
// inv_freq. The positions the site used (an input, a range, an attention_mask cumsum) stay in the graph and feed
// the fused op, so every way of computing them fuses alike.
import type { Graph, Node, Value } from '../src/ir/graph.js';
import type { Model } from '../src/ir/model.js';
import { MS_DOMAIN, isStandardNode } from '../src/ir/ops.js';
import { computationSignature } from '../src/ir/signature.js';
import { Tensor } from '../src/ir/tensor.js';
import { elemTypeOf, shapeOf, tensorType } from '../src/ir/types.js';
import { definePass, option, type PassResult } from '../src/pass/index.js';
import { fuseProbedSites, replaceSite } from '../src/pattern/index.js';
import { DataType } from '../src/tensor/dtype.js';
import { ProbeEvaluator, makeProbeInputs } from '../src/eval/probe.js';
import { makeProbes, type Probe } from './attention/verify.js';
import { makeDecoderProbes } from './attention/gqa-verify.js';
import { lcgFloats } from './attention/scores.js';

/** Positions covered by caches computed from inv_freq, unless the pass is told otherwise (--max-positions). */
export const DEFAULT_MAX_POSITIONS = 4096;

export interface RotarySite {
  /** The Add of x·cos and rotate(x)·sin. */
  add: Node;
  /** The rotated part of the input. */
  rotated: Value;
  cos: Value;
  sin: Value;
  /** The full input (B, N, S, H): `rotated` itself, or what it is sliced from (partial rotary). */
  input: Value;
  /** The value the fused op replaces: the Add, or the Concat that appends the unrotated part. */
  output: Value;
}

export interface RotaryMeaning {
  interleaved: boolean;
  /** Rotated width per head (the head size unless partial). */
  rotaryDim: number;
  headSize: number;
  numHeads: number;
  /** (T, rotaryDim / 2) each. */
  cosCache: Float32Array;
  sinCache: Float32Array;
  maxPositions: number;
  /** The positions the site uses: (B | 1, S) integers, or (S), or with unit axes: (B | 1, 1, S), (S, 1). */
  positions: Value;
  /** The positions are not (B | 1, S) as they are, and are reshaped to it. */
  reshapePositions: boolean;
  /** The positions are one row for the whole batch, to be expanded to (B, S). */
  broadcastBatch: boolean;
}

/** Ops a rotate-half or interleaved rotation of x is written with. */
const ROTATION = new Set([
  'Slice',
  'Neg',
  'Concat',
  'Unsqueeze',
  'Squeeze',
  'Reshape',
  'Gather',
  'Split',
  'Mul',
  'Transpose',
  'Identity',
  'Cast',
]);

/** Whether `v` is computed from `x` through rotation ops alone (a few steps). */
function rotationOf(v: Value, x: Value, depth = 0): boolean {
  if (v === x) return depth > 0;
  const n = v.producer;
  if (depth > 8 || !isStandardNode(n) || !ROTATION.has(n.opType)) return false;
  if (n.opType === 'Mul' && !n.inputs.some((i) => i?.constantTensor()?.size === 1)) return false;
  return n.inputs.some((i) => !!i && !i.constantTensor() && rotationOf(i, x, depth + 1));
}

/** Whether `v`'s values depend on `x`'s (Shape reads of x do not count). */
function dependsOn(v: Value, x: Value, limit = 400): boolean {
  const seen = new Set<Value>();
  const pending = [v];
  while (pending.length) {
    const cur = pending.pop()!;
    if (cur === x) return true;
    if (seen.has(cur)) continue;
    seen.add(cur);
    if (seen.size > limit) return true;
    const n = cur.producer;
    if (!n || (isStandardNode(n) && (n.opType === 'Shape' || n.opType === 'Size'))) continue;
    for (const i of n.inputs) if (i) pending.push(i);
  }
  return false;
}

/** The value `rotated` is sliced from when the Add's result is concatenated with the rest of it (partial rotary). */
function partialInput(add: Node, rotated: Value): { input: Value; output: Value } | undefined {
  const out = add.output(0);
  if (out.uses.length !== 1) return undefined;
  const concat = out.uses[0]!.node;
  if (!isStandardNode(concat) || concat.opType !== 'Concat' || concat.inputs.length !== 2 || concat.inputs[0] !== out)
    return undefined;
  const rest = concat.inputs[1]!.producer;
  const head = rotated.producer;
  if (
    !isStandardNode(rest) ||
    !isStandardNode(head) ||
    rest.opType !== 'Slice' ||
    head.opType !== 'Slice' ||
    rest.inputs[0] !== head.inputs[0]
  )
    return undefined;
  return { input: head.input(0), output: concat.output(0) };
}

export function findRotarySites(graph: Graph): RotarySite[] {
  const sites: RotarySite[] = [];
  for (const add of graph.nodes) {
    if (!isStandardNode(add) || add.opType !== 'Add') continue;
    const [m1, m2] = add.inputs.map((v) => v?.producer);
    if (!isStandardNode(m1) || !isStandardNode(m2) || m1.opType !== 'Mul' || m2.opType !== 'Mul') continue;
    let found: RotarySite | undefined;
    for (const [plain, turned] of [
      [m1, m2],
      [m2, m1],
    ] as const) {
      for (const [x, cos] of [
        [plain.inputs[0], plain.inputs[1]],
        [plain.inputs[1], plain.inputs[0]],
      ]) {
        for (const [r, sin] of [
          [turned.inputs[0], turned.inputs[1]],
          [turned.inputs[1], turned.inputs[0]],
        ]) {
          if (found || !x || !cos || !r || !sin || x.constantTensor() || !rotationOf(r, x)) continue;
          if (dependsOn(cos, x) || dependsOn(sin, x)) continue;
          const partial = partialInput(add, x);
          found = { add, rotated: x, cos, sin, input: partial?.input ?? x, output: partial?.output ?? add.output(0) };
        }
      }
    }
    if (found) sites.push(found);
  }
  return sites;
}

const INTEGER = new Set<number>([DataType.INT64, DataType.INT32]);
/** Inputs that carry sizes or indices of a shape, not data: the positions are not found through them. */
const SHAPE_INPUTS: Record<string, number[]> = {
  Reshape: [1],
  Expand: [1],
  Tile: [1],
  Slice: [1, 2, 3, 4],
  Unsqueeze: [1],
  Squeeze: [1],
  ConstantOfShape: [0],
  Range: [0, 1, 2],
};

/** Back from an integer value through unsqueezes, reshapes and integer casts to where the positions were made. */
function positionRoot(v: Value): Value {
  let cur = v;
  for (let step = 0; step < 6; step++) {
    const n = cur.producer;
    const src = n?.inputs[0];
    if (
      !isStandardNode(n) ||
      !src ||
      !['Unsqueeze', 'Squeeze', 'Reshape', 'Identity', 'Cast'].includes(n.opType) ||
      !INTEGER.has(elemTypeOf(src.type) ?? -1)
    )
      break;
    // positions are (B | 1, S): not walked back to a 1-D range
    if ((shapeOf(src.type)?.length ?? 0) < 2) break;
    cur = src;
  }
  return cur;
}

/** The integer value nearest to cos that cos is computed from: the position ids (B | 1, S). */
function positionsOf(cos: Value): Value | undefined {
  const seen = new Set<Value>([cos]);
  let frontier = [cos];
  for (let depth = 0; depth < 24 && frontier.length; depth++) {
    const next: Value[] = [];
    for (const v of frontier) {
      if (v !== cos && !v.constantTensor() && INTEGER.has(elemTypeOf(v.type) ?? -1)) return positionRoot(v);
      const n = v.producer;
      if (!isStandardNode(n) || n.opType === 'Shape' || n.opType === 'Size') continue;
      const skip = SHAPE_INPUTS[n.opType] ?? [];
      n.inputs.forEach((i, k) => {
        if (i && !skip.includes(k) && !seen.has(i)) {
          seen.add(i);
          next.push(i);
        }
      });
    }
    frontier = next;
  }
  return undefined;
}

/** Rows of a constant table that cos gathers by position, when it does: the positions the model supports. */
function tableLength(cos: Value, positions: Value): number | undefined {
  const seen = new Set<Value>();
  const pending = [cos];
  while (pending.length) {
    const v = pending.pop()!;
    if (v === positions || seen.has(v) || seen.size > 200) continue;
    seen.add(v);
    const n = v.producer;
    if (!isStandardNode(n)) continue;
    const table = n.opType === 'Gather' ? n.inputs[0]?.constantTensor() : undefined;
    if (table && n.attrInt('axis', 0) === 0) return table.dims[0];
    for (const i of n.inputs) if (i) pending.push(i);
  }
  return undefined;
}

/**
 * (T, width) rows of a table evaluated at positions 0..T-1, or why not. Leading axes the table is only broadcast
 * along (dynamo exports expand inv_freq to the batch) must repeat one (T, width) block.
 */
function tableRows(t: Tensor, T: number): { rows: Float32Array; width: number } | string {
  const dims = t.dims.filter((d) => d !== 1);
  const why = `cos/sin at ${T} positions is shaped [${t.dims}], not (${T}, rotary width)`;
  if (dims.length < 2 || dims[dims.length - 2] !== T) return why;
  const width = dims[dims.length - 1]!;
  const all = t.toFloat32();
  const block = T * width;
  for (let i = block; i < all.length; i++) if (all[i] !== all[i % block]) return why;
  return { rows: all.subarray(0, block), width };
}

/**
 * How positions fit a (B, N, S, H) input: one per token of a row (S), or per token (B, S), with unit axes anywhere
 * after the batch ((1, 1, S) and (B, 1, S) from dynamo, (S, 1) from an outer product); undefined if they do not.
 */
function positionsLayout(
  posDims: readonly number[],
  B: number,
  S: number,
): { broadcast: boolean; plain: boolean } | undefined {
  const sized = posDims.filter((d) => d !== 1);
  if (sized.length === 1 && sized[0] === S) return { broadcast: true, plain: posDims.length === 2 && posDims[1] === S };
  if (sized.length === 2 && posDims[0] === B && sized[1] === S)
    return { broadcast: false, plain: posDims.length === 2 };
  return undefined;
}

/** The half-width cache of a full-width table, if the table repeats itself in that layout. */
function halfCache(rows: Float32Array, T: number, width: number, interleaved: boolean): Float32Array | undefined {
  const half = width / 2;
  const out = new Float32Array(T * half);
  for (let p = 0; p < T; p++)
    for (let i = 0; i < half; i++) {
      const [a, b] = interleaved
        ? [rows[p * width + 2 * i]!, rows[p * width + 2 * i + 1]!]
        : [rows[p * width + i]!, rows[p * width + i + half]!];
      if (Math.abs(a - b) > 1e-6 * (1 + Math.abs(a))) return undefined;
      out[p * half + i] = a;
    }
  return out;
}

/** RotaryEmbedding's math on (B, N, S, H) x with (B, S) positions, in float64. */
export function rotaryReference(
  x: Float32Array,
  dims: readonly number[],
  positions: readonly number[],
  m: Pick<RotaryMeaning, 'interleaved' | 'rotaryDim' | 'cosCache' | 'sinCache'>,
): Float64Array {
  const [B, N, S, H] = dims as [number, number, number, number];
  const half = m.rotaryDim / 2;
  const out = Float64Array.from(x);
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++)
      for (let s = 0; s < S; s++) {
        const p = positions[b * S + s]!;
        const base = ((b * N + n) * S + s) * H;
        for (let i = 0; i < half; i++) {
          const c = m.cosCache[p * half + i]!;
          const sn = m.sinCache[p * half + i]!;
          const [ia, ib] = m.interleaved ? [2 * i, 2 * i + 1] : [i, i + half];
          const a = x[base + ia]!;
          const bb = x[base + ib]!;
          out[base + ia] = a * c - bb * sn;
          out[base + ib] = bb * c + a * sn;
        }
      }
  return out;
}

type Tables = Pick<RotaryMeaning, 'interleaved' | 'rotaryDim' | 'cosCache' | 'sinCache'>;
/** Tables already made, by cos value, sin value and length. */
export type TableCache = Map<Value, Map<Value, Map<string, Tables | string>>>;

/** What verification reads of a probe. */
type RotaryProbe = Pick<Probe, 'evaluator'>;

/**
 * Probe inputs of one row of T tokens, for cos/sin that the graph shapes with its own token count (dynamo's
 * repeat_interleave reshapes to (B, S, -1) read off the inputs): the batch is 1, a dim found only as the length of
 * 4-D float inputs (a KV cache, which would be large) is 1, every other symbolic dim is T.
 */
function tableProbe(model: Model, graph: Graph, T: number): RotaryProbe | undefined {
  const inputs = model.graph.inputs.filter((i) => !i.initializer);
  const dimsOf = (i: Value) =>
    (shapeOf(i.type) ?? []).map((d, axis) => ({ name: typeof d === 'number' ? undefined : (d ?? `?${i.name}`), axis }));
  const cacheAxis = (i: Value, axis: number) =>
    axis === 2 && shapeOf(i.type)?.length === 4 && elemTypeOf(i.type) === DataType.FLOAT;
  const tokens = new Set(
    inputs.flatMap((i) =>
      dimsOf(i)
        .filter((d) => d.axis > 0 && !cacheAxis(i, d.axis))
        .map((d) => d.name),
    ),
  );
  const sizes: number[] = [];
  const seen = new Set<string>();
  for (const input of inputs)
    for (const { name, axis } of dimsOf(input)) {
      if (name === undefined || seen.has(name)) continue;
      seen.add(name);
      sizes.push(axis > 0 && tokens.has(name) ? T : 1);
    }
  try {
    return { evaluator: new ProbeEvaluator(model, makeProbeInputs(model, sizes, 59), graph) };
  } catch {
    return undefined;
  }
}

/** The site's cos and sin at positions 0..T-1, as RotaryEmbedding's half-width caches, or why they are not. */
function cacheTables(
  site: RotarySite,
  positions: Value,
  rampDims: number[],
  T: number,
  H: number,
  probe: RotaryProbe,
  long?: () => RotaryProbe | undefined,
): Tables | string {
  const ramp = Tensor.fromArray(
    '',
    elemTypeOf(positions.type) ?? DataType.INT64,
    rampDims,
    Array.from({ length: T }, (_, i) => i),
  );
  const evaluate = (p: RotaryProbe): [Tensor, Tensor] => {
    const at = p.evaluator.with(new Map([[positions, ramp]]));
    return [at(site.cos), at(site.sin)];
  };
  let cos: Tensor, sin: Tensor;
  try {
    [cos, sin] = evaluate(probe);
  } catch (e) {
    // shapes the graph reads off its inputs fit the probe's few tokens, not T positions: then a probe of T tokens
    const longer = long?.();
    try {
      if (!longer) throw e;
      [cos, sin] = evaluate(longer);
    } catch {
      return `cannot evaluate cos/sin at ${T} positions: ${(e as Error).message}`;
    }
  }
  const c = tableRows(cos, T);
  const s = tableRows(sin, T);
  if (typeof c === 'string') return c;
  if (typeof s === 'string') return s;
  if (c.width !== s.width || c.width % 2 || c.width > H)
    return `cos/sin are ${c.width} wide, not an even width up to the head size ${H}`;
  // both layouts fit only tables constant along the width; the probes then decide
  for (const interleaved of [false, true]) {
    const cosCache = halfCache(c.rows, T, c.width, interleaved);
    const sinCache = cosCache && halfCache(s.rows, T, s.width, interleaved);
    if (cosCache && sinCache) return { interleaved, rotaryDim: c.width, cosCache, sinCache };
  }
  return 'cos/sin repeat themselves in neither the rotate-half nor the interleaved layout';
}

/** The site's meaning on the probes, or why it is not rotary. */
export function verifyRotary(
  site: RotarySite,
  probes: RotaryProbe[],
  maxPositions: number,
  tables: TableCache = new Map(),
  long?: (T: number) => RotaryProbe | undefined,
): RotaryMeaning | string {
  const positions = positionsOf(site.cos);
  if (!positions || positionsOf(site.sin) !== positions)
    return 'cos and sin are not computed from one integer position tensor';
  const T = tableLength(site.cos, positions) ?? maxPositions;
  const first = probes[0]!;
  let meaning: RotaryMeaning | undefined;
  for (const [k, probe] of probes.entries()) {
    let dims: readonly number[], posDims: readonly number[];
    try {
      dims = probe.evaluator.dimsOf(site.input);
      posDims = probe.evaluator.dimsOf(positions);
    } catch (e) {
      return `cannot evaluate the site: ${(e as Error).message}`;
    }
    if (dims.length !== 4) return `the rotated input is ${dims.length}-D, not (batch, heads, sequence, head size)`;
    const [B, N, S, H] = dims as [number, number, number, number];
    const layout = positionsLayout(posDims, B, S);
    if (!layout) return `positions are shaped [${posDims}], not (${B} | 1, ${S})`;
    if (!meaning) {
      // every layer reads the same cos/sin (after clean): their tables are made once
      // positions 0..T-1 along the sequence axis (the last one not 1), one row
      const seqAxis = posDims.reduce((at, d, i) => (d !== 1 ? i : at), posDims.length - 1);
      const rampDims = posDims.map((_, i) => (i === seqAxis ? T : 1));
      const key = `${T}:${rampDims}`;
      let made = tables.get(site.cos)?.get(site.sin)?.get(key);
      if (!made) {
        made = cacheTables(site, positions, rampDims, T, H, first, long && (() => long(T)));
        if (!tables.has(site.cos)) tables.set(site.cos, new Map());
        if (!tables.get(site.cos)!.has(site.sin)) tables.get(site.cos)!.set(site.sin, new Map());
        tables.get(site.cos)!.get(site.sin)!.set(key, made);
      }
      if (typeof made === 'string') return made;
      meaning = {
        ...made,
        headSize: H,
        numHeads: N,
        maxPositions: T,
        positions,
        reshapePositions: !layout.plain,
        broadcastBatch: layout.broadcast,
      };
    }
    if (meaning.numHeads !== N || meaning.headSize !== H) return 'probes of different sizes disagree about the heads';
    if (meaning.broadcastBatch !== layout.broadcast)
      return "probes of different sizes disagree about the positions' batch";
    const x = lcgFloats(B * N * S * H, 301 + k);
    const pos = Array.from({ length: (meaning.broadcastBatch ? 1 : B) * S }, (_, i) => (i * 7919 + 13 * k) % T);
    const posTensor = Tensor.fromArray('', elemTypeOf(positions.type) ?? DataType.INT64, posDims, pos);
    let got: Float32Array;
    try {
      got = probe.evaluator
        .with(
          new Map([
            [site.input, Tensor.fromArray('', DataType.FLOAT, dims, x)],
            [positions, posTensor],
          ]),
        )(site.output)
        .toFloat32();
    } catch (e) {
      return `cannot evaluate the site: ${(e as Error).message}`;
    }
    const full = meaning.broadcastBatch ? Array.from({ length: B }, () => pos).flat() : pos;
    const expected = rotaryReference(x, dims, full, meaning as RotaryMeaning);
    let worst = 0;
    expected.forEach((e, i) => (worst = Math.max(worst, Math.abs(e - got[i]!))));
    if (!(worst <= 1e-5))
      return `the site differs from RotaryEmbedding(interleaved=${meaning.interleaved ? 1 : 0}) by ${worst.toExponential(2)}`;
  }
  return meaning as RotaryMeaning;
}

/**
 * What makes two sites verify alike: the input's dims on every probe, and the same computation of the output from
 * the input (computationSignature: cos, sin and the positions they are made from read by identity).
 */
function rotarySignature(
  site: RotarySite,
  probes: readonly Pick<Probe, 'evaluator'>[],
  identities: Map<Value, number>,
): string | undefined {
  const dims = inputDims(site, probes);
  // a site whose input cannot be sized is verified on its own, which says why
  return dims === undefined
    ? undefined
    : `${dims}\n${computationSignature([site.output], new Map([[site.input, 'x']]), identities)}`;
}

/** The rotated input's dims on each probe, or undefined where the probes cannot size it. */
function inputDims(site: RotarySite, probes: readonly Pick<Probe, 'evaluator'>[]): string | undefined {
  try {
    return probes.map((p) => p.evaluator.dimsOf(site.input).join(',')).join(';');
  } catch {
    return undefined;
  }
}

/** Initializers and position values shared by every fused site. */
class Shared {
  private readonly caches: { meaning: RotaryMeaning; cos: Value; sin: Value }[] = [];
  private readonly positions = new Map<Value, Value>();

  constructor(private readonly graph: Graph) {}

  cachesFor(m: RotaryMeaning): { cos: Value; sin: Value } {
    // sites of one signature share their meaning, tables included
    const same = (a: Float32Array, b: Float32Array) =>
      a === b || (a.length === b.length && a.every((v, i) => v === b[i]));
    const hit = this.caches.find(
      (c) =>
        c.meaning.rotaryDim === m.rotaryDim &&
        same(c.meaning.cosCache, m.cosCache) &&
        same(c.meaning.sinCache, m.sinCache),
    );
    if (hit) return hit;
    const dims = [m.maxPositions, m.rotaryDim / 2];
    const at = this.caches.length ? `_${this.caches.length}` : '';
    const entry = {
      meaning: m,
      cos: this.graph.addInitializer(`cos_cache${at}`, Tensor.fromArray('', DataType.FLOAT, dims, m.cosCache)),
      sin: this.graph.addInitializer(`sin_cache${at}`, Tensor.fromArray('', DataType.FLOAT, dims, m.sinCache)),
    };
    this.caches.push(entry);
    return entry;
  }

  /** The site's positions as (B, S) int64, made once per positions value. */
  positionIds(g: Graph, m: RotaryMeaning, site: RotarySite, before: Node): Value {
    let out = this.positions.get(m.positions);
    if (out) return out;
    out = m.positions;
    const base = m.positions.name.replace(/[^A-Za-z0-9_.]/g, '_');
    if (m.reshapePositions) {
      // (S), (S, 1) or (B | 1, 1, S) -> (B | 1, S); Reshape's 0 keeps the batch axis
      const to = this.graph.addInitializer(
        `${base}_rows_shape`,
        Tensor.fromArray('', DataType.INT64, [2], [m.broadcastBatch ? 1 : 0, -1]),
      );
      out = g.createNode({ opType: 'Reshape', inputs: [out, to], name: `${base}/rotary_rows`, before }).output(0);
      out.type = tensorType(elemTypeOf(m.positions.type) ?? DataType.INT64, [undefined, undefined]);
    }
    if (elemTypeOf(out.type) !== DataType.INT64) {
      out = g
        .createNode({
          opType: 'Cast',
          inputs: [out],
          attributes: [{ name: 'to', type: 'int', value: DataType.INT64 }],
          name: `${base}/rotary_cast`,
          before,
        })
        .output(0);
      out.type = tensorType(DataType.INT64, [undefined, undefined]);
    }
    if (m.broadcastBatch) {
      // (1, S) -> (B, S), B and S read off the rotated input (B, N, S, H)
      const shape = g
        .createNode({ opType: 'Shape', inputs: [site.input], name: `${base}/rotary_shape`, before })
        .output(0);
      const picks = this.graph.addInitializer(
        `${base}_batch_seq_axes`,
        Tensor.fromArray('', DataType.INT64, [2], [0, 2]),
      );
      const bs = g
        .createNode({ opType: 'Gather', inputs: [shape, picks], name: `${base}/rotary_batch_seq`, before })
        .output(0);
      out = g.createNode({ opType: 'Expand', inputs: [out, bs], name: `${base}/rotary_positions`, before }).output(0);
      out.type = tensorType(DataType.INT64, [undefined, undefined]);
    }
    this.positions.set(m.positions, out);
    return out;
  }
}

function rewrite(model: Model, g: Graph, site: RotarySite, m: RotaryMeaning, shared: Shared): Node {
  const anchor = site.output.producer!;
  const { cos, sin } = shared.cachesFor(m);
  // position ids are made next to the first node that reads the positions' producer, so every later site sees them
  const positions = shared.positionIds(g, m, site, anchor);
  const standardOp = (model.opsetVersion('') ?? 1) >= 23;
  const attributes = [
    { name: 'interleaved', type: 'int' as const, value: m.interleaved ? 1 : 0 },
    ...(m.rotaryDim < m.headSize
      ? [
          { name: 'rotary_embedding_dim', type: 'int' as const, value: m.rotaryDim },
          { name: 'num_heads', type: 'int' as const, value: m.numHeads },
        ]
      : []),
  ];
  const node = g.createNode({
    opType: 'RotaryEmbedding',
    domain: standardOp ? '' : MS_DOMAIN,
    name: `${anchor.name || 'rotary'}/RotaryEmbedding`,
    before: anchor,
    attributes,
    inputs: standardOp ? [site.input, cos, sin, positions] : [site.input, positions, cos, sin],
  });
  replaceSite(g, [[site.output, node.output(0)]], [site.input, m.positions]);
  return node;
}

/**
 * The probes of one graph: the model's own, and made on first need, probes whose dims agree the way a decoder's do
 * (mask length = cache + new tokens; none if they cannot be made) and probes of T tokens for long tables.
 */
class GraphProbes {
  readonly probes: RotaryProbe[];
  private decoder: RotaryProbe[] | undefined;
  private readonly long = new Map<number, RotaryProbe | undefined>();

  constructor(
    private readonly model: Model,
    private readonly graph: Graph,
    fixedDims: Readonly<Record<string, number>>,
  ) {
    this.probes = makeProbes(model, fixedDims).map((p) => ({ evaluator: new ProbeEvaluator(model, p.inputs, graph) }));
  }

  decoderProbes(): RotaryProbe[] {
    if (this.decoder) return this.decoder;
    const hasCache = this.model.graph.inputs.some(
      (i) =>
        !i.initializer &&
        shapeOf(i.type)?.length === 4 &&
        typeof shapeOf(i.type)![2] === 'string' &&
        elemTypeOf(i.type) === DataType.FLOAT,
    );
    try {
      this.decoder = makeDecoderProbes(this.model, this.graph, hasCache);
    } catch {
      this.decoder = [];
    }
    return this.decoder;
  }

  /** The site's input dims on the decoder probes; '' while none are made. */
  decoderDims(site: RotarySite): string {
    return this.decoder?.length ? (inputDims(site, this.decoder) ?? '?') : '';
  }

  longProbe(T: number): RotaryProbe | undefined {
    if (!this.long.has(T)) this.long.set(T, tableProbe(this.model, this.graph, T));
    return this.long.get(T);
  }
}

export const fuseRotaryPass = definePass({
  name: 'fuse-rotary',
  description:
    'fuse rotary position embeddings (rotate-half or interleaved, partial, cached or computed cos/sin) into RotaryEmbedding',
  options: {
    maxPositions: option.int(
      `positions the RotaryEmbedding caches cover where the model computes cos/sin from inv_freq (default ${DEFAULT_MAX_POSITIONS})`,
      { min: 1 },
    ),
  },
  needs: ['shapes'],
  // The values it makes get value_info, so a second run has nothing to add.
  leaves: ['shapes'],
  run(model, context): PassResult {
    const maxPositions = context.options.maxPositions ?? DEFAULT_MAX_POSITIONS;
    const shared = new Shared(model.graph);
    const tables: TableCache = new Map();
    const decoderTables: TableCache = new Map();
    const identities = new Map<Value, number>();
    /** The decoder probes' dims at which a site was verified: its meaning holds for a site sized alike on them. */
    const verifiedAt = new Map<RotarySite, string>();
    let tablesFromInvFreq = false;
    const result = fuseProbedSites<RotarySite, RotaryMeaning, GraphProbes>(model, {
      op: 'RotaryEmbedding',
      find: (graph) => ({ sites: findRotarySites(graph) }),
      at: (site) => site.add,
      probes: (graph) => new GraphProbes(model, graph, context.fixedDims),
      // the layers repeat one rotation on their own q and k
      signature: (site, { probes }) => rotarySignature(site, probes, identities),
      carry: (known, meaning, site, probes) =>
        verifiedAt.get(known) === probes.decoderDims(site) ? meaning : undefined,
      verify(site, probes) {
        const long = (T: number) => probes.longProbe(T);
        let m = verifyRotary(site, probes.probes, maxPositions, tables, long);
        if (typeof m === 'string') {
          // The probes size each symbolic dim on its own, but a decoder's mask is as long as its past and new tokens
          // together, and positions computed from the mask (cumsum) fit the tokens only on probes that bind them so.
          const decoderProbes = probes.decoderProbes();
          const again = decoderProbes.length ? verifyRotary(site, decoderProbes, maxPositions, decoderTables, long) : m;
          if (typeof again !== 'string') m = again;
        }
        verifiedAt.set(site, probes.decoderDims(site));
        return m;
      },
      rewrite(site, m, graph) {
        if (m.maxPositions === maxPositions) tablesFromInvFreq = true;
        return rewrite(model, graph, site, m, shared);
      },
    });
    if (tablesFromInvFreq)
      result.notes.push(
        `RotaryEmbedding: cos/sin caches cover positions 0..${maxPositions - 1} (computed from the model's inv_freq; --max-positions to change)`,
      );
    return result;
  },
});
