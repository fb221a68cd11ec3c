// Self-attention -> com.microsoft Attention, on exports the Python optimizer cannot read. Instead of a fixed node
// pattern per exporter, a loose structural walk finds candidate sites (attention/site.ts) and evaluation on probe
// inputs proves what each computes (attention/verify.ts): heads, scale, key mask and causality are read off the
// numbers, so eager and sdpa exports from either exporter fuse alike. Attention whose scores carry an additive bias
// (MPNet's or T5's relative position bias) becomes MultiHeadAttention, which takes the bias as an input and leaves
// the packed projection outside, where the quantizer can reach it.
import type { Graph, Node, Value } from '../src/ir/graph.js';
import type { Attribute } from '../src/ir/attribute.js';
import type { Model } from '../src/ir/model.js';
import { Scratch, Tensor } from '../src/ir/tensor.js';
import { shapeOf, tensorType } from '../src/ir/types.js';
import { MAX_PROBE_BYTES } from '../src/eval/probe.js';
import { definePass, option, type PassResult } from '../src/pass/index.js';
import { fuseProbedSites, replaceSite } from '../src/pattern/index.js';
import { DataType } from '../src/tensor/dtype.js';
import { rerootShapes, shapeReadsOf, whyNotRerootable } from './attention/shape-reads.js';
import { siteSignature } from './attention/signature.js';
import { findAttentionSites, type AttentionSite, type Projection } from './attention/site.js';
import { findSeparateSite, verifySeparate, type SeparateMeaning, type SeparateSite } from './attention/separate.js';
import { makeProbes, verifyAttention, type AttentionMeaning, type Probe } from './attention/verify.js';
import { backwardSlice, int32Of, MS_DOMAIN } from '../src/ir/ops.js';

/** Copies columns [c0, c1) of a projection's weight into `out` (din rows of `stride`) at column `at`. */
function copyColumns(p: Projection, out: Float32Array, stride: number, at: number, scratch: Scratch): void {
  const w = p.weight.peekFloat32(scratch);
  const [rows, cols] = p.weight.dims as [number, number];
  const din = p.transposed ? cols : rows;
  const [c0, c1] = p.columns;
  if (p.transposed) {
    for (let i = 0; i < din; i++) for (let j = c0; j < c1; j++) out[i * stride + at + j - c0] = w[j * cols + i]!;
  } else {
    for (let i = 0; i < din; i++) out.set(w.subarray(i * cols + c0, i * cols + c1), i * stride + at);
  }
}

/**
 * Packs q, k and v weights as [Wq | Wk | Wv] (din, 3D) and biases as (3D), reusing one packing per weight triple.
 * The packed weight is made on demand from the projections' weights, each time it is read (written out, quantized):
 * keeping a copy of every layer's packed weight in memory would cost more than making it again.
 */
class QkvPacker {
  private readonly packed = new Map<string, { weight: Value; bias: Value | null }>();
  private readonly ids = new Map<Tensor, number>();
  /** Where the projections' weights are read while a packed weight is made. */
  private readonly sources = new Scratch();

  constructor(private readonly graph: Graph) {}

  /** A zero bias is made only when `biasRequired` (Attention's CPU kernel reads it; MultiHeadAttention's is optional). */
  pack(site: AttentionSite, name: string, biasRequired: boolean): { weight: Value; bias: Value | null } {
    const parts = [site.q, site.k, site.v];
    const withBias = biasRequired || parts.some((p) => p.bias);
    const key =
      parts
        .map((p) => `${this.id(p.weight)}:${p.bias ? this.id(p.bias) : '-'}:${p.transposed}:${p.columns}`)
        .join('|') + `:${withBias}`;
    const cached = this.packed.get(key);
    if (cached) return cached;
    const q = site.q;
    const din = q.transposed ? q.weight.dims[1]! : q.weight.dims[0]!;
    const total = parts.reduce((n, p) => n + p.columns[1] - p.columns[0], 0);
    const byteLength = din * total * 4;
    const load = (into?: Uint8Array): Uint8Array => {
      const bytes = into ? into.subarray(0, byteLength) : new Uint8Array(byteLength);
      const w = new Float32Array(bytes.buffer, bytes.byteOffset, din * total);
      let offset = 0;
      for (const p of parts) {
        copyColumns(p, w, total, offset, this.sources);
        offset += p.columns[1] - p.columns[0];
      }
      return bytes;
    };
    const b = new Float32Array(total);
    let offset = 0;
    for (const p of parts) {
      if (p.bias) b.set(p.bias.toFloat32().subarray(p.columns[0], p.columns[1]), offset);
      offset += p.columns[1] - p.columns[0];
    }
    const result = {
      weight: this.graph.addInitializer(
        `${name}_qkv_weight`,
        new Tensor('', DataType.FLOAT, [din, total], { byteLength, load }),
      ),
      bias: withBias
        ? this.graph.addInitializer(`${name}_qkv_bias`, Tensor.fromArray('', DataType.FLOAT, [total], b))
        : null,
    };
    this.packed.set(key, result);
    return result;
  }

  private id(t: Tensor): number {
    let id = this.ids.get(t);
    if (id === undefined) this.ids.set(t, (id = this.ids.size));
    return id;
  }
}

function attributesOf(
  meaning: Pick<AttentionMeaning, 'numHeads' | 'headSize' | 'scale' | 'causal' | 'maskInput' | 'filterValue'>,
): Attribute[] {
  const attributes: Attribute[] = [{ name: 'num_heads', type: 'int', value: meaning.numHeads }];
  if (meaning.causal) attributes.push({ name: 'unidirectional', type: 'int', value: 1 });
  if (Math.abs(meaning.scale * Math.sqrt(meaning.headSize) - 1) > 1e-6)
    attributes.push({ name: 'scale', type: 'float', value: meaning.scale });
  if (meaning.maskInput || meaning.causal)
    attributes.push({ name: 'mask_filter_value', type: 'float', value: meaning.filterValue });
  return attributes;
}

/** x · [Wq | Wk | Wv] split into q, k and v (B, S, D) each: MultiHeadAttention's inputs, its bias added inside. */
function projectQkv(
  model: Model,
  graph: Graph,
  x: Value,
  weight: Value,
  hidden: number,
  name: string,
  before: Node,
): readonly (Value | null)[] {
  const packed = graph
    .createNode({ opType: 'MatMul', inputs: [x, weight], name: `${name}/qkv_MatMul`, before })
    .output(0);
  const sizes = [hidden, hidden, hidden];
  // Split takes its sizes as an input from opset 13, as an attribute before
  const splitInput = (model.opsetVersion('') ?? 1) >= 13;
  const split = graph.createNode({
    opType: 'Split',
    name: `${name}/qkv_Split`,
    before,
    outputs: 3,
    inputs: splitInput
      ? [packed, graph.addInitializer(`${name}_qkv_sizes`, Tensor.fromArray('', DataType.INT64, [3], sizes))]
      : [packed],
    attributes: [
      { name: 'axis', type: 'int', value: -1 },
      ...(splitInput ? [] : [{ name: 'split', type: 'ints', value: sizes } as Attribute]),
    ],
  });
  // typed here, so that a second run's shape inference has nothing to add (fuse is idempotent to the byte)
  const rows = shapeOf(x.type)?.slice(0, -1);
  packed.type = tensorType(DataType.FLOAT, rows && [...rows, 3 * hidden]);
  for (const v of split.outputs) v!.type = tensorType(DataType.FLOAT, rows && [...rows, hidden]);
  return split.outputs;
}

function rewrite(
  model: Model,
  graph: Graph,
  site: AttentionSite,
  meaning: AttentionMeaning,
  packer: QkvPacker,
  casts: Map<Value, Value>,
): Node {
  const old = meaning.output;
  const anchor = old.producer!;
  const name = anchor.name.replace(/\/[^/]*$/, '') || 'attention';
  const { weight, bias } = packer.pack(site, name, !meaning.bias);
  const mask = meaning.maskInput ? int32Of(graph, meaning.maskInput, casts) : null;
  const hidden = meaning.numHeads * meaning.headSize;
  const [opType, inputs] = meaning.bias
    ? [
        'MultiHeadAttention',
        [...projectQkv(model, graph, site.q.x, weight, hidden, name, anchor), bias, mask, meaning.bias],
      ]
    : ['Attention', [site.q.x, weight, bias, ...(mask ? [mask] : [])]];
  const attention = graph.createNode({
    opType,
    domain: MS_DOMAIN,
    inputs,
    attributes: attributesOf(meaning),
    name: `${name}/${opType}`,
    before: anchor,
  });
  let out = attention.output(0);
  if (meaning.flattened) {
    const rows = graph.addInitializer(`${name}_rows_shape`, Tensor.fromArray('', DataType.INT64, [2], [-1, hidden]));
    out = graph
      .createNode({ opType: 'Reshape', inputs: [out, rows], name: `${name}/${opType}_rows`, before: anchor })
      .output(0);
  }
  out.type = old.type;
  const keep = [site.q.x, ...(meaning.maskInput ? [meaning.maskInput] : []), ...(meaning.bias ? [meaning.bias] : [])];
  const region = backwardSlice(old, new Set(keep));
  // the bias may size itself by Shape nodes on the attention's values: answered from x's shape, they let those die
  if (meaning.biasShapeReads?.length) rerootShapes(graph, meaning.biasShapeReads, site.q.x);
  graph.replace({ outputs: [[old, out]], removeIfDead: region });
  return attention;
}

/**
 * Attention over a separate query, key and value -> MultiHeadAttention reading the tensors the graph split into heads;
 * what computed them (the projections) stays.
 */
function rewriteSeparate(graph: Graph, site: SeparateSite, meaning: SeparateMeaning, casts: Map<Value, Value>): Node {
  const old = meaning.output;
  const anchor = old.producer!;
  const name = anchor.name.replace(/\/[^/]*$/, '') || 'attention';
  const mask = meaning.maskInput ? int32Of(graph, meaning.maskInput, casts) : null;
  const cache = site.cache;
  const inputs = [
    site.query,
    site.key,
    site.value,
    null,
    mask,
    meaning.bias ?? null,
    cache?.pastKey ?? null,
    cache?.pastValue ?? null,
  ];
  while (inputs.at(-1) === null) inputs.pop();
  const attention = graph.createNode({
    opType: 'MultiHeadAttention',
    domain: MS_DOMAIN,
    inputs,
    outputs: cache ? 3 : 1,
    attributes: attributesOf(meaning),
    name: `${name}/MultiHeadAttention`,
    before: anchor,
  });
  const replaced: [Value, Value][] = [[old, attention.output(0)]];
  if (cache) replaced.push([cache.presentKey, attention.output(1)], [cache.presentValue, attention.output(2)]);
  // the fused op reads these instead
  const reads = [site.query, site.key, site.value, meaning.maskInput, meaning.bias, cache?.pastKey, cache?.pastValue];
  replaceSite(graph, replaced, reads);
  return attention;
}

/**
 * The meaning verified for `known` carried to `site`, which has the same signature: the output and the bias at the
 * same positions. Undefined when the bias's shape reads cannot be answered here (then the site is verified itself).
 */
function sameMeaning(
  known: AttentionSite,
  meaning: AttentionMeaning | string,
  site: AttentionSite,
): AttentionMeaning | string | undefined {
  if (typeof meaning === 'string') return meaning;
  const output = site.outputCandidates[known.outputCandidates.indexOf(meaning.output)]!;
  if (!meaning.bias) return { ...meaning, output };
  const bias = site.addends[known.addends.indexOf(meaning.bias)]!;
  const biasShapeReads = shapeReadsOf(bias, site);
  if (!biasShapeReads || whyNotRerootable(biasShapeReads, site.q.x)) return undefined;
  return { ...meaning, output, bias, biasShapeReads };
}

/**
 * The main graph and the If branches under it (decoder_model_merged holds its decoders there), which probes can
 * evaluate; Loop bodies, whose inputs are per iteration, are not entered.
 */
function attentionScopes(model: Model): { scopes: Graph[]; loopBodies: Graph[] } {
  const scopes: Graph[] = [];
  const loopBodies: Graph[] = [];
  const visit = (g: Graph): void => {
    scopes.push(g);
    for (const n of g.nodes)
      for (const sub of n.subgraphs())
        if (n.opType === 'If' && n.domain === '') visit(sub);
        else loopBodies.push(...sub.allGraphs());
  };
  visit(model.graph);
  return { scopes, loopBodies };
}

/**
 * Batch 2 for the probes, or 1 where a site's scores at batch 2 would pass what the evaluator computes: a long static
 * sequence, as a speech encoder's TorchScript export has (Whisper: 1500 frames, 2 · 6 heads · 1500² floats).
 */
export function probeBatch(scores: Value[]): number {
  const perBatch = scores.map((v) =>
    (shapeOf(v.type) ?? []).slice(1).reduce<number>((n, d) => n * (typeof d === 'number' ? d : 1), 4),
  );
  return Math.max(0, ...perBatch) * 2 > MAX_PROBE_BYTES ? 1 : 2;
}

/**
 * A Softmax's site: q, k and v projected from one input, or else (where that walk missed, with its reason) attention
 * over a separate query, key and value, or the reason none was found.
 */
type Candidate =
  { softmax: Node; packed: AttentionSite } | { softmax: Node; missed: string; separate: SeparateSite | string };

export const fuseAttentionPass = definePass({
  name: 'fuse-attention',
  description:
    'fuse self-attention (eager or sdpa, either exporter) into com.microsoft Attention, or MultiHeadAttention with an additive bias',
  options: {
    numHeads: option.int('attention heads (refuse sites whose probed head count differs)', { min: 1 }),
    hiddenSize: option.int('attention hidden size (refuse sites whose probed size differs)', { min: 1 }),
  },
  needs: ['shapes'],
  // The values it makes (Casts, packed projections) get value_info, so a second run has nothing to add.
  leaves: ['shapes'],
  run(model, context): PassResult {
    const { numHeads: expectHeads, hiddenSize: expectHidden } = context.options;
    const { scopes, loopBodies } = attentionScopes(model);
    /** Why a verified site is refused: heads or hidden size other than the options say. */
    const unexpected = (meaning: { numHeads: number; headSize: number }): string | undefined =>
      expectHeads !== undefined && meaning.numHeads !== expectHeads
        ? `has ${meaning.numHeads} heads, not --num-heads ${expectHeads}`
        : expectHidden !== undefined && meaning.numHeads * meaning.headSize !== expectHidden
          ? `has hidden size ${meaning.numHeads * meaning.headSize}, not --hidden-size ${expectHidden}`
          : undefined;
    // weights are read to verify, then dropped: through one reused buffer, not kept in memory
    const scratch = new Scratch();
    // packed weights and Casts of the mask are made in the graph that reads them
    const made = new Map<Graph, { packer: QkvPacker; casts: Map<Value, Value> }>();
    const madeIn = (graph: Graph) => {
      if (!made.has(graph)) made.set(graph, { packer: new QkvPacker(graph), casts: new Map() });
      return made.get(graph)!;
    };
    return fuseProbedSites<Candidate, AttentionMeaning | SeparateMeaning, Probe[]>(model, {
      op: 'Attention',
      // Loop bodies first: every Softmax there gets its line before the sites are probed
      scopes: () => [...loopBodies, ...scopes],
      find(graph) {
        if (loopBodies.includes(graph)) {
          const softmaxes = graph.nodes.filter((n) => n.opType === 'Softmax');
          const reason = 'no candidate: it is inside a Loop body, which attention fusion does not enter';
          return { sites: [], misses: softmaxes.map((at) => ({ at, reason })) };
        }
        const { sites, misses } = findAttentionSites(graph);
        const separate = misses.map(({ softmax, reason }) => ({
          softmax,
          missed: reason,
          separate: findSeparateSite(softmax),
        }));
        return { sites: [...sites.map((site) => ({ softmax: site.softmax, packed: site })), ...separate] };
      },
      at: (candidate) => candidate.softmax,
      probes: (graph, candidates) =>
        makeProbes(
          model,
          context.fixedDims,
          probeBatch(candidates.map((c) => ('packed' in c ? c.packed.scores : c.softmax.input(0)))),
          graph,
        ),
      signature: (candidate) => ('packed' in candidate ? siteSignature(candidate.packed) : undefined),
      // only packed sites have signatures, so only they carry meanings
      carry: (known, meaning, candidate) =>
        'packed' in known && 'packed' in candidate
          ? sameMeaning(known.packed, meaning as AttentionMeaning | string, candidate.packed)
          : undefined,
      verify(candidate, probes) {
        if ('packed' in candidate) return verifyAttention(candidate.packed, probes, scratch);
        const { missed, separate } = candidate;
        if (typeof separate === 'string') return missed;
        const meaning = verifySeparate(separate, probes);
        return typeof meaning === 'string'
          ? `${missed}; as a MultiHeadAttention of separate query, key and value: ${meaning}`
          : meaning;
      },
      rewrite(candidate, meaning, graph) {
        const refusal = unexpected(meaning);
        if (refusal) return refusal;
        const { packer, casts } = madeIn(graph);
        return 'packed' in candidate
          ? rewrite(model, graph, candidate.packed, meaning as AttentionMeaning, packer, casts)
          : rewriteSeparate(graph, candidate.separate as SeparateSite, meaning, casts);
      },
    });
  },
});
