// Attention whose query, key and value are not three projections of one input: cross-attention (keys and values
// from the encoder's states, or from its cached keys and values), a bottleneck whose values read another tensor than
// its keys, a pooling head whose queries are learned constants. Such a site becomes MultiHeadAttention with separate
// query, key and value inputs: the tensors the graph splits into heads, whatever computed them. The projections stay
// in the graph as they are (where `quantize` reaches them). As for self-attention, the walk is loose and evaluation
// on probe inputs proves what the site computes: the three tensors are replaced by random ones, and the site's
// output must be attention over them.
import type { Node, Value } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { shapeOf } from '../../src/ir/types.js';
import { seededRandom } from '../../src/tensor/random.js';
import { DataType } from '../../src/tensor/dtype.js';
import { isStandardNode } from '../../src/ir/ops.js';
import { outputChain, probabilitiesMatMul, scoresMatMul, throughLayout } from './site.js';
import { agreedMeaning, explainMask, type Probe, type Probed } from './verify.js';
import {
  NOT_SCALED,
  ScoreGrid,
  broadcastBias,
  expectedAttention,
  measureScores,
  outputMismatch,
  scoresCopy,
  withAdditiveBias,
} from './scores.js';

export interface SeparateSite {
  softmax: Node;
  scores: Value;
  scoresMatMul: Node;
  addends: Value[];
  /**
   * The tensors split into heads: query (B, Sq, N·H); key and value (B, Sk, N·H), or (B, N, Sk, H) when read from a
   * cache as they are (cross-attention over cached keys and values).
   */
  query: Value;
  key: Value;
  value: Value;
  /** A self-attention cache: the keys and values (B, N, Sk, H) are past ones (B, N, P, H) followed by `key`, `value`. */
  cache?: KvCache;
  outputCandidates: Value[];
}

export interface KvCache {
  pastKey: Value;
  pastValue: Value;
  /** Concat(past, new keys or values split into heads): what the graph returns as the present cache. */
  presentKey: Value;
  presentValue: Value;
}

export interface SeparateMeaning {
  numHeads: number;
  headSize: number;
  scale: number;
  maskInput?: Value;
  causal: boolean;
  filterValue: number;
  /** A value (B|1, N|1, Sq, Sk) computed without the query, key or value, added to the scaled scores. */
  bias?: Value;
  /** The value (B, Sq, N·H) that MultiHeadAttention replaces. */
  output: Value;
}

/** A value whose shape is known to hold one element. */
function scalarShaped(v: Value | null | undefined): boolean {
  const shape = v && shapeOf(v.type);
  return !!shape && shape.every((d) => d === 1);
}

/**
 * Back through layout ops and scalings by one number, constant or computed (sdpa's TorchScript export multiplies q
 * and k each by √scale, computed from their shape), to the tensor the graph split into heads.
 */
function sourceOf(operand: Value): Value {
  let cur = throughLayout(operand);
  for (let step = 0; step < 8; step++) {
    const n = cur.producer;
    if (!isStandardNode(n) || (n.opType !== 'Mul' && n.opType !== 'Div')) break;
    if (scalarShaped(n.inputs[1])) cur = throughLayout(n.input(0));
    else if (n.opType === 'Mul' && scalarShaped(n.inputs[0])) cur = throughLayout(n.input(1));
    else break;
  }
  return cur;
}

/** The attention at a Softmax, taken apart into the tensors its heads are split from; or why it is not one. */
export function findSeparateSite(softmax: Node): SeparateSite | string {
  const scores = softmax.input(0);
  const found = scoresMatMul(scores);
  const pv = probabilitiesMatMul(softmax.output(0));
  if (!found || !pv) return 'no MatMul(q, kᵀ) before it or MatMul(probabilities, v) after it';
  const outputCandidates = outputChain(pv.output(0));
  if (!outputCandidates.length)
    return `the context '${pv.output(0).name}' is not followed by its own Transpose or Reshape`;
  const [query, key, value] = [found.node.input(0), found.node.input(1), pv.input(1)].map(sourceOf) as [
    Value,
    Value,
    Value,
  ];
  const site = {
    softmax,
    scores,
    scoresMatMul: found.node,
    addends: found.addends,
    query,
    key,
    value,
    outputCandidates,
  };
  const [keyUpdate, valueUpdate] = [cacheUpdate(key), cacheUpdate(value)];
  if (!keyUpdate || !valueUpdate) return site;
  const cache = { pastKey: keyUpdate.past, pastValue: valueUpdate.past, presentKey: key, presentValue: value };
  return { ...site, key: keyUpdate.fresh, value: valueUpdate.fresh, cache };
}

/** Concat(past, fresh) along the sequence axis of (B, N, S, H): a cache update, with the fresh tensor's source. */
function cacheUpdate(v: Value): { past: Value; fresh: Value } | undefined {
  const n = v.producer;
  if (!isStandardNode(n) || n.opType !== 'Concat' || n.inputs.length !== 2 || !n.inputs[0] || !n.inputs[1])
    return undefined;
  const axis = n.attrInt('axis', 0);
  if (axis !== 2 && axis !== -2) return undefined;
  return { past: n.input(0), fresh: sourceOf(n.input(1)) };
}

/** Reads element (b, n, s, h) of a tensor laid out (B, S, N·H) or (B, N, S, H). */
function headReader(
  data: Float32Array,
  dims: readonly number[],
  N: number,
  H: number,
): (b: number, n: number, s: number, h: number) => number {
  if (dims.length === 4) {
    const S = dims[2]!;
    return (b, n, s, h) => data[((b * N + n) * S + s) * H + h]!;
  }
  const S = dims[1]!;
  return (b, n, s, h) => data[(b * S + s) * N * H + n * H + h]!;
}

/** The site's meaning on one probe, taking `bias` (if given) as an additive term of the scores. */
function probeSite(
  site: SeparateSite,
  probe: Probe,
  seed: number,
  bias: Value | undefined,
): Probed<SeparateMeaning> | string {
  const { evaluator } = probe;
  const qDims = evaluator.dimsOf(site.query);
  const kDims = evaluator.dimsOf(site.key);
  const vDims = evaluator.dimsOf(site.value);
  if (qDims.length !== 3)
    return `the query '${site.query.name}' has rank ${qDims.length}, expected (batch, sequence, hidden)`;
  if (kDims.length !== vDims.length || (kDims.length !== 3 && kDims.length !== 4) || (site.cache && kDims.length !== 3))
    return `the key '${site.key.name}' and value '${site.value.name}' are not both (batch, sequence, hidden)${site.cache ? '' : ' or (batch, heads, sequence, head size)'}`;
  const cache = site.cache;
  const pastDims: [readonly number[], readonly number[]] | undefined = cache && [
    evaluator.dimsOf(cache.pastKey),
    evaluator.dimsOf(cache.pastValue),
  ];
  if (pastDims && (pastDims[0].length !== 4 || pastDims[0].join() !== pastDims[1].join()))
    return 'the past keys and values are not alike (batch, heads, sequence, head size)';
  // random query, key and value (and past): the site must compute attention over whatever they hold
  const random = seededRandom(seed);
  const overrides = new Map<Value, Tensor>();
  const randomized: [Value, readonly number[]][] = [
    [site.query, qDims],
    [site.key, kDims],
    [site.value, vDims],
  ];
  if (cache) randomized.push([cache.pastKey, pastDims![0]], [cache.pastValue, pastDims![1]]);
  for (const [v, dims] of randomized) {
    if (overrides.has(v)) continue;
    const count = dims.reduce((a, b) => a * b, 1);
    overrides.set(
      v,
      Tensor.fromArray(
        'probe',
        DataType.FLOAT,
        dims,
        Float32Array.from({ length: count }, () => random() - 0.5),
      ),
    );
  }
  const evaluate = evaluator.with(overrides);
  const heads = evaluate(site.scoresMatMul.input(0)).dims;
  if (heads.length !== 4) return `q is shaped ${heads.length}-D, expected (batch, heads, sequence, head size)`;
  const [B, N, Sq, H] = heads as [number, number, number, number];
  const S = kDims.length === 4 ? kDims[2]! : kDims[1]!;
  const P = pastDims ? pastDims[0][2]! : 0;
  const Sk = P + S;
  const D = N * H;
  if (qDims.join() !== [B, Sq, D].join()) return `the query is shaped [${qDims}], not [${[B, Sq, D]}]`;
  const kvShape = kDims.length === 4 ? [B, N, S, H] : [B, S, D];
  if (kDims.join() !== kvShape.join() || vDims.join() !== kvShape.join())
    return `the key and value are shaped [${kDims}] and [${vDims}], not [${kvShape}]`;
  if (pastDims && pastDims[0].join() !== [B, N, P, H].join())
    return `the past keys are shaped [${pastDims[0]}], not [${[B, N, P, H]}]`;
  const q = headReader(overrides.get(site.query)!.toFloat32(), qDims, N, H);
  const reader = (fresh: Value, past: Value | undefined) => {
    const read = headReader(overrides.get(fresh)!.toFloat32(), kvShape, N, H);
    if (!past) return read;
    const old = headReader(overrides.get(past)!.toFloat32(), [B, N, P, H], N, H);
    return (b: number, n: number, j: number, h: number) => (j < P ? old(b, n, j, h) : read(b, n, j - P, h));
  };
  const k = reader(site.key, cache?.pastKey);
  const v = reader(site.value, cache?.pastValue);
  // the present cache must be the past followed by the new keys and values, as MultiHeadAttention returns it
  if (cache) {
    for (const [present, read] of [
      [cache.presentKey, k],
      [cache.presentValue, v],
    ] as const) {
      const t = evaluate(present);
      if (t.dims.join() !== [B, N, Sk, H].join())
        return `the present cache '${present.name}' is shaped [${t.dims}], not [${[B, N, Sk, H]}]`;
      const got = t.toFloat32();
      for (let b = 0; b < B; b++)
        for (let n = 0; n < N; n++)
          for (let j = 0; j < Sk; j++)
            for (let h = 0; h < H; h++)
              if (got[((b * N + n) * Sk + j) * H + h] !== read(b, n, j, h))
                return `the present cache '${present.name}' is not the past followed by the new heads`;
    }
  }
  const dot = (b: number, n: number, i: number, j: number) => {
    let acc = 0;
    for (let h = 0; h < H; h++) acc += q(b, n, i, h) * k(b, n, j, h);
    return acc;
  };
  const grid = new ScoreGrid(B, N, Sq, Sk);
  const zs = scoresCopy(evaluate(site.scores), [B, N, Sq, Sk]);
  if (typeof zs === 'string') return zs;
  let added: Float32Array | undefined;
  if (bias) {
    const t = evaluate(bias);
    added = t.dataType === DataType.FLOAT ? broadcastBias(t, [B, N, Sq, Sk]) : undefined;
    if (!added) return `the additive term is shaped [${t.dims}], not (${B}|1, ${N}|1, ${Sq}, ${Sk}) float32`;
    for (let i = 0; i < zs.length; i++) zs[i] = zs[i]! - added[i]!;
  }
  const scores = measureScores(zs, grid, dot);
  if (typeof scores === 'string') return scores;
  const explained = explainMask(probe.inputs, scores.masked, B, Sq, Sk, grid.rows);
  if (typeof explained === 'string') return explained;
  const fits = explained.maskCandidates;
  const named = fits.length > 1 ? fits.filter((v) => /mask/i.test(v.name)) : fits;
  if (fits.length && named.length !== 1)
    return `cannot tell which input is the key mask: ${fits.map((v) => v.name).join(', ')}`;
  const rule = { ...(named.length ? { maskInput: named[0] } : {}), causal: explained.causal };
  // MultiHeadAttention applies causality to keys it is given as (B, S, N·H), after any past ones, not to keys given as
  // (B, N, S, H)
  if (rule.causal && kDims.length === 4)
    return 'causal attention over keys already split into heads: MultiHeadAttention cannot express it';
  const expected = expectedAttention(grid, scores, added, dot, v, H);
  const index = site.outputCandidates.findIndex((c) => evaluate(c).dims.join() === [B, Sq, D].join());
  if (index < 0) return `no value after the context is shaped [${[B, Sq, D]}]`;
  const output = site.outputCandidates[index]!;
  const mismatch = outputMismatch(expected, evaluate(output).toFloat32(), grid, D);
  if (mismatch) return mismatch;
  const { scale, filterValue } = scores;
  return { numHeads: N, headSize: H, scale, ...rule, filterValue, output, ...(bias ? { bias } : {}) };
}

function verifyWith(site: SeparateSite, probes: Probe[], bias: Value | undefined): SeparateMeaning | string {
  return agreedMeaning<SeparateMeaning>(
    probes,
    site.scores,
    (probe, i) => probeSite(site, probe, 211 + i, bias),
    (first, next) => (first.maskInput === next.maskInput ? first : undefined),
  );
}

/** Whether `v` is computed from the site's query, key or value. */
function readsSources(v: Value, site: SeparateSite): boolean {
  const sources = new Set([site.query, site.key, site.value]);
  const seen = new Set<Value>();
  const pending = [v];
  while (pending.length) {
    const cur = pending.pop()!;
    if (sources.has(cur)) return true;
    if (seen.has(cur)) continue;
    seen.add(cur);
    for (const input of cur.producer?.inputs ?? []) if (input) pending.push(input);
  }
  return false;
}

/**
 * The site's meaning if every probe agrees, else why it is not attention. Scores that are not a scaled q·kᵀ plus a
 * mask may still carry an additive bias: each addend not computed from the query, key or value is tried as one.
 */
export function verifySeparate(site: SeparateSite, probes: Probe[]): SeparateMeaning | string {
  return withAdditiveBias(
    (bias) => verifyWith(site, probes, bias),
    site.addends,
    (addend) => (readsSources(addend, site) ? 'is computed from the query, key or value' : undefined),
    NOT_SCALED,
  );
}
