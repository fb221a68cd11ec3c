// Patterns as data: node, output, variable, constant and optional-node patterns, and the builder `p` that makes them.
import { OnnxOptError } from '../errors.js';
import type { AttributeValue } from '../ir/attribute.js';
import type { Node, Value } from '../ir/graph.js';
import type { ConstantView } from './constant.js';

/** A predicate's answer: true passes; false or a string (the reason) fails. */
export type Verdict = boolean | string;

/** Which operators a node pattern accepts: a type, alternative types, or either with a domain ('' by default). */
export type OpSpec = string | readonly string[] | { domain: string; type: string | readonly string[] };

/** A compiled OpSpec. */
export class OpMatcher {
  readonly domain: string;
  readonly types: readonly string[];

  constructor(spec: OpSpec) {
    const { domain, type } =
      typeof spec === 'object' && !Array.isArray(spec)
        ? (spec as { domain: string; type: string | readonly string[] })
        : { domain: '', type: spec as string | readonly string[] };
    this.domain = domain === 'ai.onnx' ? '' : domain;
    this.types = typeof type === 'string' ? [type] : [...type];
    if (this.types.length === 0) throw new OnnxOptError('a node pattern needs at least one op type');
  }

  accepts(node: Node): boolean {
    const domain = node.domain === 'ai.onnx' ? '' : node.domain;
    return domain === this.domain && this.types.includes(node.opType);
  }

  /** e.g. `Div|Mul` or `com.microsoft::Gelu`. */
  get label(): string {
    return `${this.domain ? this.domain + '::' : ''}${this.types.join('|')}`;
  }
}

/** An attribute as a plain JS value: numbers, strings, arrays of them, or the IR payload for other kinds. */
export type AttrPlain = string | string[] | (number | bigint)[] | Exclude<AttributeValue, { type: 'ref' }>['value'];

/** What an attribute must be: a literal (compared deeply; absent fails) or a predicate (absent is undefined). */
export type AttrExpectation =
  number | string | readonly number[] | readonly string[] | ((value: AttrPlain | undefined, node: Node) => Verdict);

export interface NodeOptions {
  /** Operand order does not matter: the matcher tries every order of the inputs. */
  commutative?: boolean;
  attrs?: Record<string, AttrExpectation>;
  /** Any other condition on the node. */
  where?: (node: Node) => Verdict;
  /** The node may have more inputs than the pattern lists; the extra ones are not looked at. */
  moreInputs?: boolean;
}

export type ValuePredicate = (value: Value) => Verdict;
export type ConstPredicate = (constant: ConstantView) => Verdict;

/** One operator application. Used as an operand it means its output 0; `.output(i)` means another output. */
export class NodePattern {
  readonly kind = 'node';
  readonly op: OpMatcher;
  captureName: string | undefined;
  private readonly outputRefs = new Map<number, OutputPattern>();

  constructor(
    spec: OpSpec,
    readonly inputs: readonly ValuePattern[],
    readonly options: NodeOptions = {},
    /** Set for `p.product(...)`: the inputs are factors of a tree of Muls, in any grouping and order. */
    readonly product = false,
  ) {
    this.op = new OpMatcher(spec);
  }

  /** Captures the matched node under `name` (match.nodes[name]). */
  as(name: string): this {
    this.captureName = name;
    return this;
  }

  output(index: number): OutputPattern {
    let ref = this.outputRefs.get(index);
    if (!ref) this.outputRefs.set(index, (ref = new OutputPattern(this, index)));
    return ref;
  }
}

export class OutputPattern {
  readonly kind = 'output';
  constructor(
    readonly node: NodePattern,
    readonly index: number,
  ) {}
}

/** Any value; a named var binds it, and every use of that name must bind the same value. */
export class VarPattern {
  readonly kind = 'var';
  constructor(
    readonly name: string | undefined,
    readonly predicate?: ValuePredicate,
  ) {}
}

/** A value with a constant tensor (an initializer or a Constant node's output). */
export class ConstPattern {
  readonly kind = 'const';
  constructor(
    readonly name: string | undefined,
    readonly predicate?: ConstPredicate,
  ) {}
}

/** `op(input, ...)` when such a node is there, else `input` itself (e.g. a Cast an exporter may or may not emit). */
export class OptionalPattern {
  readonly kind = 'optional';
  readonly op: OpMatcher;
  captureName: string | undefined;

  constructor(
    spec: OpSpec,
    readonly inputs: readonly ValuePattern[],
    readonly options: NodeOptions = {},
  ) {
    this.op = new OpMatcher(spec);
    if (inputs.length === 0) throw new OnnxOptError('an optional node pattern needs the input it passes through');
  }

  /** Captures the node, when present, under `name`. */
  as(name: string): this {
    this.captureName = name;
    return this;
  }
}

export type ValuePattern = NodePattern | OutputPattern | VarPattern | ConstPattern | OptionalPattern;
/** What a pattern produces: a node (its output 0) or one output of a node. */
export type PatternOutput = NodePattern | OutputPattern;

/** The builder handed to a rule's pattern function. */
export class PatternBuilder {
  op(spec: OpSpec, inputs: readonly ValuePattern[], options?: NodeOptions): NodePattern {
    return new NodePattern(spec, inputs, options);
  }

  /** Any value (`p.var()`), or a named one (`p.var('x')`) that must be the same wherever the name appears. */
  var(name?: string, predicate?: ValuePredicate): VarPattern {
    return new VarPattern(name, predicate);
  }

  /** Any value, not captured. */
  any(): VarPattern {
    return new VarPattern(undefined);
  }

  /** A constant, named or not: `p.const('eps', c => c.isScalar())` or `p.const(scalarNear(0.5))`. */
  const(name?: string, predicate?: ConstPredicate): ConstPattern;
  const(predicate: ConstPredicate): ConstPattern;
  const(nameOrPredicate?: string | ConstPredicate, predicate?: ConstPredicate): ConstPattern {
    return typeof nameOrPredicate === 'function'
      ? new ConstPattern(undefined, nameOrPredicate)
      : new ConstPattern(nameOrPredicate, predicate);
  }

  /**
   * The product of the factors, written as Muls in any grouping and operand order: `p.product([half, x, onePlus])`
   * matches (0.5·x)·(1+f), x·(0.5·(1+f)), (1+f)·(x·0.5), ... Every Mul of the tree is part of the match.
   */
  product(factors: readonly ValuePattern[], options: Pick<NodeOptions, 'where'> = {}): NodePattern {
    if (factors.length < 2) throw new OnnxOptError('a product pattern needs at least two factors');
    return new NodePattern('Mul', factors, options, true);
  }

  /** `spec(input, ...rest)` if present, else `input`: `p.optional('Cast', x)`. */
  optional(spec: OpSpec, input: ValuePattern | readonly ValuePattern[], options?: NodeOptions): OptionalPattern {
    return new OptionalPattern(spec, Array.isArray(input) ? input : [input as ValuePattern], options);
  }
}

/** Every distinct node and optional pattern reachable from the outputs, in first-visit order. */
export function patternNodes(outputs: readonly PatternOutput[]): (NodePattern | OptionalPattern)[] {
  const seen = new Set<NodePattern | OptionalPattern>();
  const visit = (p: ValuePattern): void => {
    const n = p.kind === 'output' ? p.node : p;
    if (n.kind !== 'node' && n.kind !== 'optional') return;
    if (seen.has(n)) return;
    seen.add(n);
    n.inputs.forEach(visit);
  };
  outputs.forEach(visit);
  return [...seen];
}

/** A name may capture values (vars, consts) or nodes (`.as`), not both. */
export function checkCaptureNames(outputs: readonly PatternOutput[]): void {
  const values = new Set<string>();
  const nodes = new Set<string>();
  for (const n of patternNodes(outputs)) {
    if (n.captureName) nodes.add(n.captureName);
    for (const p of n.inputs) if ((p.kind === 'var' || p.kind === 'const') && p.name) values.add(p.name);
  }
  for (const name of nodes) {
    if (values.has(name)) throw new OnnxOptError(`pattern uses '${name}' both for a value and for a node`);
  }
}
