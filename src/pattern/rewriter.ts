// The builder a rule's rewrite uses: new nodes go into the root's graph just before the root, with fresh
// deterministic names; new constants become initializers of that graph.
import { OnnxOptError } from '../errors.js';
import { attr, type Attribute, type AttributeValue } from '../ir/attribute.js';
import { Graph, type Node, type Value } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import type { TypedArray } from '../tensor/dtype.js';
import type { Match } from './match.js';

/**
 * An attribute for `b.op`: a plain value (integers become INT/INTS, other numbers FLOAT/FLOATS, as
 * onnx.helper does), a Tensor or Graph, an attribute taken from a matched node, or a typed value made with
 * `float()`/`floats()` when a float attribute might hold a whole number. `undefined` leaves it out.
 */
export type AttrInput =
  number | bigint | string | number[] | string[] | Tensor | Graph | AttributeValue | Attribute | undefined;

/** A FLOAT attribute even when the number is whole (e.g. alpha = 1). */
export function float(value: number): AttributeValue {
  return { type: 'float', value };
}

/** A FLOATS attribute even when every number is whole. */
export function floats(value: readonly number[]): AttributeValue {
  return { type: 'floats', value: [...value] };
}

export interface OpOptions {
  /** How many outputs the node has (default 1). With this option `b.op` returns them all as an array. */
  outputs?: number;
  /** Base for the node's name (default: the op type). */
  name?: string;
}

export class RewriteBuilder {
  private readonly made: Node[] = [];

  constructor(
    readonly graph: Graph,
    /** New nodes are inserted before this node. */
    readonly root: Node,
    readonly match: Match,
  ) {}

  /** The nodes this rewrite created, in creation order. */
  get created(): readonly Node[] {
    return this.made;
  }

  op(domain: string, opType: string, inputs: readonly (Value | null)[], attrs?: Record<string, AttrInput>): Value;
  op(
    domain: string,
    opType: string,
    inputs: readonly (Value | null)[],
    attrs: Record<string, AttrInput> | undefined,
    options: OpOptions & { outputs: number },
  ): Value[];
  op(
    domain: string,
    opType: string,
    inputs: readonly (Value | null)[],
    attrs: Record<string, AttrInput> | undefined,
    options: OpOptions,
  ): Value;
  op(
    domain: string,
    opType: string,
    inputs: readonly (Value | null)[],
    attrs: Record<string, AttrInput> = {},
    options: OpOptions = {},
  ): Value | Value[] {
    inputs.forEach((v, i) => {
      if (v === undefined) {
        throw new OnnxOptError(
          `rule '${this.match.rule}': input ${i} of the new ${opType} is undefined (a name the pattern does not bind?)`,
        );
      }
    });
    const attributes = Object.entries(attrs).flatMap(([name, value]) =>
      value === undefined ? [] : [toAttribute(name, value)],
    );
    const node = this.graph.createNode({
      domain: domain === 'ai.onnx' ? '' : domain,
      opType,
      inputs,
      attributes,
      outputs: options.outputs ?? 1,
      name: options.name ?? opType,
      before: this.root,
    });
    this.made.push(node);
    const outs = node.outputs as Value[];
    return options.outputs === undefined ? outs[0]! : outs;
  }

  /** A new initializer in the root's graph, named uniquely after `name`. */
  initializer(name: string, tensor: Tensor): Value {
    return this.graph.addInitializer(name, tensor);
  }

  /** A new initializer from numbers: `b.tensor('half', DataType.FLOAT, [], [0.5])`. */
  tensor(name: string, dataType: number, dims: readonly number[], values: TypedArray | readonly number[]): Value {
    return this.initializer(name, Tensor.fromArray(name, dataType, dims, values));
  }
}

function toAttribute(name: string, value: Exclude<AttrInput, undefined>): Attribute {
  if (typeof value === 'object' && !Array.isArray(value) && !(value instanceof Tensor) && !(value instanceof Graph)) {
    return { ...value, name } as Attribute;
  }
  return attr(name, value);
}
