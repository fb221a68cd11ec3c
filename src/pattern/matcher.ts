// The matcher: a backtracking search over the graph from a root node, written as generators. Each generator
// binds what it matched, yields once per way the rest of the pattern can go on, and unbinds when resumed, so
// commutative operands and optional nodes are choice points that later failures can revisit. It never mutates
// the graph.
import { OnnxOptError } from '../errors.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import {
  OpMatcher,
  type AttrExpectation,
  type NodeOptions,
  type NodePattern,
  type OptionalPattern,
  type OutputPattern,
  type ValuePattern,
  type Verdict,
} from './builder.js';
import { constantOf } from './constant.js';
import { Match, plainAttribute } from './match.js';
import { DeepestFailure } from './tracer.js';

/** What the matcher needs of a rule. */
export interface MatchSpec {
  name: string;
  outputs: readonly OutputPattern[];
  check?: (match: Match) => Verdict;
}

export type MatchOutcome =
  | { match: Match }
  | {
      match?: undefined;
      reason: string;
      nodesMatched: number;
      /** how far into the pattern it failed */ depth: number;
    };

const MUL = new OpMatcher('Mul');

/** Structural solutions tried against the intermediate-use rule and the check before giving up at one root. */
const MAX_SOLUTIONS = 64;
/** Progress credited to a complete structural match, so its rejection reason outranks any partial failure. */
const COMPLETE = Number.MAX_SAFE_INTEGER;

/**
 * Tries a rule with `root` as the producer of its first output; the first solution that passes every check wins.
 * `pinned` are values read where use lists do not show it (outputs of nested subgraphs, see bodyOutputs): a match
 * may not remove or replace them.
 */
export function matchAt(spec: MatchSpec, root: Node, pinned: ReadonlySet<Value> = new Set()): MatchOutcome {
  const graph = root.graph;
  if (!graph) throw new OnnxOptError(`node ${root.describe()} is not in a graph`);
  const search = new Search(graph);
  let tried = 0;
  for (const _ of search.outputs(spec.outputs, root)) {
    const match = search.snapshot(spec.name, root, spec.outputs);
    const why = outsideUse(match, pinned) ?? verdictReason(() => spec.check?.(match) ?? true, 'the rule check failed');
    if (why === undefined) return { match };
    search.failure.offer(COMPLETE, why, Infinity);
    if (++tried >= MAX_SOLUTIONS) break;
  }
  const { reason, nodesMatched, depth } = search.failure;
  return { reason: reason ?? `no match at ${nodeLabel(root)}`, nodesMatched, depth };
}

/** `Add at node 'x'`, the prefix of failure reasons about a node. */
export function describeAt(node: Node): string {
  return `${node.opType} at node '${nodeLabel(node)}'`;
}

/** A node's name, or its first output's name when it has none. */
export function nodeLabel(node: Node): string {
  return node.name || node.outputs.find((v) => v)?.name || '?';
}

/** Where an operand sits: which input of which node, or null for a pattern output. */
type Site = { node: Node; operand: number } | null;

class Search {
  readonly failure = new DeepestFailure();
  private readonly values = new Map<string, Value>();
  private readonly captured = new Map<string, Node>();
  private readonly bound = new Map<NodePattern, Node>();
  private readonly matched: Node[] = [];

  constructor(private readonly graph: Graph) {}

  /** Matches the pattern outputs: the first at the root, the others at any node of the graph that fits. */
  *outputs(outputs: readonly OutputPattern[], root: Node, k = 0): Generator<void> {
    if (k === outputs.length) {
      yield;
      return;
    }
    const out = outputs[k]!;
    const candidates =
      k === 0
        ? [root]
        : this.bound.has(out.node)
          ? [this.bound.get(out.node)!]
          : this.graph.nodes.filter((n) => out.node.op.accepts(n));
    for (const node of candidates) {
      const v = node.outputs[out.index];
      if (!v) {
        this.fail(`${describeAt(node)} has no output ${out.index}`);
        continue;
      }
      for (const _ of this.node(out.node, out.index, v, null)) yield* this.outputs(outputs, root, k + 1);
    }
  }

  snapshot(rule: string, root: Node, outputs: readonly OutputPattern[]): Match {
    const outs = outputs.map((o) => this.bound.get(o.node)!.output(o.index));
    return new Match(
      rule,
      this.graph,
      root,
      outs,
      [...new Set(this.matched)],
      record(this.values),
      record(this.captured),
    );
  }

  private get progress(): number {
    return this.matched.length + this.values.size;
  }

  /** `extra` ranks a failure on a node whose op already matched above one at a node whose op did not. */
  private fail(reason: string, extra = 0): void {
    this.failure.offer(this.progress + extra, reason, this.matched.length);
  }

  private failOperand(site: Site, v: Value, reason: string): void {
    const where = site ? `${describeAt(site.node)}: operand ${site.operand}` : 'output';
    this.fail(`${where} ('${v.name}') ${reason}`);
  }

  private *value(pattern: ValuePattern, v: Value | null, site: Site): Generator<void> {
    if (!v) {
      this.fail(site ? `${describeAt(site.node)}: operand ${site.operand} is absent` : 'output is absent');
      return;
    }
    switch (pattern.kind) {
      case 'var': {
        const why = pattern.predicate ? verdictReason(() => pattern.predicate!(v), 'fails the predicate') : undefined;
        if (why !== undefined)
          this.failOperand(site, v, `does not fit${pattern.name ? ` '${pattern.name}'` : ''}: ${why}`);
        else yield* this.bindValue(pattern.name, v, site);
        return;
      }
      case 'const': {
        const c = constantOf(v);
        if (!c) {
          this.failOperand(site, v, `is not a constant${pattern.name ? ` (for '${pattern.name}')` : ''}`);
          return;
        }
        const why = pattern.predicate ? verdictReason(() => pattern.predicate!(c), 'fails the predicate') : undefined;
        if (why !== undefined) this.failOperand(site, v, why);
        else yield* this.bindValue(pattern.name, v, site);
        return;
      }
      case 'node':
        yield* this.node(pattern, 0, v, site);
        return;
      case 'output':
        yield* this.node(pattern.node, pattern.index, v, site);
        return;
      case 'optional':
        yield* this.optional(pattern, v, site);
        return;
    }
  }

  private *bindValue(name: string | undefined, v: Value, site: Site): Generator<void> {
    if (!name) {
      yield;
      return;
    }
    const prior = this.values.get(name);
    if (prior) {
      if (prior === v) yield;
      else this.failOperand(site, v, `must be the same value as '${name}' ('${prior.name}')`);
      return;
    }
    this.values.set(name, v);
    try {
      yield;
    } finally {
      this.values.delete(name);
    }
  }

  private *node(pattern: NodePattern, index: number, v: Value, site: Site): Generator<void> {
    const node = v.producer;
    const prior = this.bound.get(pattern);
    if (prior) {
      if (node === prior && v.outputIndex === index) yield;
      else this.failOperand(site, v, `must be output ${index} of node '${nodeLabel(prior)}' matched before`);
      return;
    }
    if (!this.producerFits(pattern.op, index, v, site)) return;
    const operands = pattern.product ? 2 : pattern.inputs.length;
    const why =
      this.nodeProblem(pattern.op, pattern.options, operands, node!) ?? this.captureProblem(pattern.captureName, node!);
    if (why) {
      this.fail(`${describeAt(node!)}: ${why}`, 0.5);
      return;
    }
    this.bound.set(pattern, node!);
    if (pattern.captureName) this.captured.set(pattern.captureName, node!);
    try {
      if (pattern.product) yield* this.productAt(node!, pattern.inputs);
      else yield* this.withNode(undefined, node!, pattern.inputs, pattern.options.commutative);
    } finally {
      if (pattern.captureName) this.captured.delete(pattern.captureName);
      this.bound.delete(pattern);
    }
  }

  /** A Mul whose operands hold the factors, split into two groups every way (either side first). */
  private *productAt(mul: Node, factors: readonly ValuePattern[]): Generator<void> {
    this.matched.push(mul);
    try {
      const all = (1 << factors.length) - 1;
      for (let left = 1; left < all; left++) {
        const [l, r] = [0, 1].map((side) => factors.filter((_, i) => ((left >> i) & 1) === 1 - side)) as [
          ValuePattern[],
          ValuePattern[],
        ];
        for (const _ of this.factors(l, mul.inputs[0] ?? null, { node: mul, operand: 0 })) {
          yield* this.factors(r, mul.inputs[1] ?? null, { node: mul, operand: 1 });
        }
      }
    } finally {
      this.matched.pop();
    }
  }

  /** One factor is matched at the value itself; several need a Mul there that holds them. */
  private *factors(group: readonly ValuePattern[], v: Value | null, site: Site): Generator<void> {
    if (group.length === 1) {
      yield* this.value(group[0]!, v, site);
      return;
    }
    if (!v) {
      this.fail(`${describeAt(site!.node)}: operand ${site!.operand} is absent`);
      return;
    }
    if (!this.producerFits(MUL, 0, v, site)) return;
    const why = this.nodeProblem(MUL, {}, 2, v.producer!);
    if (why) this.fail(`${describeAt(v.producer!)}: ${why}`, 0.5);
    else yield* this.productAt(v.producer!, group);
  }

  /** The node when present, else the passed-through input itself. */
  private *optional(pattern: OptionalPattern, v: Value, site: Site): Generator<void> {
    const node = v.producer;
    if (
      node &&
      node.graph === this.graph &&
      pattern.op.accepts(node) &&
      v.outputIndex === 0 &&
      !this.nodeProblem(pattern.op, pattern.options, pattern.inputs.length, node) &&
      !this.captureProblem(pattern.captureName, node)
    ) {
      yield* this.withNode(pattern.captureName, node, pattern.inputs, pattern.options.commutative);
    }
    yield* this.value(pattern.inputs[0]!, v, site);
  }

  /** Binds a node (and its capture name) while its inputs are matched. */
  private *withNode(
    name: string | undefined,
    node: Node,
    inputs: readonly ValuePattern[],
    commutative = false,
  ): Generator<void> {
    if (name) this.captured.set(name, node);
    this.matched.push(node);
    try {
      for (const order of commutative ? permutations(inputs.length) : [inputs.map((_, i) => i)]) {
        yield* this.operands(inputs, order, node, 0);
      }
    } finally {
      this.matched.pop();
      if (name) this.captured.delete(name);
    }
  }

  /** Pattern input k against node input order[k], for k onward. */
  private *operands(inputs: readonly ValuePattern[], order: number[], node: Node, k: number): Generator<void> {
    if (k === inputs.length) {
      yield;
      return;
    }
    const operand = order[k]!;
    for (const _ of this.value(inputs[k]!, node.inputs[operand] ?? null, { node, operand })) {
      yield* this.operands(inputs, order, node, k + 1);
    }
  }

  private producerFits(op: OpMatcher, index: number, v: Value, site: Site): boolean {
    const node = v.producer;
    if (!node) {
      const origin = v.initializer
        ? 'an initializer'
        : this.graph.inputs.includes(v)
          ? 'a graph input'
          : 'an outer-scope value';
      this.failOperand(site, v, `is ${origin}, expected the output of ${op.label}`);
    } else if (node.graph !== this.graph) {
      this.failOperand(site, v, `comes from outside this graph, expected the output of ${op.label}`);
    } else if (!op.accepts(node)) {
      this.failOperand(site, v, `is produced by ${node.opType} '${nodeLabel(node)}', expected ${op.label}`);
    } else if (v.outputIndex !== index) {
      this.failOperand(site, v, `is output ${v.outputIndex} of ${describeAt(node)}, expected output ${index}`);
    } else return true;
    return false;
  }

  /** Why a node of the right op still does not fit: operand count, attributes, `where`. */
  private nodeProblem(op: OpMatcher, options: NodeOptions, inputCount: number, node: Node): string | undefined {
    let present = node.inputs.length;
    while (present > 0 && node.inputs[present - 1] === null) present--;
    if (options.moreInputs ? present < inputCount : present !== inputCount) {
      return `has ${present} inputs, ${op.label} pattern expects ${options.moreInputs ? 'at least ' : ''}${inputCount}`;
    }
    for (const [name, expected] of Object.entries(options.attrs ?? {})) {
      const why = attributeProblem(node, name, expected);
      if (why) return why;
    }
    return options.where ? verdictReason(() => options.where!(node), 'fails the node condition') : undefined;
  }

  private captureProblem(name: string | undefined, node: Node): string | undefined {
    const prior = name ? this.captured.get(name) : undefined;
    return prior && prior !== node ? `'${name}' is already node '${nodeLabel(prior)}'` : undefined;
  }
}

function attributeProblem(node: Node, name: string, expected: AttrExpectation): string | undefined {
  const a = node.attributes.get(name);
  const actual = a ? plainAttribute(a) : undefined;
  if (typeof expected === 'function') {
    const why = verdictReason(() => expected(actual, node), 'fails its condition');
    return why === undefined ? undefined : `attribute ${name}: ${why}`;
  }
  if (actual === undefined) return `attribute ${name} is absent, expected ${fmt(expected)}`;
  return sameAttr(actual, expected) ? undefined : `attribute ${name} is ${fmt(actual)}, expected ${fmt(expected)}`;
}

function sameAttr(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(expected)) {
    return (
      Array.isArray(actual) && actual.length === expected.length && actual.every((x, i) => sameAttr(x, expected[i]))
    );
  }
  return typeof actual === 'bigint' || typeof expected === 'bigint'
    ? String(actual) === String(expected)
    : actual === expected;
}

function fmt(x: unknown): string {
  return Array.isArray(x) ? `[${x.join(',')}]` : typeof x === 'string' ? `'${x}'` : String(x);
}

/** Runs a predicate: undefined when it passes, else the reason. Bad data met inside it (OnnxOptError) is a reason. */
export function verdictReason(run: () => Verdict, fallback: string): string | undefined {
  try {
    const v = run();
    return v === true ? undefined : v === false ? fallback : v;
  } catch (e) {
    if (e instanceof OnnxOptError) return e.message;
    throw e;
  }
}

/** A match may not leave behind a use of a value it removes: intermediates must be used only inside it. */
function outsideUse(match: Match, pinned: ReadonlySet<Value>): string | undefined {
  const inside = new Set(match.matchedNodes);
  const kept = new Set(match.outputs);
  if (kept.size !== match.outputs.length) return 'two pattern outputs are the same value';
  for (const node of match.matchedNodes) {
    for (const v of node.outputs) {
      if (v && pinned.has(v)) return `'${v.name}' is returned by a subgraph as is`;
      if (!v || kept.has(v)) continue;
      if (match.graph.outputs.includes(v)) return `intermediate '${v.name}' is a graph output`;
      const user = v.uses.find((u) => !inside.has(u.node));
      if (user) return `intermediate '${v.name}' is used outside the match by '${nodeLabel(user.node)}'`;
    }
  }
  return undefined;
}

/** A prototype-free object of the bindings, so only bound names are keys. */
function record<T>(map: ReadonlyMap<string, T>): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, Object.fromEntries(map));
}

/** Every order of 0..n-1, the identity first. */
function permutations(n: number): number[][] {
  if (n <= 1) return [[...Array(n).keys()]];
  const out: number[][] = [];
  for (const rest of permutations(n - 1)) {
    for (let at = rest.length; at >= 0; at--) out.push([...rest.slice(0, at), n - 1, ...rest.slice(at)]);
  }
  return out;
}
