// The conversion itself. Every float32 value gets one precision: its producer's (float16 unless the producer stays
// float32), the graph boundary's for inputs, and for constants and type-setting ops (Constant, Cast,
// ConstantOfShape, ...) whatever their consumers want. A consumer that wants the other precision reads one shared
// Cast of the value, so each boundary costs one Cast. Only then are types, tensors and attributes rewritten.

import { OnnxOptError } from '../../src/errors.js';
import { attr } from '../../src/ir/attribute.js';
import { Value, type Graph, type Node, type Use } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import type { ValueType } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';
import { inferElemTypes } from './elem-types.js';
import { keepsFloat32Input, keepsFloat32Output, takesAnyFloat } from './policy.js';
import { float32Nodes } from './regions.js';
import {
  ConversionBuffers,
  float16TensorOf,
  toFloat16Tensor,
  type ConstantCounts,
  type Float16Limits,
} from './tensors.js';

const FP32 = DataType.FLOAT;
const FP16 = DataType.FLOAT16;
type Precision = typeof FP32 | typeof FP16;

export interface Fp16Settings {
  keepIoTypes: boolean;
  isBlocked: (node: Node) => boolean;
  /** Where constants are clamped before rounding (default: the float16 range). */
  limits?: Float16Limits;
}

export interface RewriteStats extends ConstantCounts {
  /** Values made float16. */
  values: number;
  initializers: number;
  constants: number;
  castsInserted: number;
  float32Nodes: number;
  /** Values whose element type could not be inferred (left as they are). */
  untyped: number;
}

/**
 * Ops whose float output type is set by an attribute, not by a float input, so their output can be made in either
 * precision. (EyeLike and the random generators are too, but they stay float32: see policy.ts.)
 */
const TYPE_SETTERS = new Set(['Constant', 'Cast', 'ConstantOfShape', 'SequenceEmpty']);

export function rewriteToFloat16(model: Model, settings: Fp16Settings): RewriteStats {
  const root = model.graph;
  const types = inferElemTypes(root);
  const kept = float32Nodes(root, types, settings.isBlocked);
  const owners = new Map<Graph, Node>();
  const outputOf = new Map<Value, Graph[]>();
  for (const g of root.allGraphs()) {
    for (const n of g.nodes) for (const body of n.subgraphs()) owners.set(body, n);
    for (const v of g.outputs) outputOf.set(v, [...(outputOf.get(v) ?? []), g]);
  }
  const nodePrecision = (n: Node): Precision => (kept.has(n) ? FP32 : FP16);
  const boundary = (g: Graph): Precision => {
    const owner = owners.get(g);
    return owner ? nodePrecision(owner) : settings.keepIoTypes ? FP32 : FP16;
  };
  const wanted = (u: Use): Precision | undefined =>
    takesAnyFloat(u.node, u.index) ? undefined : keepsFloat32Input(u.node, u.index) ? FP32 : nodePrecision(u.node);
  const consumersWant = (v: Value): Precision => {
    const wants = [...v.uses.map(wanted), ...(outputOf.get(v) ?? []).map(boundary)];
    return wants.includes(FP16) ? FP16 : FP32;
  };

  // weights are converted through buffers reused from one to the next (fp16/tensors.ts)
  const blocks = new ConversionBuffers(settings.limits);
  const stats: RewriteStats = {
    values: 0,
    initializers: 0,
    constants: 0,
    castsInserted: 0,
    clamped: 0,
    tiny: 0,
    untyped: 0,
    float32Nodes: 0,
  };
  const isFloat32 = (v: Value | null): v is Value => !!v && types.get(v) === FP32;
  const plan = new Map<Value, Precision>();
  const seen = new Set<Value>();
  for (const g of root.allGraphs()) {
    for (const v of [...g.inputs, ...g.initializers, ...g.nodes.flatMap((n) => n.outputs)]) {
      if (!v || seen.has(v)) continue;
      seen.add(v);
      if (!types.has(v)) stats.untyped++;
    }
    for (const v of g.inputs) if (isFloat32(v)) plan.set(v, boundary(g));
    for (const v of g.initializers) if (isFloat32(v) && !plan.has(v)) plan.set(v, consumersWant(v));
    for (const n of g.nodes) {
      if (kept.has(n) && [...n.inputs, ...n.outputs].some(isFloat32)) stats.float32Nodes++;
      n.outputs.forEach((v, slot) => {
        if (!isFloat32(v)) return;
        if (kept.has(n) || keepsFloat32Output(n, slot)) plan.set(v, FP32);
        else plan.set(v, setsOwnType(n) ? consumersWant(v) : FP16);
      });
    }
  }

  const positions = new Map<Node, number>();
  for (const g of root.allGraphs()) g.nodes.forEach((n, i) => positions.set(n, i));
  for (const [v, precision] of plan) {
    insertConsumerCasts(v, precision, wanted, positions, stats);
    for (const g of outputOf.get(v) ?? []) {
      if (boundary(g) !== precision) castGraphOutput(g, v, boundary(g), g === root, stats);
    }
  }
  for (const [v, precision] of plan) {
    if (precision !== FP16) continue;
    retype(v, stats, blocks);
    stats.values++;
  }
  return stats;
}

/** Constant, Cast and friends: their float output type comes from an attribute, not from a float input. */
function setsOwnType(n: Node): boolean {
  return n.domain === '' && TYPE_SETTERS.has(n.opType);
}

/** Consumers that want the other precision share one Cast per graph, placed before the first of them. */
function insertConsumerCasts(
  v: Value,
  precision: Precision,
  wanted: (u: Use) => Precision | undefined,
  positions: Map<Node, number>,
  stats: RewriteStats,
): void {
  const groups = new Map<Graph, Use[]>();
  for (const u of v.uses) {
    const want = wanted(u);
    if (want === undefined || want === precision) continue;
    const g = u.node.graph!;
    groups.set(g, [...(groups.get(g) ?? []), u]);
  }
  const target: Precision = precision === FP16 ? FP32 : FP16;
  for (const [g, uses] of groups) {
    const first = uses.reduce((a, b) => (positions.get(b.node)! < positions.get(a.node)! ? b : a)).node;
    const cast = castNode(g, v, target, g.newValue(`${v.name}_${suffix(target)}`, retyped(v, target)), first);
    for (const u of uses) u.node.replaceInput(u.index, cast);
    stats.castsInserted++;
  }
}

/**
 * A graph output whose value lives in the other precision reads a Cast of it. The main graph's outputs keep
 * their names (the value inside is renamed); a subgraph's output simply becomes the Cast's result.
 */
function castGraphOutput(g: Graph, v: Value, precision: Precision, keepName: boolean, stats: RewriteStats): void {
  let out: Value;
  if (keepName) {
    const name = v.name;
    v.name = g.valueNames.fresh(`${name}_${suffix(precision === FP16 ? FP32 : FP16)}`);
    if (v.initializer) v.initializer.name = v.name;
    out = new Value(name, retyped(v, precision));
    out.docString = v.docString;
    out.metadataProps = v.metadataProps;
  } else out = g.newValue(`${v.name}_${suffix(precision)}`, retyped(v, precision));
  castNode(g, v, precision, out);
  for (let i = 0; i < g.outputs.length; i++) if (g.outputs[i] === v) g.outputs[i] = out;
  stats.castsInserted++;
}

function castNode(g: Graph, from: Value, to: Precision, out: Value, before?: Node): Value {
  if (from.type && from.type.kind !== 'tensor') {
    throw new OnnxOptError(
      `value '${from.name}' (a ${from.type.kind}) would need a Cast between float32 and float16: ` +
        'block or unblock the nodes that produce and read it together',
    );
  }
  g.createNode({
    opType: 'Cast',
    inputs: [from],
    outputs: [out],
    attributes: [attr('to', to)],
    name: `${from.name}_to_${suffix(to)}`,
    before,
  });
  return out;
}

const suffix = (p: Precision) => (p === FP16 ? 'fp16' : 'fp32');

function retyped(v: Value, elemType: number): ValueType | undefined {
  return v.type ? withElemType(v.type, elemType) : undefined;
}

function withElemType(t: ValueType, elemType: number): ValueType {
  if (t.kind === 'tensor' || t.kind === 'sparse_tensor') return { ...structuredClone(t), elemType };
  if ((t.kind === 'sequence' || t.kind === 'optional') && t.elem) return { ...t, elem: withElemType(t.elem, elemType) };
  return t;
}

/** Makes a float16 value of a float32 one: its declared type, its initializer, and the attributes that set it. */
function retype(v: Value, stats: RewriteStats, blocks: ConversionBuffers): void {
  if (v.type) v.type = withElemType(v.type, FP16);
  if (v.initializer) {
    v.initializer = toFloat16Tensor(v.initializer, stats, blocks);
    stats.initializers++;
  }
  const p = v.producer;
  if (!p || !setsOwnType(p)) return;
  switch (p.opType) {
    case 'Constant':
      return convertConstant(p, stats, blocks);
    case 'Cast':
      return p.setAttribute(attr('to', FP16));
    case 'ConstantOfShape': {
      const value = p.attrTensor('value');
      const half = value
        ? toFloat16Tensor(value, stats, blocks)
        : float16TensorOf('value', [1], [0], stats, blocks.limits);
      return p.setAttribute(attr('value', half));
    }
    case 'SequenceEmpty':
      return p.setAttribute(attr('dtype', FP16));
  }
}

function convertConstant(node: Node, stats: RewriteStats, blocks: ConversionBuffers): void {
  const [a] = node.attributes.values();
  if (!a) return;
  stats.constants++;
  if (a.type === 'tensor') node.setAttribute(attr('value', toFloat16Tensor(a.value, stats, blocks)));
  else if (a.type === 'sparse_tensor') {
    node.setAttribute({
      name: 'sparse_value',
      type: 'sparse_tensor',
      value: { ...a.value, values: toFloat16Tensor(a.value.values, stats, blocks) },
    });
  } else if (a.type === 'float' || a.type === 'floats') {
    node.attributes.delete(a.name);
    const values = a.type === 'float' ? [a.value] : a.value;
    node.setAttribute(
      attr('value', float16TensorOf('value', a.type === 'float' ? [] : [values.length], values, stats, blocks.limits)),
    );
  }
}
