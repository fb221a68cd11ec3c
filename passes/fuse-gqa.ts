// Decoder attention -> com.microsoft GroupQueryAttention (causal sites: Llama, Qwen, Mistral, Gemma, Phi, with or
// without a KV cache), or MultiHeadAttention (bidirectional sites with as many KV heads as query heads: ModernBERT).
// Sites are found loosely (attention/gqa-site.ts) and proven by evaluation (attention/gqa-verify.ts). The export's
// own mask (padding, causality, a sliding window) becomes the kernel's attention_bias, so left and right padding,
// windows and any position scheme stay exact; GroupQueryAttention then sees every key as valid (seqlens_k = T - 1).
// The cache inputs and present outputs keep their names, shapes (B, Nkv, T, H) and layout.
import type { Graph, Node, Value } from '../src/ir/graph.js';
import { MS_DOMAIN } from '../src/ir/ops.js';
import { Tensor } from '../src/ir/tensor.js';
import { tensorType, type ValueType } from '../src/ir/types.js';
import { definePass, type PassResult } from '../src/pass/index.js';
import { fuseProbedSites, replaceSite } from '../src/pattern/index.js';
import { DataType } from '../src/tensor/dtype.js';
import { cachedSiteSignature, findCachedAttentionSites, type CachedAttentionSite } from './attention/gqa-site.js';
import {
  makeDecoderProbes,
  verifyCachedAttention,
  type CachedAttentionMeaning,
  type DecoderProbe,
} from './attention/gqa-verify.js';

/** Scalars and small constants shared by every site, and the masks made finite. */
class Constants {
  private readonly made = new Map<string, Value>();
  private readonly finite = new Map<Graph, Map<Value, Value>>();
  private lowest: Value | undefined;
  constructor(private readonly graph: Graph) {}

  /**
   * The mask with -∞ raised to float32's lowest: a query row masked whole then averages the values (a padded row,
   * which no one reads) instead of being NaN in MultiHeadAttention, as the export's IsNaN/Where guard keeps it
   * finite. One per mask value and graph, made before the first site that reads it, where every later layer sees it.
   */
  finiteMask(g: Graph, mask: Value, before: Node): Value {
    if (!this.finite.has(g)) this.finite.set(g, new Map());
    let v = this.finite.get(g)!.get(mask);
    if (!v) {
      this.lowest ??= this.graph.addInitializer(
        'float32_lowest',
        Tensor.fromArray('', DataType.FLOAT, [], [-3.4028234663852886e38]),
      );
      v = g.createNode({ opType: 'Max', inputs: [mask, this.lowest], name: `${mask.name}/finite`, before }).output(0);
      v.type = mask.type;
      this.finite.get(g)!.set(mask, v);
    }
    return v;
  }
  ints(name: string, values: number[], scalar = false): Value {
    const key = `${name}:${values}:${scalar}`;
    let v = this.made.get(key);
    if (!v) {
      v = this.graph.addInitializer(name, Tensor.fromArray('', DataType.INT64, scalar ? [] : [values.length], values));
      this.made.set(key, v);
    }
    return v;
  }
}

function node(
  g: Graph,
  before: Node,
  opType: string,
  inputs: (Value | null)[],
  name: string,
  type?: ValueType,
  attributes: { name: string; type: 'int' | 'ints'; value: number | number[] }[] = [],
): Value {
  const out = g.createNode({ opType, inputs, name, before, attributes: attributes as never }).output(0);
  if (type) out.type = type;
  return out;
}

/** (B, heads, L, H) -> (B, L, heads·H), the layout the fused ops take. */
function toSequenceMajor(g: Graph, c: Constants, v: Value, width: number, name: string, before: Node): Value {
  const t = node(
    g,
    before,
    'Transpose',
    [v],
    `${name}/bsnh`,
    tensorType(DataType.FLOAT, [undefined, undefined, undefined, undefined]),
    [{ name: 'perm', type: 'ints', value: [0, 2, 1, 3] }],
  );
  return node(
    g,
    before,
    'Reshape',
    [t, c.ints('bs_hidden_shape_' + width, [0, 0, width])],
    `${name}/bsd`,
    tensorType(DataType.FLOAT, [undefined, undefined, width]),
  );
}

/** seqlens_k (B) and total_sequence_length as GroupQueryAttention wants them: every key valid, T = past + new. */
function lengths(
  g: Graph,
  c: Constants,
  site: CachedAttentionSite,
  name: string,
  before: Node,
): { seqlens: Value; total: Value } {
  const i64 = (dims: (number | undefined)[]) => tensorType(DataType.INT64, dims);
  const shapeK = node(g, before, 'Shape', [site.kNew], `${name}/k_shape`, i64([4]));
  const batch = node(g, before, 'Gather', [shapeK, c.ints('axis0', [0])], `${name}/batch`, i64([1]));
  let total = node(g, before, 'Gather', [shapeK, c.ints('axis2', [2])], `${name}/new_len`, i64([1]));
  if (site.past) {
    const shapeP = node(g, before, 'Shape', [site.past.key], `${name}/past_shape`, i64([4]));
    const past = node(g, before, 'Gather', [shapeP, c.ints('axis2', [2])], `${name}/past_len`, i64([1]));
    total = node(g, before, 'Add', [past, total], `${name}/total_len`, i64([1]));
  }
  const last = node(g, before, 'Sub', [total, c.ints('one', [1])], `${name}/last_key`, i64([1]));
  const seqlens64 = node(g, before, 'Expand', [last, batch], `${name}/seqlens_k_64`, i64([undefined]));
  const seqlens = node(g, before, 'Cast', [seqlens64], `${name}/seqlens_k`, tensorType(DataType.INT32, [undefined]), [
    { name: 'to', type: 'int', value: DataType.INT32 },
  ]);
  const scalar = node(g, before, 'Reshape', [total, c.ints('scalar_shape', [])], `${name}/total_len_scalar`, i64([]));
  const total32 = node(g, before, 'Cast', [scalar], `${name}/total_sequence_length`, tensorType(DataType.INT32, []), [
    { name: 'to', type: 'int', value: DataType.INT32 },
  ]);
  return { seqlens, total: total32 };
}

function rewrite(g: Graph, site: CachedAttentionSite, m: CachedAttentionMeaning, c: Constants): Node {
  const anchor = m.output.producer!;
  const name = anchor.name.replace(/\/[^/]*$/, '') || 'attention';
  const H = m.headSize;
  const query = toSequenceMajor(g, c, site.q, m.numHeads * H, `${name}/query`, anchor);
  const key = toSequenceMajor(g, c, site.kNew, m.kvHeads * H, `${name}/key`, anchor);
  const value = toSequenceMajor(g, c, site.vNew, m.kvHeads * H, `${name}/value`, anchor);
  const scaleAttr =
    Math.abs(m.scale * Math.sqrt(H) - 1) > 1e-6 ? [{ name: 'scale', type: 'float' as const, value: m.scale }] : [];
  let op: string;
  let fused: Node;
  if (m.causal) {
    op = 'GroupQueryAttention';
    const { seqlens, total } = lengths(g, c, site, name, anchor);
    fused = g.createNode({
      opType: op,
      domain: MS_DOMAIN,
      name: `${name}/${op}`,
      before: anchor,
      outputs: 3,
      inputs: [
        query,
        key,
        value,
        site.past?.key ?? null,
        site.past?.value ?? null,
        seqlens,
        total,
        null,
        null,
        null,
        m.bias ?? null,
      ],
      attributes: [
        { name: 'num_heads', type: 'int', value: m.numHeads },
        { name: 'kv_num_heads', type: 'int', value: m.kvHeads },
        ...scaleAttr,
        ...(m.softcap ? [{ name: 'softcap', type: 'float' as const, value: m.softcap }] : []),
      ],
    });
  } else {
    op = 'MultiHeadAttention';
    // onnxruntime's GroupQueryAttention keeps a row masked whole finite; its MultiHeadAttention makes it NaN
    const bias = m.bias && m.infiniteBias ? c.finiteMask(g, m.bias, anchor) : m.bias;
    fused = g.createNode({
      opType: op,
      domain: MS_DOMAIN,
      name: `${name}/${op}`,
      before: anchor,
      inputs: [query, key, value, null, null, bias ?? null],
      attributes: [{ name: 'num_heads', type: 'int', value: m.numHeads }, ...scaleAttr],
    });
  }
  const replaced: [Value, Value][] = [[m.output, fused.output(0)]];
  if (site.past) replaced.push([site.past.presentKey, fused.output(1)], [site.past.presentValue, fused.output(2)]);
  replaceSite(g, replaced, [site.q, site.kNew, site.vNew, m.bias, site.past?.key, site.past?.value]);
  return fused;
}

/** A verified meaning carried to a site of the same signature: its own output, and the same mask. */
function sameMeaning(
  known: CachedAttentionSite,
  meaning: CachedAttentionMeaning | string,
  site: CachedAttentionSite,
): CachedAttentionMeaning | string {
  if (typeof meaning === 'string') return meaning;
  const output = site.outputCandidates[known.outputCandidates.indexOf(meaning.output)]!;
  return { ...meaning, output };
}

export const fuseGqaPass = definePass({
  name: 'fuse-gqa',
  description:
    'fuse decoder attention (grouped-query, cached, windowed, softcapped) into GroupQueryAttention, or bidirectional rotary attention into MultiHeadAttention',
  options: {},
  needs: ['shapes'],
  // The values it makes get value_info, so a second run has nothing to add.
  leaves: ['shapes'],
  run(model): PassResult {
    const c = new Constants(model.graph);
    // values read besides q, k and v (masks) by identity: the same number in every signature that reads one
    const identities = new Map<Value, number>();
    return fuseProbedSites<CachedAttentionSite, CachedAttentionMeaning, DecoderProbe[]>(model, {
      op: 'GroupQueryAttention',
      // the main graph and If branches (decoder_model_merged holds its decoders there)
      find: (graph) => ({ sites: findCachedAttentionSites(graph) }),
      at: (site) => site.softmax,
      probeKind: (site) => (site.past ? 'with past' : 'without past'),
      probes: (graph, _sites, kind) => makeDecoderProbes(model, graph, kind === 'with past'),
      signature: (site, probes) => cachedSiteSignature(site, probes, identities),
      carry: sameMeaning,
      verify: verifyCachedAttention,
      rewrite(site, m, graph) {
        if (!m.causal && m.kvHeads !== m.numHeads)
          return `bidirectional attention with ${m.kvHeads} kv heads for ${m.numHeads} query heads fits neither GroupQueryAttention (causal) nor MultiHeadAttention`;
        return rewrite(graph, site, m, c);
      },
    });
  },
});
