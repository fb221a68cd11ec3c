// attention-mask-to-bias: Attention and MultiHeadAttention masks rewritten as one additive `attention_bias` of shape
// (batch, heads, sequence, keys), the only mask form onnxruntime-web's WebGPU kernels take. In onnxruntime-web
// 1.30.0 and 1.31.1 (dist/ort.all.mjs) Attention throws "Mask not supported" for a mask_index and ignores `unidirectional`, and
// MultiHeadAttention throws "Key padding mask is not supported"; both require attention_bias to be exactly
// (B, N, S, T). The bias is built once per mask from ops that all have WebGPU kernels (Shape, Gather, Concat, Cast,
// Sub, Mul, Range, Greater, Reshape, Expand) and shared by every layer.
import type { Attribute } from '../src/ir/attribute.js';
import type { Graph, Node, Value } from '../src/ir/graph.js';
import type { Model } from '../src/ir/model.js';
import { Tensor } from '../src/ir/tensor.js';
import type { Dim } from '../src/ir/types.js';
import { definePass, type PassResult } from '../src/pass/index.js';
import { DataType } from '../src/tensor/dtype.js';
import { MS_DOMAIN } from '../src/ir/ops.js';

/** Attention's and MultiHeadAttention's mask_filter_value when the attribute is absent. */
const DEFAULT_FILTER = -10000;

/** Where each operator keeps its mask and bias. */
const LAYOUT: Record<string, { mask: number; bias: number; query: number }> = {
  Attention: { mask: 3, bias: 5, query: 0 },
  MultiHeadAttention: { mask: 4, bias: 5, query: 0 },
};

interface Site {
  node: Node;
  mask: Value | null;
  bias: Value | null;
  causal: boolean;
  filter: number;
  heads: number;
}

const sameDim = (a: Dim | undefined, b: Dim | undefined) =>
  !!a && !!b && ((a.value !== undefined && a.value === b.value) || (a.param !== undefined && a.param === b.param));

/** True when the bias is known to be (B, N, S, S) for a query (B, S, D): nothing to rewrite (a second run). */
function isFullBias(bias: Value, query: Value, heads: number): boolean {
  const b = bias.type?.kind === 'tensor' ? bias.type.shape : undefined;
  const q = query.type?.kind === 'tensor' ? query.type.shape : undefined;
  if (!b || !q || b.length !== 4 || q.length !== 3) return false;
  return sameDim(b[0], q[0]) && b[1]?.value === heads && sameDim(b[2], q[1]) && sameDim(b[3], q[1]);
}

/** Why a site keeps its form, or undefined when its mask can become a bias. */
function refusal(node: Node, layout: { mask: number; bias: number }, opset: number): string | undefined {
  if (node.opType === 'Attention' && node.inputs[4]) return 'has a past state';
  if (
    node.opType === 'MultiHeadAttention' &&
    node.inputs[1]?.type?.kind === 'tensor' &&
    (node.inputs[1].type.shape?.length ?? 3) !== 3
  ) {
    return 'takes keys in BNSH layout';
  }
  if (node.opType === 'MultiHeadAttention' && (node.inputs[6] || node.inputs[7])) return 'has a past state';
  const mask = node.inputs[layout.mask];
  const rank = mask?.type?.kind === 'tensor' ? mask.type.shape?.length : undefined;
  if (mask && rank !== 2) return `has a mask of rank ${rank ?? 'unknown'} (only 2-D key masks are rewritten)`;
  if (node.attrInt('unidirectional', 0) && opset < 11) return 'is causal, and Range needs opset 11';
  return undefined;
}

/**
 * Builds the bias (B, N, S, T) for one group of sites sharing mask, causality, filter value, heads and bias, before
 * the first of them, sized from that first site's query (B, S, D): self-attention without past, so T = S.
 */
function buildBias(graph: Graph, site: Site): Value {
  const before = site.node;
  const name = `${site.node.name}/mask_bias`;
  const make = (opType: string, inputs: (Value | null)[], attributes: Attribute[] = []) =>
    graph.createNode({ opType, inputs, attributes, name: `${name}/${opType}`, before }).output(0);
  const constant = (label: string, dataType: number, dims: number[], values: number[]) =>
    graph.addInitializer(`${name}_${label}`, Tensor.fromArray('', dataType, dims, values));
  const query = site.node.inputs[LAYOUT[site.node.opType]!.query]!;
  const shape = make('Shape', [query]);
  const batch = make(
    'Gather',
    [shape, constant('batch_index', DataType.INT64, [1], [0])],
    [{ name: 'axis', type: 'int', value: 0 }],
  );
  const length = make(
    'Gather',
    [shape, constant('length_index', DataType.INT64, [1], [1])],
    [{ name: 'axis', type: 'int', value: 0 }],
  );
  const one = constant('one', DataType.FLOAT, [], [1]);
  const filter = constant('filter', DataType.FLOAT, [], [site.filter]);

  // allowed: 1 where a query may see a key, broadcastable to (B, 1, S, T)
  let allowed: Value | null = null;
  if (site.mask) {
    const keep = make('Cast', [site.mask], [{ name: 'to', type: 'int', value: DataType.FLOAT }]);
    allowed = make('Reshape', [keep, constant('key_mask_shape', DataType.INT64, [4], [0, 1, 1, -1])]);
  }
  if (site.causal) {
    const scalarLength = make(
      'Gather',
      [shape, constant('length_scalar', DataType.INT64, [], [1])],
      [{ name: 'axis', type: 'int', value: 0 }],
    );
    const positions = make('Range', [
      constant('zero_i64', DataType.INT64, [], [0]),
      scalarLength,
      constant('one_i64', DataType.INT64, [], [1]),
    ]);
    const keys = make('Reshape', [positions, constant('key_positions_shape', DataType.INT64, [2], [1, -1])]);
    const queries = make('Reshape', [positions, constant('query_positions_shape', DataType.INT64, [2], [-1, 1])]);
    const future = make(
      'Cast',
      [make('Greater', [keys, queries])],
      [{ name: 'to', type: 'int', value: DataType.FLOAT }],
    );
    const past = make('Sub', [one, future]);
    allowed = allowed ? make('Mul', [allowed, past]) : past;
  }
  let bias = allowed ? make('Mul', [make('Sub', [one, allowed]), filter]) : null;
  if (site.bias) bias = bias ? make('Add', [site.bias, bias]) : site.bias;
  const full = make(
    'Concat',
    [batch, constant('heads', DataType.INT64, [1], [site.heads]), length, length],
    [{ name: 'axis', type: 'int', value: 0 }],
  );
  return make('Expand', [bias!, full]);
}

export function rewriteMasksAsBias(model: Model, notes: string[]): number {
  const graph = model.graph;
  const opset = model.opsetVersion('') ?? 1;
  const groups = new Map<string, { bias: Value | undefined; sites: Site[] }>();
  const ids = new Map<Value, number>();
  const id = (v: Value | null) => (v ? (ids.get(v) ?? ids.set(v, ids.size).get(v)!) : -1);
  for (const node of graph.nodes) {
    const layout = node.domain === MS_DOMAIN ? LAYOUT[node.opType] : undefined;
    if (!layout) continue;
    const mask = node.inputs[layout.mask] ?? null;
    const causal = node.attrInt('unidirectional', 0) === 1;
    const bias = node.inputs[layout.bias] ?? null;
    if (!mask && !causal && (!bias || isFullBias(bias, node.inputs[layout.query]!, node.attrInt('num_heads')!)))
      continue;
    const why = refusal(node, layout, opset);
    if (why) {
      notes.push(`${node.describe()}: ${why}`);
      continue;
    }
    const site: Site = {
      node,
      mask,
      bias,
      causal,
      filter: node.attrFloat('mask_filter_value', DEFAULT_FILTER)!,
      heads: node.attrInt('num_heads')!,
    };
    const key = [id(mask), id(bias), causal, site.filter, site.heads].join('|');
    const group = groups.get(key) ?? { bias: undefined, sites: [] };
    group.sites.push(site);
    groups.set(key, group);
  }
  let count = 0;
  const masks = new Set<Value>();
  for (const group of groups.values()) {
    const bias = buildBias(graph, group.sites[0]!);
    for (const { node } of group.sites) {
      const layout = LAYOUT[node.opType]!;
      const inputs = [...node.inputs];
      while (inputs.length <= layout.bias) inputs.push(null);
      if (inputs[layout.mask]) masks.add(inputs[layout.mask]!);
      inputs[layout.mask] = null;
      inputs[layout.bias] = bias;
      node.setInputs(inputs);
      node.attributes.delete('unidirectional');
      node.attributes.delete('mask_filter_value');
      count++;
    }
  }
  // the int32 casts of masks that only fed the rewritten sites
  graph.replace({ outputs: [], removeIfDead: [...masks].flatMap((m) => (m.producer ? [m.producer] : [])) });
  return count;
}

export const attentionMaskToBiasPass = definePass({
  name: 'attention-mask-to-bias',
  description:
    'Attention/MultiHeadAttention masks and causality -> one attention_bias (B, N, S, T): the form WebGPU runs',
  // mask ranks and bias shapes decide which sites to rewrite; the bias built is typed for the next pass
  needs: ['shapes'],
  leaves: ['shapes'],
  run(model): PassResult {
    const notes: string[] = [];
    const rewritten = rewriteMasksAsBias(model, notes);
    return { changed: rewritten > 0, stats: rewritten ? { maskAsBias: rewritten } : {}, notes };
  },
});
