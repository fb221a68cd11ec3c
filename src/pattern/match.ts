import { OnnxOptError } from '../errors.js';
import { decodeString, type Attribute } from '../ir/attribute.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import type { AttrPlain } from './builder.js';
import { constantOf, type ConstantView } from './constant.js';

/** A successful match: what the pattern's names bound to. Read by a rule's check and rewrite; never mutated. */
export class Match {
  constructor(
    readonly rule: string,
    readonly graph: Graph,
    /** The node the first pattern output came from. */
    readonly root: Node,
    /** The values the pattern's outputs bound to, in pattern order; the rewrite replaces these. */
    readonly outputs: readonly Value[],
    /** Every node the pattern covered (the driver removes those left dead by the rewrite). */
    readonly matchedNodes: readonly Node[],
    /** Values bound by named vars and consts. */
    readonly values: Readonly<Record<string, Value>>,
    /** Nodes captured with `.as(name)` (optional nodes only when present). */
    readonly nodes: Readonly<Record<string, Node>>,
  ) {}

  /** Whether a name bound anything (an optional node that was absent did not). */
  has(name: string): boolean {
    return Object.hasOwn(this.values, name) || Object.hasOwn(this.nodes, name);
  }

  value(name: string): Value {
    const v = this.values[name];
    if (!v) throw new OnnxOptError(`rule '${this.rule}': the match has no value named '${name}'`);
    return v;
  }

  node(name: string): Node {
    const n = this.nodes[name];
    if (!n) throw new OnnxOptError(`rule '${this.rule}': the match has no node named '${name}'`);
    return n;
  }

  /** The constant a named value holds. */
  constant(name: string): ConstantView {
    const c = constantOf(this.value(name));
    if (!c) throw new OnnxOptError(`rule '${this.rule}': '${name}' is not a constant`);
    return c;
  }

  /** The single element of a named scalar constant. */
  scalar(name: string): number {
    return this.constant(name).value();
  }

  /** An attribute of a captured node, as stored (pass it on to `b.op` to keep its exact type). */
  attribute(nodeName: string, attrName: string): Attribute | undefined {
    return this.node(nodeName).attributes.get(attrName);
  }

  /** An attribute of a captured node as a plain value, or `fallback` when the node does not set it. */
  attr<T extends AttrPlain>(nodeName: string, attrName: string, fallback: T): Widened<T>;
  attr(nodeName: string, attrName: string): AttrPlain | undefined;
  attr(nodeName: string, attrName: string, fallback?: AttrPlain): AttrPlain | undefined {
    const a = this.attribute(nodeName, attrName);
    return a ? plainAttribute(a) : fallback;
  }
}

/** The type of a fallback literal, widened: `attr('ln', 'epsilon', 1e-5)` is a number, not the type 1e-5. */
export type Widened<T> = T extends number ? number : T extends string ? string : T extends bigint ? bigint : T;

/** An attribute as a plain JS value: numbers (bigint beyond 2^53), strings, arrays; other kinds as the IR holds them. */
export function plainAttribute(a: Attribute): AttrPlain | undefined {
  switch (a.type) {
    case 'int':
      return a.value;
    case 'float':
      return a.value;
    case 'string':
      return decodeString(a.value);
    case 'ints':
      return a.value.map((x) => (typeof x === 'bigint' && Number.isSafeInteger(Number(x)) ? Number(x) : x));
    case 'floats':
      return [...a.value];
    case 'strings':
      return a.value.map(decodeString);
    case 'ref':
      return undefined;
    default:
      return a.value;
  }
}
