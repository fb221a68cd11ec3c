// The shape inference driver: walks each graph in dependency order, asks the op's rule for its outputs, merges
// the answer with what the model already says, and records new types (intermediates go to graph.valueInfo).

import { OnnxOptError } from '../errors.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { cloneType, type ValueType } from '../ir/types.js';
import { Sym, type SymDim } from './dims.js';
import { factsFromType, isInformative, mergeFacts, sameTensorType, typeFromFacts } from './facts.js';
import type { OutputFacts, RuleContext, TensorFacts } from './rule.js';
import { ruleFor } from './rules/index.js';
import { dependencyOrder } from './order.js';

export interface ShapeInferenceOptions {
  /** Pins symbolic dims by name (e.g. { batch: 1 }) for intermediates; graph inputs and outputs stay as declared. */
  fixedDims?: Record<string, number>;
}

/** Something inference noticed but did not act on: a disagreement with the model, or a rule that failed. */
export interface ShapeIssue {
  node: string;
  message: string;
}

export interface ShapeInferenceResult {
  /** Values whose type was set or made more precise. */
  inferred: number;
  issues: ShapeIssue[];
}

/** Opset assumed for the default domain when a model does not import it. */
const DEFAULT_ONNX_OPSET = 21;
/** Constants larger than this are never read for their values (they are weights, not shapes). */
const MAX_CONSTANT_ELEMENTS = 1024;

/**
 * Infers element types and shapes (static and symbolic) of node outputs in the main graph and every subgraph.
 * Never throws on a model: unknown ops and inconsistent inputs leave outputs as they were.
 */
export function inferShapes(model: Model, options: ShapeInferenceOptions = {}): ShapeInferenceResult {
  const inference = new ShapeInference(model, bindingOf(options.fixedDims));
  inference.inferGraph(model.graph);
  return { inferred: inference.inferred, issues: inference.issues };
}

function bindingOf(fixed: Record<string, number> | undefined): Map<string, number> {
  const binding = new Map<string, number>();
  for (const [name, size] of Object.entries(fixed ?? {})) {
    if (!Number.isInteger(size) || size < 0) {
      throw new OnnxOptError(`fixed dim '${name}' must be a non-negative integer, got ${size}`);
    }
    binding.set(name, size);
  }
  return binding;
}

class ShapeInference {
  inferred = 0;
  readonly issues: ShapeIssue[] = [];
  private readonly known = new Map<Value, TensorFacts | undefined>();
  private readonly tracked = new Map<Value, SymDim[] | undefined>();
  private readonly done = new Set<Graph>();
  private readonly graphOutputs = new Map<Graph, Set<Value>>();
  private readonly annotated = new Map<Graph, Set<Value>>();
  private nextSymbol: number;

  constructor(
    private readonly model: Model,
    private readonly binding: ReadonlyMap<string, number>,
  ) {
    this.nextSymbol = firstFreeSymbol(model);
  }

  inferGraph(graph: Graph): void {
    if (this.done.has(graph)) return;
    this.done.add(graph);
    this.graphOutputs.set(graph, new Set(graph.outputs));
    this.annotated.set(graph, new Set(graph.valueInfo));
    for (const node of dependencyOrder(graph)) {
      this.inferNode(node, graph);
      // Bodies of ops without a rule (or ones a rule did not visit) are still inferred on their own.
      for (const sub of node.subgraphs()) this.inferGraph(sub);
    }
  }

  /** What is known about a value: inferred facts, else its declared type (or initializer), with dims pinned. */
  facts(v: Value): TensorFacts | undefined {
    if (this.known.has(v)) return this.known.get(v);
    const t = v.initializer;
    const facts = t ? { elemType: t.dataType, shape: [...t.dims] } : factsFromType(v.type, this.binding);
    this.known.set(v, facts);
    return facts;
  }

  /** The elements of a small constant or a tracked shape value. */
  values(v: Value): SymDim[] | undefined {
    if (this.tracked.has(v)) return this.tracked.get(v);
    let out: SymDim[] | undefined;
    const t = v.constantTensor();
    if (t && t.size <= MAX_CONSTANT_ELEMENTS) {
      try {
        out = t.toNumbers().map((x) => (Number.isFinite(x) ? x : undefined));
      } catch {
        out = undefined; // strings, exotic types, unreadable external data: no values
      }
    }
    this.tracked.set(v, out);
    return out;
  }

  private inferNode(node: Node, graph: Graph): void {
    const rule = ruleFor(node.domain, node.opType);
    if (!rule) return;
    let results: OutputFacts[] | undefined;
    try {
      results = rule(this.contextFor(node));
    } catch (e) {
      this.issues.push({ node: node.describe(), message: `rule failed: ${(e as Error).message}` });
      return;
    }
    node.outputs.forEach((v, i) => {
      const out = results?.[i];
      if (v && out) this.record(node, v, out, graph);
    });
  }

  private contextFor(node: Node): RuleContext {
    const domain = node.domain === 'ai.onnx' ? '' : node.domain;
    const opset = this.model.opsetVersion(domain) ?? (domain === '' ? DEFAULT_ONNX_OPSET : 1);
    return new NodeContext(this, node, opset);
  }

  /** A new symbol for a size known only at run time. */
  fresh(): Sym {
    return Sym.named(`unk__${this.nextSymbol++}`);
  }

  inferBody(graph: Graph, inputs: readonly (TensorFacts | undefined)[]): (TensorFacts | undefined)[] {
    graph.inputs.forEach((v, k) => {
      const given = inputs[k];
      if (!given || this.known.has(v)) return;
      const merged = mergeFacts(this.facts(v), given);
      if ('facts' in merged) this.known.set(v, merged.facts);
    });
    this.inferGraph(graph);
    return graph.outputs.map((v) => this.facts(v));
  }

  private record(node: Node, v: Value, out: NonNullable<OutputFacts>, graph: Graph): void {
    if ('copyType' in out) {
      if (!v.type) this.write(v, cloneType(out.copyType), graph);
      return;
    }
    // A value the model declares as a sequence, map or optional is not ours to retype.
    if (v.type && v.type.kind !== 'tensor') return;
    const inferred = sanitized(out);
    if (!isInformative(inferred)) return;
    const merged = mergeFacts(this.facts(v), inferred);
    if ('conflict' in merged) {
      this.issues.push({
        node: node.describe(),
        message: `output '${v.name}': inferred ${merged.conflict}; kept the model's`,
      });
      return;
    }
    const facts = merged.facts;
    this.known.set(v, facts);
    if (facts.value && valueFitsShape(facts.value, facts.shape)) this.tracked.set(v, facts.value);
    this.writeFacts(v, facts, graph);
  }

  private writeFacts(v: Value, facts: TensorFacts, graph: Graph): void {
    // the facts without their tracked value
    let target: TensorFacts = {};
    if (facts.elemType !== undefined) target.elemType = facts.elemType;
    if (facts.shape !== undefined) target.shape = facts.shape;
    const typeFacts = target;
    if (this.graphOutputs.get(graph)!.has(v)) {
      // Graph outputs keep their declared type: only what it leaves unknown is filled in, never with pinned dims.
      if (this.binding.size > 0) return;
      const merged = mergeFacts(factsFromType(v.type), typeFacts, true);
      if ('conflict' in merged) return;
      target = merged.facts;
    }
    const type = typeFromFacts(target, v.type);
    if (type) this.write(v, type, graph);
  }

  private write(v: Value, type: ValueType, graph: Graph): void {
    if (!v.type || !sameTensorType(v.type, type)) {
      v.type = type;
      this.inferred++;
    }
    // A value typed when a pass made it is listed too: the type reaches the file, and a second run adds nothing.
    const annotated = this.annotated.get(graph)!;
    if (!this.graphOutputs.get(graph)!.has(v) && !annotated.has(v)) {
      graph.valueInfo.push(v);
      annotated.add(v);
    }
  }
}

/** What a rule sees of one node: one object with methods, not a dozen closures per node. */
class NodeContext implements RuleContext {
  readonly inputCount: number;

  constructor(
    private readonly inference: ShapeInference,
    readonly node: Node,
    readonly opset: number,
  ) {
    this.inputCount = node.inputs.length;
  }

  private input(i: number): Value | undefined {
    return this.node.inputs[i] ?? undefined;
  }

  has(i: number): boolean {
    return this.input(i) !== undefined;
  }

  facts(i: number): TensorFacts | undefined {
    const v = this.input(i);
    return v && this.inference.facts(v);
  }

  elemType(i: number): number | undefined {
    return this.facts(i)?.elemType;
  }

  shape(i: number): SymDim[] | undefined {
    return this.facts(i)?.shape;
  }

  values(i: number): SymDim[] | undefined {
    const v = this.input(i);
    return v && this.inference.values(v);
  }

  numbers(i: number): number[] | undefined {
    const vals = this.values(i);
    return vals && vals.every((x): x is number => typeof x === 'number') ? vals : undefined;
  }

  otherType(i: number): ValueType | undefined {
    const t = this.input(i)?.type;
    return t && t.kind !== 'tensor' ? t : undefined;
  }

  fresh(): Sym {
    return this.inference.fresh();
  }

  inferBody(graph: Graph, inputs: readonly (TensorFacts | undefined)[]): (TensorFacts | undefined)[] {
    return this.inference.inferBody(graph, inputs);
  }
}

/** A tracked value belongs to a tensor of rank 0 or 1 with as many elements as the shape says. */
function valueFitsShape(value: SymDim[], shape: SymDim[] | undefined): boolean {
  if (!shape || shape.length > 1) return false;
  if (shape.length === 0) return value.length === 1;
  const n = shape[0];
  return typeof n !== 'number' || n === value.length;
}

/** Drops facts no tensor can have (negative or fractional sizes), so a bad rule input never reaches a model. */
function sanitized(f: TensorFacts): TensorFacts {
  if (!f.shape?.some((d) => typeof d === 'number' && !(Number.isInteger(d) && d >= 0))) return f;
  return {
    ...f,
    shape: f.shape.map((d) => (typeof d === 'number' && !(Number.isInteger(d) && d >= 0) ? undefined : d)),
  };
}

/** The first N such that no dim in the model is named unk__N or above, so fresh names never collide. */
function firstFreeSymbol(model: Model): number {
  let next = 0;
  const visit = (t: ValueType | undefined) => {
    if (t?.kind !== 'tensor' || !t.shape) return;
    for (const d of t.shape) {
      const m = d.param?.startsWith('unk__') ? /^unk__(\d+)$/.exec(d.param) : null;
      if (m) next = Math.max(next, Number(m[1]) + 1);
    }
  };
  for (const g of model.graph.allGraphs()) {
    for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo]) visit(v.type);
    for (const n of g.nodes) for (const v of n.outputs) visit(v?.type);
  }
  return next;
}
