// Finds decoder-style attention: Softmax(scores) with scores = MatMul(q, kᵀ) (scaled, plus a mask) and the
// probabilities multiplying v, where k and v are per-KV-head tensors (B, Nkv, T, H) that may be repeated to the query
// heads (repeat_kv: Unsqueeze/Expand/Reshape, Tile, or a Concat of copies) and may be a cache: Concat(past, new) on
// the sequence axis. The walk is loose; gqa-verify.ts proves by evaluation what the site computes.
import type { ProbeEvaluator } from '../../src/eval/probe.js';
import type { Graph, Node, Value } from '../../src/ir/graph.js';
import { isStandardNode } from '../../src/ir/ops.js';
import { computationSignature } from '../../src/ir/signature.js';
import { outputChain, probabilitiesMatMul } from './site.js';
import { elemTypeOf, shapeOf } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';

export interface CachedAttentionSite {
  softmax: Node;
  scores: Value;
  scoresMatMul: Node;
  /** q (B, N, S, H) as the graph computes it, before any scalar scaling. */
  q: Value;
  /** The new keys and values (B, Nkv, S, H), before the cache and the repeat. */
  kNew: Value;
  vNew: Value;
  /** Cache inputs (B, Nkv, P, H) and the Concats that append the new keys/values to them (the present outputs). */
  past?: { key: Value; value: Value; presentKey: Value; presentValue: Value };
  /** Values added to the scores on the way to the Softmax: mask candidates. */
  addends: Value[];
  /** The Softmax input is Tanh-capped (Gemma 2): scores = cap · tanh(raw / cap) + mask. */
  softcap?: { tanh: Node };
  probsMatMul: Node;
  /** Values after the context through Transpose/Reshape; the first shaped (B, S, N·H) is the output. */
  outputCandidates: Value[];
}

function isScalar(v: Value | null | undefined): boolean {
  return (v?.constantTensor()?.size ?? 0) === 1;
}

/** Strips scalar Mul/Div (sdpa exports scale q and k by √scale each), Cast and Identity. */
function unscaled(v: Value): Value {
  let cur = v;
  for (let step = 0; step < 8; step++) {
    const n = cur.producer;
    if (!isStandardNode(n)) break;
    if ((n.opType === 'Mul' || n.opType === 'Div') && isScalar(n.inputs[1])) cur = n.input(0);
    else if (n.opType === 'Mul' && isScalar(n.inputs[0])) cur = n.input(1);
    else if (n.opType === 'Cast' || n.opType === 'Identity') cur = n.input(0);
    else break;
  }
  return cur;
}

/** Ops repeat_kv is written with (and the key transpose), walked back to the per-KV-head tensor. */
const REPEAT = new Set(['Reshape', 'Expand', 'Unsqueeze', 'Tile', 'Identity', 'Transpose', 'Squeeze']);

function beforeRepeat(v: Value): Value {
  let cur = unscaled(v);
  for (let step = 0; step < 10; step++) {
    const n = cur.producer;
    if (!isStandardNode(n)) break;
    // a fused qkv's head split (Split or Slice, Squeeze, then a Transpose that is not kᵀ: ModernBERT) ends the walk
    if (n.opType === 'Transpose' && !swapsLastTwo(n) && n.input(0).producer?.opType === 'Squeeze') break;
    if (REPEAT.has(n.opType)) {
      // a Transpose that is part of the head split (B,S,Nkv,H) -> (B,Nkv,S,H) ends the walk: the caller's k is its output;
      // the key transpose (the last two axes swapped, on 3-D (B·N, S, H) views in dynamo's sdpa exports) does not
      if (
        n.opType === 'Transpose' &&
        !swapsLastTwo(n) &&
        isStandardNode(n.input(0).producer) &&
        n.input(0).producer!.opType === 'Reshape' &&
        !isRepeat(n.input(0).producer!)
      )
        break;
      cur = unscaled(n.input(0));
    } else if (n.opType === 'Concat' && n.inputs.length > 1 && n.inputs.every((i) => i === n.inputs[0]))
      cur = n.input(0);
    else break;
  }
  return cur;
}

/** A Transpose that swaps the last two axes and keeps the others: kᵀ. */
function swapsLastTwo(transpose: Node): boolean {
  const perm = transpose.attrInts('perm');
  const r = perm?.length ?? 0;
  return r >= 2 && perm!.every((p, i) => p === (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i));
}

/** A Reshape that merges a repeat axis (its input comes from Expand or Tile), not a head split. */
function isRepeat(reshape: Node): boolean {
  const p = reshape.input(0).producer;
  return isStandardNode(p) && (p.opType === 'Expand' || p.opType === 'Tile');
}

/** Concat(past, new) on the sequence axis, with past a graph input: the cache. */
function cacheConcat(v: Value): { past: Value; fresh: Value } | undefined {
  const n = v.producer;
  if (!isStandardNode(n) || n.opType !== 'Concat' || n.inputs.length !== 2) return undefined;
  const axis = n.attrInt('axis', 0);
  if (axis !== 2 && axis !== -2) return undefined;
  let [past, fresh] = n.inputs as [Value, Value];
  // TorchScript exports may pass the first cache input through a one-input Concat
  while (
    isStandardNode(past.producer) &&
    ['Concat', 'Identity'].includes(past.producer.opType) &&
    past.producer.inputs.length === 1
  )
    past = past.producer.input(0);
  // a graph input: of this graph, or of the main graph read inside an If branch (decoder_model_merged)
  if (past.producer || past.initializer || !past.type) return undefined;
  return { past, fresh };
}

/** Back from the Softmax input to MatMul(q, kᵀ) through scalings, Adds (masks), Where (masked_fill) and a softcap. */
function scoresMatMul(v: Value, addends: Value[], softcap: { tanh?: Node }): Node | undefined {
  let cur = v;
  for (let step = 0; step < 10; step++) {
    const n = cur.producer;
    if (!isStandardNode(n)) return undefined;
    if (n.opType === 'MatMul') return n.inputs.some((i) => i?.constantTensor()) ? undefined : n;
    if ((n.opType === 'Mul' || n.opType === 'Div') && isScalar(n.inputs[1])) cur = n.input(0);
    else if (n.opType === 'Mul' && isScalar(n.inputs[0])) cur = n.input(1);
    else if (n.opType === 'Tanh' && !softcap.tanh) {
      softcap.tanh = n;
      cur = n.input(0);
    } else if (n.opType === 'Cast' || n.opType === 'Identity') cur = n.input(0);
    else if (n.opType === 'Add' || n.opType === 'Where') {
      const operands = n.opType === 'Where' ? n.inputs.slice(1) : n.inputs;
      for (const x of operands) {
        if (!x) continue;
        const others = operands.filter((o): o is Value => !!o && o !== x);
        const found = scoresMatMul(x, n.opType === 'Add' ? [...addends, ...others] : addends, softcap);
        if (found) {
          if (n.opType === 'Add') addends.push(...others);
          return found;
        }
      }
      return undefined;
    } else return undefined;
  }
  return undefined;
}

export function findCachedAttentionSites(graph: Graph): CachedAttentionSite[] {
  const sites: CachedAttentionSite[] = [];
  for (const softmax of graph.nodes) {
    if (!isStandardNode(softmax) || softmax.opType !== 'Softmax') continue;
    const addends: Value[] = [];
    const cap: { tanh?: Node } = {};
    const qk = scoresMatMul(softmax.input(0), addends, cap);
    const pv = probabilitiesMatMul(softmax.output(0));
    if (!qk || !pv) continue;
    const kAll = beforeRepeat(qk.input(1));
    const vAll = beforeRepeat(pv.input(1));
    const kc = cacheConcat(kAll);
    const vc = cacheConcat(vAll);
    if (!!kc !== !!vc) continue;
    const outputCandidates = outputChain(pv.output(0));
    if (!outputCandidates.length) continue;
    // Rotary attention only: the rest (encoders, GPT-2, Whisper's and BART's cached decoders) is fuse-attention's,
    // whose MultiHeadAttention takes several new tokens over a past at any batch size (onnxruntime 1.30's CPU
    // GroupQueryAttention refuses that above batch 1).
    const q = unscaled(qk.input(0));
    if (q.producer?.opType !== 'RotaryEmbedding') continue;
    sites.push({
      softmax,
      scores: softmax.input(0),
      scoresMatMul: qk,
      q,
      kNew: kc?.fresh ?? kAll,
      vNew: vc?.fresh ?? vAll,
      ...(kc && vc ? { past: { key: kc.past, value: vc.past, presentKey: kAll, presentValue: vAll } } : {}),
      addends,
      ...(cap.tanh ? { softcap: { tanh: cap.tanh } } : {}),
      probsMatMul: pv,
      outputCandidates,
    });
  }
  return sites;
}

const INTEGER = new Set<number>([DataType.INT64, DataType.INT32]);
/** Integer values up to this many elements (the shapes a layer computes) are told apart by what they hold. */
const BY_VALUE_ELEMENTS = 16;

/**
 * What makes two sites verify alike: the dims of q, k, v and the cache on every probe, and one computation
 * (computationSignature) of the scores, the output candidates and the mask candidates from them, reading the same
 * masks and other values; a small integer value read besides (the sizes each layer computes from its own hidden
 * state) is told by what it holds on the probes. Equal signatures evaluate alike on every probe, so the first
 * site's verification holds for the others. Undefined when the site cannot be probed (it is verified on its own).
 */
export function cachedSiteSignature(
  site: CachedAttentionSite,
  probes: readonly { evaluator: ProbeEvaluator }[],
  identities: Map<Value, number>,
): string | undefined {
  const inputs = new Map<Value, string>([
    [site.q, 'q'],
    [site.kNew, 'k'],
    [site.vNew, 'v'],
  ]);
  if (site.past) inputs.set(site.past.key, 'past_k').set(site.past.value, 'past_v');
  const masks = new Set(site.addends);
  const byValue = (v: Value): string | undefined => {
    const shape = shapeOf(v.type);
    const size = shape?.reduce<number | undefined>(
      (n, d) => (n !== undefined && typeof d === 'number' ? n * d : undefined),
      1,
    );
    if (masks.has(v) || !INTEGER.has(elemTypeOf(v.type) ?? -1) || size === undefined || size > BY_VALUE_ELEMENTS)
      return undefined;
    try {
      return probes.map((p) => p.evaluator.evaluate(v).toNumbers().join(',')).join(';');
    } catch {
      return undefined;
    }
  };
  let dims: string;
  try {
    dims = probes.map((p) => [...inputs.keys()].map((v) => p.evaluator.dimsOf(v).join(',')).join(' ')).join(';');
  } catch {
    return undefined;
  }
  const computed = computationSignature(
    [site.scores, ...site.outputCandidates, ...site.addends],
    inputs,
    identities,
    byValue,
  );
  return `${dims}\n${site.softcap ? 'softcap\n' : ''}${computed}`;
}
