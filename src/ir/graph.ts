import { OnnxOptError } from '../errors.js';
import { decodeString, type Attribute, type SparseTensor } from './attribute.js';
import type { StringEntries, Tensor } from './tensor.js';
import { cloneType, type ValueType } from './types.js';

export interface Use {
  node: Node;
  index: number;
}

/**
 * An SSA value: a graph input, an initializer, or a node output. It knows its producer and every use, across
 * subgraphs too (a node in an If branch that reads an outer value is one of that value's uses).
 */
export class Value {
  name: string;
  type: ValueType | undefined;
  docString = '';
  metadataProps: StringEntries = [];
  /** Fields of the protobuf message this was read from that ONNX 1.23.1 does not define, written back as read. */
  unknownFields?: Uint8Array[];
  /** The constant this value holds when it is an initializer. */
  initializer: Tensor | undefined;
  private producerRef: Node | null = null;
  private outputSlot = -1;
  private readonly useList: Use[] = [];

  constructor(name: string, type?: ValueType) {
    this.name = name;
    this.type = type;
  }

  get producer(): Node | null {
    return this.producerRef;
  }

  get outputIndex(): number {
    return this.outputSlot;
  }

  get uses(): readonly Use[] {
    return this.useList;
  }

  /** The constant tensor behind this value: an initializer or a Constant node's `value`. */
  constantTensor(): Tensor | undefined {
    if (this.initializer) return this.initializer;
    const p = this.producerRef;
    if (p && p.opType === 'Constant' && p.domain === '') {
      const a = p.attributes.get('value');
      if (a?.type === 'tensor') return a.value;
    }
    return undefined;
  }

  /** @internal bookkeeping used by Node and Graph only. */
  _setProducer(node: Node | null, index: number): void {
    this.producerRef = node;
    this.outputSlot = index;
  }

  /** @internal */
  _addUse(node: Node, index: number): void {
    this.useList.push({ node, index });
  }

  /** @internal */
  _removeUse(node: Node, index: number): void {
    const i = this.useList.findIndex((u) => u.node === node && u.index === index);
    // The first use goes most often (passes walk the graph in order); shift() drops it without moving the rest,
    // where splice() would copy every later use: a constant read by 20k nodes made folding them quadratic.
    if (i === 0) this.useList.shift();
    else if (i > 0) this.useList.splice(i, 1);
  }
}

export interface NodeInit {
  opType: string;
  domain?: string;
  inputs?: readonly (Value | null)[];
  /** Output values, or how many fresh outputs to create (named after the node when inserted). */
  outputs?: readonly (Value | null)[] | number;
  attributes?: readonly Attribute[];
  name?: string;
}

/** An operator application. Inputs are read-only: change them with replaceInput/setInputs so use lists stay right. */
export class Node {
  opType: string;
  domain: string;
  name: string;
  overload = '';
  docString = '';
  metadataProps: StringEntries = [];
  /** Fields of the protobuf message this was read from that ONNX 1.23.1 does not define, written back as read. */
  unknownFields?: Uint8Array[];
  /** NodeProto.device_configurations, kept as they were read. */
  deviceConfigurations: unknown[] = [];
  readonly attributes = new Map<string, Attribute>();
  private inputList: (Value | null)[];
  private outputList: (Value | null)[];
  private owner: Graph | null = null;

  constructor(init: NodeInit) {
    this.opType = init.opType;
    this.domain = init.domain ?? '';
    this.name = init.name ?? '';
    this.inputList = [...(init.inputs ?? [])];
    const outs = init.outputs ?? 1;
    this.outputList = typeof outs === 'number' ? Array.from({ length: outs }, () => new Value('')) : [...outs];
    this.outputList.forEach((v, i) => {
      if (v?.producer) throw new OnnxOptError(`value '${v.name}' already has a producer`);
      v?._setProducer(this, i);
    });
    for (const a of init.attributes ?? []) this.attributes.set(a.name, a);
  }

  get graph(): Graph | null {
    return this.owner;
  }

  get inputs(): readonly (Value | null)[] {
    return this.inputList;
  }

  get outputs(): readonly (Value | null)[] {
    return this.outputList;
  }

  /** The i-th input, which must be present. */
  input(i: number): Value {
    const v = this.inputList[i];
    if (!v) throw new OnnxOptError(`node '${this.name}' (${this.opType}) has no input ${i}`);
    return v;
  }

  output(i = 0): Value {
    const v = this.outputList[i];
    if (!v) throw new OnnxOptError(`node '${this.name}' (${this.opType}) has no output ${i}`);
    return v;
  }

  replaceInput(index: number, value: Value | null): void {
    const old = this.inputList[index];
    if (old === value) return;
    if (this.owner) {
      old?._removeUse(this, index);
      value?._addUse(this, index);
    }
    this.inputList[index] = value;
  }

  setInputs(values: readonly (Value | null)[]): void {
    if (this.owner) this.inputList.forEach((v, i) => v?._removeUse(this, i));
    this.inputList = [...values];
    if (this.owner) this.inputList.forEach((v, i) => v?._addUse(this, i));
  }

  /** Drops trailing absent inputs, which ONNX treats the same as omitted ones. */
  trimInputs(): void {
    while (this.inputList.length && this.inputList[this.inputList.length - 1] === null) this.inputList.pop();
  }

  /** Subgraphs held in attributes (If branches, Loop/Scan bodies). */
  subgraphs(): Graph[] {
    const out: Graph[] = [];
    if (this.attributes.size === 0) return out; // most nodes: asked often (sorting, cleanup, sweeps)
    for (const a of this.attributes.values()) {
      if (a.type === 'graph') out.push(a.value);
      else if (a.type === 'graphs') out.push(...a.value);
    }
    return out;
  }

  attrInt(name: string, fallback: number): number;
  attrInt(name: string): number | undefined;
  attrInt(name: string, fallback?: number): number | undefined {
    const a = this.attributes.get(name);
    return a?.type === 'int' ? Number(a.value) : fallback;
  }

  attrFloat(name: string, fallback: number): number;
  attrFloat(name: string): number | undefined;
  attrFloat(name: string, fallback?: number): number | undefined {
    const a = this.attributes.get(name);
    return a?.type === 'float' ? a.value : fallback;
  }

  attrInts(name: string): number[] | undefined {
    const a = this.attributes.get(name);
    return a?.type === 'ints' ? a.value.map(Number) : undefined;
  }

  attrFloats(name: string): number[] | undefined {
    const a = this.attributes.get(name);
    return a?.type === 'floats' ? a.value : undefined;
  }

  attrString(name: string, fallback: string): string;
  attrString(name: string): string | undefined;
  attrString(name: string, fallback?: string): string | undefined {
    const a = this.attributes.get(name);
    return a?.type === 'string' ? decodeString(a.value) : fallback;
  }

  attrTensor(name: string): Tensor | undefined {
    const a = this.attributes.get(name);
    return a?.type === 'tensor' ? a.value : undefined;
  }

  setAttribute(a: Attribute): void {
    this.attributes.set(a.name, a);
  }

  /** A short description for messages: name (op). */
  describe(): string {
    return `'${this.name}' (${this.domain ? this.domain + '::' : ''}${this.opType})`;
  }

  /** @internal */
  _attach(graph: Graph): void {
    if (this.owner) throw new OnnxOptError(`node ${this.describe()} is already in a graph`);
    this.owner = graph;
    this.inputList.forEach((v, i) => v?._addUse(this, i));
  }

  /** @internal */
  _detach(): void {
    this.inputList.forEach((v, i) => v?._removeUse(this, i));
    this.owner = null;
  }
}

/** Deterministic unique names, shared by a model's graphs and subgraphs. */
export class NameScope {
  private readonly used = new Set<string>();
  private readonly counters = new Map<string, number>();

  has(name: string): boolean {
    return this.used.has(name);
  }

  reserve(name: string): void {
    if (name) this.used.add(name);
  }

  /** `base` if it is free, else `base_1`, `base_2`, ... */
  fresh(base: string): string {
    const stem = base || 'v';
    if (!this.used.has(stem)) {
      this.used.add(stem);
      return stem;
    }
    let n = this.counters.get(stem) ?? 0;
    let name: string;
    do name = `${stem}_${++n}`;
    while (this.used.has(name));
    this.counters.set(stem, n);
    this.used.add(name);
    return name;
  }
}

/** What `Graph.replace` replaces: see there. */
export interface Replacement {
  /** Each old value with the value that takes its place. */
  outputs: readonly (readonly [Value, Value])[];
  /** Nodes the rewrite made: their outputs among the replacements take over the old values' names and types. */
  created?: Iterable<Node>;
  /** Nodes that must go: an error if something outside them still reads them. */
  remove?: Iterable<Node>;
  /** Nodes that go if nothing outside them reads them any more (the region the rewrite replaced). */
  removeIfDead?: Iterable<Node>;
}

export interface QuantizationAnnotation {
  tensorName: string;
  quantParameterTensorNames: StringEntries;
}

/** A graph: an ordered node list with its inputs, outputs, initializers and annotated values. */
export class Graph {
  name: string;
  docString = '';
  metadataProps: StringEntries = [];
  /** Fields of the protobuf message this was read from that ONNX 1.23.1 does not define, written back as read. */
  unknownFields?: Uint8Array[];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  /** Initializer values in file order (their tensors are value.initializer). */
  readonly initializers: Value[] = [];
  private readonly valueInfoList: Value[] = [];
  sparseInitializers: SparseTensor[] = [];
  quantizationAnnotations: QuantizationAnnotation[] = [];
  /** The graph whose values this one may read (set for subgraphs). */
  readonly parent: Graph | null;
  readonly valueNames: NameScope;
  readonly nodeNames: NameScope;
  private readonly nodeList: Node[] = [];
  /**
   * Node insertions and removals not yet applied to nodeList: they are applied on the next read of `nodes`, in one
   * linear pass, so that a pass inserting and removing nodes one at a time stays linear.
   */
  private pending: PendingEdits | undefined;
  /** Outputs of removed nodes, dropped from value_info on its next read (same reason). */
  private readonly goneValues = new Set<Value>();
  /** Values replaced by `replace`, whose value_info slots pass to their replacements on the next read (same reason). */
  private readonly valueInfoRenames = new Map<Value, Value>();

  constructor(name = '', parent: Graph | null = null) {
    this.name = name;
    this.parent = parent;
    this.valueNames = parent?.valueNames ?? new NameScope();
    this.nodeNames = parent?.nodeNames ?? new NameScope();
  }

  /** The nodes in order. Iterate over a copy (`[...graph.nodes]`) when the loop changes the graph. */
  get nodes(): readonly Node[] {
    if (this.pending) this.applyPending();
    return this.nodeList;
  }

  /** Values whose type is written to value_info. */
  get valueInfo(): Value[] {
    if (this.valueInfoRenames.size) this.applyValueInfoRenames();
    if (this.goneValues.size) {
      let kept = 0;
      for (const v of this.valueInfoList) if (!this.goneValues.has(v)) this.valueInfoList[kept++] = v;
      this.valueInfoList.length = kept;
      this.goneValues.clear();
    }
    return this.valueInfoList;
  }

  /** A new value with a unique name derived from `base`. */
  newValue(base: string, type?: ValueType): Value {
    return new Value(this.valueNames.fresh(base), type);
  }

  addInput(value: Value): Value {
    this.valueNames.reserve(value.name);
    this.inputs.push(value);
    return value;
  }

  /** Adds an initializer under a unique name derived from `base` (the tensor is renamed to match). */
  addInitializer(base: string, tensor: Tensor): Value {
    const v = this.newValue(base);
    v.initializer = tensor;
    tensor.name = v.name;
    this.initializers.push(v);
    return v;
  }

  /** Registers an existing value as an initializer, keeping its name. */
  adoptInitializer(value: Value, tensor: Tensor): Value {
    this.valueNames.reserve(value.name);
    value.initializer = tensor;
    this.initializers.push(value);
    return value;
  }

  removeInitializer(value: Value): void {
    const i = this.initializers.indexOf(value);
    if (i < 0) return;
    if (value.uses.length || this.outputs.includes(value)) {
      throw new OnnxOptError(`initializer '${value.name}' is still used`);
    }
    this.initializers.splice(i, 1);
    value.initializer = undefined;
  }

  /** Creates a node, names it and its outputs uniquely, and inserts it (at the end, or before/after a node). */
  createNode(init: NodeInit & { before?: Node; after?: Node }): Node {
    const node = new Node(init);
    node.name = this.nodeNames.fresh(init.name || init.opType);
    node.outputs.forEach((v, i) => {
      if (v && !v.name) v.name = this.valueNames.fresh(`${node.name}_output_${i}`);
      else if (v) this.valueNames.reserve(v.name);
    });
    return this.insertNode(node, init);
  }

  /** Inserts a node built elsewhere; its names are reserved as they are. */
  insertNode(node: Node, where: { before?: Node; after?: Node } = {}): Node {
    const anchor = where.before ?? where.after;
    if (anchor && anchor.graph !== this) throw notIn(anchor, this);
    // A node removed but still listed goes in once: apply the removal first.
    if (this.pending?.removed.has(node)) this.applyPending();
    this.nodeNames.reserve(node.name);
    for (const v of node.outputs) if (v) this.valueNames.reserve(v.name);
    node._attach(this);
    if (!anchor && !this.pending) {
      this.nodeList.push(node);
      return node;
    }
    const pending = (this.pending ??= new PendingEdits());
    if (where.before) pending.placeBefore(where.before, node);
    else if (where.after) pending.placeAfter(where.after, node);
    else pending.appended.push(node);
    return node;
  }

  /** Removes a node whose outputs are no longer used (rewire them first). */
  removeNode(node: Node): void {
    this.removeNodes([node]);
  }

  /**
   * Removes several nodes at once; their outputs may be used only among themselves. Nodes inside their subgraphs
   * let go of the outer values they read, and the removed outputs leave value_info.
   */
  removeNodes(nodes: Iterable<Node>): void {
    const set = new Set(nodes);
    if (set.size === 0) return;
    for (const n of set) {
      if (n.graph !== this) throw notIn(n, this);
      for (const v of n.outputs) {
        if (!v) continue;
        if (this.outputs.includes(v) || v.uses.some((u) => !set.has(u.node))) {
          throw new OnnxOptError(`cannot remove node ${n.describe()}: its output '${v.name}' is still used`);
        }
      }
    }
    for (const n of set) {
      for (const body of n.subgraphs()) for (const g of body.allGraphs()) for (const inner of g.nodes) inner._detach();
      n._detach();
    }
    const pending = (this.pending ??= new PendingEdits());
    for (const n of set) {
      pending.removed.add(n);
      for (const v of n.outputs) if (v) this.goneValues.add(v);
    }
  }

  /**
   * Puts each replacement in the value_info slot of the value it replaced, unless it is listed already; a replacement
   * replaced in turn passes the slot on. One pass for many rewrites, before removed outputs are dropped.
   */
  private applyValueInfoRenames(): void {
    const replacements = this.valueInfoRenames;
    const info = this.valueInfoList;
    const present = new Set(info);
    for (let i = 0; i < info.length; i++) {
      let replacement = replacements.get(info[i]!);
      if (!replacement) continue;
      for (let next = replacements.get(replacement); next; next = replacements.get(replacement)) replacement = next;
      if (present.has(replacement)) continue;
      present.add(replacement);
      info[i] = replacement;
    }
    replacements.clear();
  }

  /** Applies pending insertions and removals to the node list, in one pass. */
  private applyPending(): void {
    const pending = this.pending!;
    this.pending = undefined;
    // Each node comes after the nodes inserted before it (in insertion order) and before the nodes inserted after it
    // (latest first: each went right behind it). A stack instead of recursion: such insertions may nest deep.
    const order: Node[] = [];
    const stack: { node: Node; expanded: boolean }[] = [];
    const place = (root: Node): void => {
      stack.push({ node: root, expanded: false });
      while (stack.length) {
        const { node, expanded } = stack.pop()!;
        if (expanded) {
          if (!pending.removed.has(node)) order.push(node);
          continue;
        }
        for (const a of pending.after.get(node) ?? []) stack.push({ node: a, expanded: false });
        stack.push({ node, expanded: true });
        const before = pending.before.get(node) ?? [];
        for (let i = before.length - 1; i >= 0; i--) stack.push({ node: before[i]!, expanded: false });
      }
    };
    for (const n of this.nodeList) place(n);
    for (const n of pending.appended) place(n);
    this.nodeList.length = order.length;
    for (let i = 0; i < order.length; i++) this.nodeList[i] = order[i]!;
  }

  /** The subset of `candidates` that nothing outside the subset reads (no outside use, no graph output). */
  deadSubset(candidates: Iterable<Node>): Set<Node> {
    const dead = new Set(candidates);
    let shrunk = true;
    while (shrunk) {
      shrunk = false;
      for (const n of dead) {
        const read = n.outputs.some((v) => v && (this.outputs.includes(v) || v.uses.some((u) => !dead.has(u.node))));
        if (read) {
          dead.delete(n);
          shrunk = true;
        }
      }
    }
    return dead;
  }

  /**
   * The one way a rewrite replaces part of the graph. Each old value's uses move to its replacement; a replacement
   * made by one of the `created` nodes also takes the old value's name, type (where it has none) and value_info
   * slot, so graph outputs and the names users know stay put. Then `remove` goes (it throws when something outside
   * still reads it) and, of `removeIfDead`, what nothing outside reads any more.
   */
  replace(spec: Replacement): void {
    const created = new Set(spec.created ?? []);
    for (const [old, replacement] of spec.outputs) this.takeOver(old, replacement, created);
    if (spec.remove) this.removeNodes(spec.remove);
    if (spec.removeIfDead) this.removeNodes(this.deadSubset(spec.removeIfDead));
  }

  private takeOver(old: Value, replacement: Value, created: ReadonlySet<Node>): void {
    if (old === replacement) return;
    const fresh = replacement.producer !== null && created.has(replacement.producer);
    if (fresh && !replacement.type && old.type) replacement.type = cloneType(old.type);
    const wasOutput = this.outputs.includes(old);
    this.replaceAllUses(old, replacement); // renames for a graph output itself
    if (!fresh || wasOutput) return;
    const name = old.name;
    old.name = this.valueNames.fresh(`${name}_replaced`);
    replacement.name = name;
    this.valueInfoRenames.set(old, replacement);
  }

  /**
   * Points every use of `old` at `replacement`. Graph outputs keep their names: where `old` is an output, the
   * replacement takes over its name when it can, else an Identity carries the old name.
   */
  replaceAllUses(old: Value, replacement: Value): void {
    if (old === replacement) return;
    for (const u of [...old.uses]) u.node.replaceInput(u.index, replacement);
    const slot = this.outputs.indexOf(old);
    if (slot < 0) return;
    const canRename =
      replacement.producer?.graph === this &&
      !this.outputs.includes(replacement) &&
      !this.valueInfo.includes(replacement);
    if (canRename) {
      const name = old.name;
      old.name = this.valueNames.fresh(`${name}_replaced`);
      replacement.name = name;
      replacement.type ??= old.type;
      replacement.docString ||= old.docString;
    } else {
      const keeper = new Value(old.name, old.type);
      old.name = this.valueNames.fresh(`${keeper.name}_replaced`);
      this.createNode({
        opType: 'Identity',
        inputs: [replacement],
        outputs: [keeper],
        name: `${keeper.name}_identity`,
      });
      replacement = keeper;
    }
    for (let i = 0; i < this.outputs.length; i++) if (this.outputs[i] === old) this.outputs[i] = replacement;
  }

  indexOf(node: Node): number {
    const i = this.nodes.indexOf(node);
    if (i < 0) throw notIn(node, this);
    return i;
  }

  /** True when nothing reads the value (no node use, not a graph output). */
  isUnused(v: Value): boolean {
    return v.uses.length === 0 && !this.outputs.includes(v);
  }

  /** Values of outer graphs that nodes inside this graph (or deeper) read. */
  outerValuesUsed(): Set<Value> {
    const own = new Set<Value>([...this.inputs, ...this.initializers]);
    const outer = new Set<Value>();
    for (const n of this.nodes) {
      for (const v of n.outputs) if (v) own.add(v);
    }
    for (const n of this.nodes) {
      for (const v of n.inputs) if (v && !own.has(v)) outer.add(v);
      for (const g of n.subgraphs()) for (const v of g.outerValuesUsed()) if (!own.has(v)) outer.add(v);
    }
    for (const v of this.outputs) if (!own.has(v)) outer.add(v);
    return outer;
  }

  /**
   * Reorders nodes topologically, keeping the current order wherever it is already valid (stable), and
   * counting values read inside subgraphs as inputs of the node that holds them. Throws on a cycle. Returns whether
   * any node moved.
   */
  sortTopologically(): boolean {
    const nodes = this.nodes as Node[];
    // the stable sort keeps a valid order as it is: checking is cheaper than sorting
    if (this.isSorted(nodes)) return false;
    const position = new Map(nodes.map((n, i) => [n, i]));
    const deps = nodes.map((n) => {
      const ins = new Set<Value>();
      for (const v of n.inputs) if (v) ins.add(v);
      for (const g of n.subgraphs()) for (const v of g.outerValuesUsed()) ins.add(v);
      const producers = new Set<number>();
      for (const v of ins) {
        const p = v.producer;
        if (p && p.graph === this) producers.add(position.get(p)!);
      }
      return producers;
    });
    const waiting = deps.map((d) => d.size);
    const dependents = nodes.map(() => [] as number[]);
    deps.forEach((d, i) => d.forEach((p) => dependents[p]!.push(i)));
    // A min-heap over original positions keeps the order stable and deterministic.
    const heap: number[] = [];
    const push = (x: number) => {
      heap.push(x);
      for (let i = heap.length - 1; i > 0;) {
        const p = (i - 1) >> 1;
        if (heap[p]! <= heap[i]!) break;
        [heap[p], heap[i]] = [heap[i]!, heap[p]!];
        i = p;
      }
    };
    const pop = (): number => {
      const top = heap[0]!;
      const last = heap.pop()!;
      if (heap.length) {
        heap[0] = last;
        for (let i = 0; ;) {
          const l = 2 * i + 1,
            r = l + 1;
          let m = i;
          if (l < heap.length && heap[l]! < heap[m]!) m = l;
          if (r < heap.length && heap[r]! < heap[m]!) m = r;
          if (m === i) break;
          [heap[m], heap[i]] = [heap[i]!, heap[m]!];
          i = m;
        }
      }
      return top;
    };
    waiting.forEach((w, i) => w === 0 && push(i));
    const order: Node[] = [];
    while (heap.length) {
      const i = pop();
      order.push(nodes[i]!);
      for (const d of dependents[i]!) if (--waiting[d]! === 0) push(d);
    }
    if (order.length !== nodes.length) {
      const stuck = nodes.find((_, i) => waiting[i]! > 0)!;
      throw new OnnxOptError(`graph '${this.name}' has a cycle through node ${stuck.describe()}`);
    }
    // Copied element by element: spreading 100k+ nodes into push() overflows the stack.
    let moved = false;
    for (let i = 0; i < order.length; i++) {
      moved ||= nodes[i] !== order[i];
      nodes[i] = order[i]!;
    }
    return moved;
  }

  /** Every node after the producers of what it reads, no node reading itself, and no subgraphs (those take the sort). */
  private isSorted(nodes: readonly Node[]): boolean {
    const placed = new Set<Node>();
    for (const node of nodes) {
      if (node.subgraphs().length) return false;
      for (const v of node.inputs) {
        const p = v?.producer;
        if (p && p.graph === this && !placed.has(p)) return false;
      }
      placed.add(node);
    }
    return true;
  }

  /** This graph and every subgraph below it, depth first. */
  *allGraphs(): Generator<Graph> {
    yield this;
    for (const n of this.nodes) for (const g of n.subgraphs()) yield* g.allGraphs();
  }
}

function notIn(node: Node, graph: Graph): OnnxOptError {
  return new OnnxOptError(`node ${node.describe()} is not in graph '${graph.name}'`);
}

/** Node-list edits waiting to be applied (see Graph.pending). */
class PendingEdits {
  readonly before = new Map<Node, Node[]>();
  readonly after = new Map<Node, Node[]>();
  readonly appended: Node[] = [];
  readonly removed = new Set<Node>();

  placeBefore(anchor: Node, node: Node): void {
    let list = this.before.get(anchor);
    if (!list) this.before.set(anchor, (list = []));
    list.push(node);
  }

  placeAfter(anchor: Node, node: Node): void {
    let list = this.after.get(anchor);
    if (!list) this.after.set(anchor, (list = []));
    list.push(node);
  }
}
