// clean: removes what does not contribute to the outputs (dead nodes, unused initializers, stale value_info),
// forwards Identity and no-op nodes, merges duplicate nodes and small duplicate constants, and sorts each graph
// topologically. Graph inputs and outputs and their names never change; subgraph signatures stay as they are.
import type { Attribute } from '../src/ir/attribute.js';
import type { Graph, Node, Value } from '../src/ir/graph.js';
import type { Model } from '../src/ir/model.js';
import type { Tensor } from '../src/ir/tensor.js';
import { elemTypeOf, shapeOf, staticShapeOf } from '../src/ir/types.js';
import { bodyOutputs, removeWhere } from '../src/pattern/graph-edits.js';
import { definePass, type PassResult } from '../src/pass/index.js';
import { DataType } from '../src/tensor/dtype.js';

/** Domains whose ops have no side effects, so an unused node may go. Other domains (custom ops) are kept. */
const PURE_DOMAINS = new Set(['', 'ai.onnx', 'ai.onnx.ml', 'com.microsoft']);
/** Ops whose result is not a function of their inputs: two of them are never one. */
const NONDETERMINISTIC = /Random|Multinomial|Bernoulli|Dropout/;
/** Duplicate initializers up to this size are merged (larger ones are weights, which are rarely duplicated). */
const MERGE_INITIALIZER_BYTES = 1024;
/** Cleanup rounds before stopping; each round catches whole chains, so two or three suffice in practice. */
const MAX_ROUNDS = 10;
/** Slice ends at least this large mean "to the end" (exporters write INT32_MAX or INT64_MAX). */
const TO_THE_END = 2 ** 31 - 1;

type Stat =
  | 'identities'
  | 'noOps'
  | 'duplicateNodes'
  | 'duplicateInitializers'
  | 'deadNodes'
  | 'unusedInitializers'
  | 'staleValueInfo'
  | 'reorderedGraphs';

export const cleanPass = definePass({
  name: 'clean',
  description:
    'remove dead nodes, unused initializers, stale value_info, Identity and no-op nodes, duplicate nodes; sort topologically',
  // what it removes is dead, and what it forwards or merges is replaced by a value of the same type
  keepsShapes: true,
  run(model: Model): PassResult {
    const stats = new Map<Stat, number>();
    const count = (stat: Stat, n = 1): void => {
      if (n) stats.set(stat, (stats.get(stat) ?? 0) + n);
    };
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const before = total(stats);
      for (const graph of [...model.graph.allGraphs()]) {
        const pinned = bodyOutputs(graph);
        if (graph.sortTopologically()) count('reorderedGraphs');
        count('duplicateInitializers', mergeInitializers(graph, pinned));
        forwardNoOps(graph, pinned, model.opsetVersion('') ?? 0, count);
        count('duplicateNodes', mergeDuplicates(graph, pinned));
      }
      count('deadNodes', removeDeadNodes(model.graph));
      for (const graph of model.graph.allGraphs()) count('unusedInitializers', removeUnusedInitializers(graph));
      if (total(stats) === before) break;
    }
    for (const graph of model.graph.allGraphs()) count('staleValueInfo', removeStaleValueInfo(graph));
    return { changed: stats.size > 0, stats: Object.fromEntries(stats) };
  },
});

const total = (stats: Map<Stat, number>) => [...stats.values()].reduce((a, b) => a + b, 0);

/**
 * `pinned`: the values of this graph that subgraphs below it return as they are (bodyOutputs). Use lists do not
 * show those reads, so such values count as used and are never forwarded away.
 */
function isUsed(graph: Graph, v: Value, pinned: ReadonlySet<Value>): boolean {
  return v.uses.length > 0 || graph.outputs.includes(v) || pinned.has(v);
}

// ---- Identity and no-op forwarding ----

function forwardNoOps(graph: Graph, pinned: ReadonlySet<Value>, opset: number, count: (s: Stat) => void): void {
  for (const node of [...graph.nodes]) {
    if (node.graph !== graph || (node.domain !== '' && node.domain !== 'ai.onnx')) continue;
    const source = node.opType === 'Identity' ? node.inputs[0] : noOpSource(node, opset, graph, pinned);
    if (source && forward(graph, node, source, pinned)) count(node.opType === 'Identity' ? 'identities' : 'noOps');
  }
}

/** The value a node's output 0 always equals, when the node is a no-op given what the types tell. */
function noOpSource(node: Node, opset: number, graph: Graph, pinned: ReadonlySet<Value>): Value | undefined {
  const x = node.inputs[0];
  if (!x) return undefined;
  const shape = staticShapeOf(x.type);
  const outShape = staticShapeOf(node.outputs[0]?.type);
  const sameAsOutput = !!shape && !!outShape && sameDims(shape, outShape);
  switch (node.opType) {
    case 'Cast':
      return elemTypeOf(x.type) !== undefined && elemTypeOf(x.type) === node.attrInt('to') ? x : undefined;
    case 'Transpose': {
      const perm = node.attrInts('perm');
      const rank = shapeOf(x.type)?.length;
      return (perm ? perm.every((p, i) => p === i) : rank !== undefined && rank <= 1) ? x : undefined;
    }
    case 'Reshape': {
      if (!shape) return undefined;
      const target = constInts(node.inputs[1]);
      const resolved = target && resolveReshape(shape, target, node.attrInt('allowzero', 0) !== 0);
      return sameAsOutput || (resolved && sameDims(shape, resolved)) ? x : undefined;
    }
    case 'Expand': {
      if (!shape) return undefined;
      const target = constInts(node.inputs[1]);
      const keeps =
        target &&
        target.length <= shape.length &&
        target.every((t, i) => t === 1 || t === shape[shape.length - target.length + i]);
      return sameAsOutput || keeps ? x : undefined;
    }
    case 'Dropout': {
      // Before opset 7 Dropout ran in training mode unless is_test was set.
      if (opset < 7 && node.attrInt('is_test', 0) === 0) return undefined;
      const mask = node.outputs[1];
      if (mask && isUsed(graph, mask, pinned)) return undefined;
      const training = node.inputs[2];
      if (!training) return x;
      const t = constInts(training);
      return t && t.every((b) => b === 0) ? x : undefined;
    }
    case 'Squeeze':
    case 'Unsqueeze': {
      // Squeeze(Unsqueeze(y, A), A) and Unsqueeze(Squeeze(y, A), A) are y (both resolve A against the same rank).
      const inner = x.producer;
      const undo = node.opType === 'Squeeze' ? 'Unsqueeze' : 'Squeeze';
      if (!inner || inner.graph !== graph || inner.opType !== undo || inner.domain !== node.domain) return undefined;
      const a = axesOf(node);
      const b = axesOf(inner);
      return a && b && sameDims([...a].sort(), [...b].sort()) ? (inner.inputs[0] ?? undefined) : undefined;
    }
    case 'Slice':
      return slicesEverything(node, x) ? x : undefined;
    default:
      return undefined;
  }
}

/** Reshape's target shape with 0 (copy, unless allowzero) and -1 (inferred) resolved; undefined if it cannot tell. */
function resolveReshape(input: readonly number[], target: readonly number[], allowZero: boolean): number[] | undefined {
  const dims = target.map((d, i) => (d === 0 && !allowZero ? input[i] : d));
  if (dims.some((d) => d === undefined)) return undefined;
  const known = (dims as number[]).filter((d) => d !== -1);
  const inferred = dims.length - known.length;
  if (inferred > 1) return undefined;
  if (inferred === 0) return dims as number[];
  const rest = known.reduce((a, b) => a * b, 1);
  const size = input.reduce((a, b) => a * b, 1);
  return rest === 0 || size % rest !== 0 ? undefined : (dims as number[]).map((d) => (d === -1 ? size / rest : d));
}

function slicesEverything(node: Node, x: Value): boolean {
  const starts = constInts(node.inputs[1]);
  const ends = constInts(node.inputs[2]);
  if (!starts || !ends || starts.length !== ends.length) return false;
  const axes = node.inputs[3] ? constInts(node.inputs[3]) : starts.map((_, i) => i);
  const steps = node.inputs[4] ? constInts(node.inputs[4]) : starts.map(() => 1);
  if (!axes || !steps) return false;
  const dims = shapeOf(x.type);
  return starts.every((start, k) => {
    const axis = axes[k]! < 0 && dims ? axes[k]! + dims.length : axes[k]!;
    const dim = dims?.[axis];
    return (
      start === 0 &&
      steps[k] === 1 &&
      axis >= 0 &&
      (ends[k]! >= TO_THE_END || (typeof dim === 'number' && ends[k]! >= dim))
    );
  });
}

function axesOf(node: Node): number[] | undefined {
  return node.attrInts('axes') ?? constInts(node.inputs[1]);
}

/** The elements of an integer constant, if the value is one. */
function constInts(v: Value | null | undefined): number[] | undefined {
  const t = v?.constantTensor();
  if (!t || !INTEGER_TYPES.has(t.dataType)) return undefined;
  return t.toNumbers();
}

const INTEGER_TYPES = new Set<number>([
  DataType.INT64,
  DataType.INT32,
  DataType.INT16,
  DataType.INT8,
  DataType.UINT8,
  DataType.BOOL,
]);

function sameDims(a: readonly (number | string | undefined)[], b: readonly (number | string | undefined)[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Points the uses of `node`'s output 0 at `source` and removes the node when nothing else reads it. A graph output
 * keeps its name: `source` takes it over, which is possible only for an intermediate value of this graph;
 * otherwise (source is a graph input, initializer, outer value or another output) the node stays.
 */
function forward(graph: Graph, node: Node, source: Value, pinned: ReadonlySet<Value>): boolean {
  const from = node.outputs[0];
  if (!from || from === source || pinned.has(from)) return false;
  if (graph.outputs.includes(from)) {
    if (source.producer?.graph !== graph || graph.outputs.includes(source)) return false;
    // The output's declared type and annotations describe the same tensor; they stay with the output name.
    source.type = from.type ?? source.type;
    source.docString = from.docString;
    source.metadataProps = from.metadataProps;
    removeWhere(graph.valueInfo, (v) => v === source);
  }
  graph.replaceAllUses(from, source);
  if (node.outputs.every((v) => !v || !isUsed(graph, v, pinned))) graph.removeNodes(new Set([node]));
  return true;
}

// ---- Common subexpressions ----

function mergeable(node: Node): boolean {
  return (
    PURE_DOMAINS.has(node.domain) &&
    !NONDETERMINISTIC.test(node.opType) &&
    node.subgraphs().length === 0 &&
    node.outputs.length > 0
  );
}

/** Keeps the first of nodes with the same op, inputs and attributes (the graph is sorted, so chains merge in one go). */
function mergeDuplicates(graph: Graph, pinned: ReadonlySet<Value>): number {
  const ids = new Map<Value, number>();
  const id = (v: Value | null) => (v ? (ids.get(v) ?? ids.set(v, ids.size).size - 1) : '-');
  const seen = new Map<string, Node[]>();
  const merged = new Set<Node>();
  for (const node of [...graph.nodes]) {
    if (!mergeable(node)) continue;
    const key = [
      node.domain,
      node.opType,
      node.inputs.map(id).join(','),
      node.outputs.map((v) => (v ? 1 : 0)).join(''),
      attributesKey(node),
    ].join('|');
    const twin = seen.get(key)?.find((t) => sameAttributes(t, node));
    const outputsMovable = node.outputs.every((v) => !v || (!graph.outputs.includes(v) && !pinned.has(v)));
    if (twin && outputsMovable) {
      node.outputs.forEach((v, i) => v && graph.replaceAllUses(v, twin.outputs[i]!));
      merged.add(node);
    } else if (!twin) {
      seen.set(key, [...(seen.get(key) ?? []), node]);
    }
  }
  graph.removeNodes(merged);
  return merged.size;
}

/** A cheap summary of the attributes; `sameAttributes` makes the exact comparison. */
function attributesKey(node: Node): string {
  return [...node.attributes.values()]
    .map(
      (a) =>
        `${a.name}:${a.type}:${a.type === 'tensor' ? `${a.value.dataType}[${a.value.dims}]` : a.type === 'int' || a.type === 'float' || a.type === 'ints' || a.type === 'floats' ? String(a.value) : ''}`,
    )
    .sort()
    .join(';');
}

function sameAttributes(a: Node, b: Node): boolean {
  if (a.attributes.size !== b.attributes.size) return false;
  for (const [name, x] of a.attributes) {
    const y = b.attributes.get(name);
    if (!y || !sameAttribute(x, y)) return false;
  }
  return true;
}

function sameAttribute(x: Attribute, y: Attribute): boolean {
  if (x.type !== y.type) return false;
  const list = <T>(a: readonly T[], b: readonly T[], eq: (p: T, q: T) => boolean) =>
    a.length === b.length && a.every((p, i) => eq(p, b[i]!));
  switch (x.type) {
    case 'int':
      return String(x.value) === String((y as typeof x).value); // number or bigint
    case 'float':
      return Object.is(x.value, (y as typeof x).value);
    case 'ints':
      return list<number | bigint>(x.value, (y as typeof x).value, (p, q) => String(p) === String(q));
    case 'floats':
      return list(x.value, (y as typeof x).value, Object.is);
    case 'string':
      return sameBytes(x.value, (y as typeof x).value);
    case 'strings':
      return list(x.value, (y as typeof x).value, sameBytes);
    case 'tensor':
      return sameTensor(x.value, (y as typeof x).value);
    case 'tensors':
      return list(x.value, (y as typeof x).value, sameTensor);
    case 'ref':
      return y.type === 'ref' && x.refAttrName === y.refAttrName && x.refType === y.refType;
    case 'type_proto':
    case 'type_protos':
      return JSON.stringify(x.value) === JSON.stringify((y as typeof x).value);
    default:
      return false; // graphs never merge; sparse tensors are too rare to bother
  }
}

function sameTensor(a: Tensor, b: Tensor): boolean {
  if (a.dataType !== b.dataType || !sameDims(a.dims, b.dims)) return false;
  if (a.strings || b.strings)
    return !!a.strings && !!b.strings && a.strings.every((s, i) => sameBytes(s, b.strings![i]!));
  return a.byteLength === b.byteLength && sameBytes(a.bytes(), b.bytes());
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Small initializers with equal type, dims and bytes become one (the first); names of graph inputs stay. */
function mergeInitializers(graph: Graph, pinned: ReadonlySet<Value>): number {
  const first = new Map<string, Value>();
  let merged = 0;
  for (const v of [...graph.initializers]) {
    const t = v.initializer!;
    if (t.strings || !t.isLoaded || t.byteLength > MERGE_INITIALIZER_BYTES) continue;
    if (graph.inputs.includes(v) || graph.outputs.includes(v) || pinned.has(v)) continue;
    const key = `${t.dataType}[${t.dims}]${Array.from(t.bytes()).join(',')}`;
    const kept = first.get(key);
    if (!kept) {
      first.set(key, v);
      continue;
    }
    graph.replaceAllUses(v, kept);
    graph.removeInitializer(v);
    merged++;
  }
  return merged;
}

// ---- Removal ----

/** Removes unused side-effect-free nodes (consumers first, so whole dead chains go at once) here and in bodies. */
function removeDeadNodes(graph: Graph): number {
  const pinned = bodyOutputs(graph);
  const dead = new Set<Node>();
  const unread = (v: Value | null) =>
    !v || (!graph.outputs.includes(v) && !pinned.has(v) && v.uses.every((u) => dead.has(u.node)));
  let inBodies = 0;
  for (const node of [...graph.nodes].reverse()) {
    if (PURE_DOMAINS.has(node.domain) && node.outputs.every(unread)) dead.add(node);
    else for (const body of node.subgraphs()) inBodies += removeDeadNodes(body);
  }
  graph.removeNodes(dead);
  return dead.size + inBodies;
}

/** Initializers nothing reads; one that is also a graph input (a default value) stays. */
function removeUnusedInitializers(graph: Graph): number {
  const pinned = bodyOutputs(graph);
  let removed = 0;
  for (const v of [...graph.initializers]) {
    if (isUsed(graph, v, pinned) || graph.inputs.includes(v)) continue;
    graph.removeInitializer(v);
    removed++;
  }
  return removed;
}

/** value_info entries for values the graph no longer has, and repeated entries. */
function removeStaleValueInfo(graph: Graph): number {
  // Node inputs count too: sparse initializers are read by nodes but listed nowhere else.
  const live = new Set<Value | null>([
    ...graph.inputs,
    ...graph.initializers,
    ...graph.nodes.flatMap((n) => [...n.inputs, ...n.outputs]),
  ]);
  const listed = new Set<Value>();
  return removeWhere(graph.valueInfo, (v) => {
    const stale = !live.has(v) || listed.has(v);
    listed.add(v);
    return stale;
  });
}
