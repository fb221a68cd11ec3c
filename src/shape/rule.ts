// What an op's shape rule sees and returns, and small helpers the rules share.

import type { Graph, Node } from '../ir/graph.js';
import type { ValueType } from '../ir/types.js';
import { DataType } from '../tensor/dtype.js';
import type { Sym, SymDim } from './dims.js';

/** What is known about a tensor value. */
export interface TensorFacts {
  elemType?: number;
  /** Undefined when even the rank is unknown. */
  shape?: SymDim[];
  /**
   * The elements of a small integer tensor of rank 0 or 1 (shapes being computed: Shape -> Gather -> Concat),
   * each a number, a symbol or unknown. Lets Reshape(x, Concat(Shape(x)[0], Shape(x)[1], 4, 16)) keep its symbols.
   */
  value?: SymDim[];
}

/** A rule's answer for one output: tensor facts, or a non-tensor type to copy (Identity of a sequence). */
export type OutputFacts = TensorFacts | { copyType: ValueType } | undefined;

export interface RuleContext {
  readonly node: Node;
  /** The imported opset version of the node's domain (0 when the model does not import it). */
  readonly opset: number;
  /** Number of input slots (absent optional inputs included). */
  readonly inputCount: number;
  has(i: number): boolean;
  facts(i: number): TensorFacts | undefined;
  elemType(i: number): number | undefined;
  shape(i: number): SymDim[] | undefined;
  /** Elements of input i when known: a small constant (any numeric type) or a tracked shape value. */
  values(i: number): SymDim[] | undefined;
  /** Elements of input i when every one is a known number. */
  numbers(i: number): number[] | undefined;
  /** The declared type of input i when it is not a tensor (sequences, optionals). */
  otherType(i: number): ValueType | undefined;
  /** A new symbol for a size only known at run time (deterministic per model). */
  fresh(): Sym;
  /** Infers a subgraph whose inputs are described by `inputs`; returns what is known of its outputs. */
  inferBody(graph: Graph, inputs: readonly (TensorFacts | undefined)[]): (TensorFacts | undefined)[];
}

/** A rule returns facts per output slot; missing entries stay unknown. */
export type Rule = (ctx: RuleContext) => OutputFacts[] | undefined;

export type RuleTable = Record<string, Rule>;

/** An axis attribute or input normalized into [0, rank); undefined when out of range. */
export function normAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return Number.isInteger(a) && a >= 0 && a < rank ? a : undefined;
}

/** Several axes normalized; undefined when any is out of range or repeated. */
export function normAxes(axes: readonly number[], rank: number): number[] | undefined {
  const out: number[] = [];
  for (const ax of axes) {
    const a = normAxis(ax, rank);
    if (a === undefined || out.includes(a)) return undefined;
    out.push(a);
  }
  return out;
}

export const INTEGER_TYPES: ReadonlySet<number> = new Set([
  DataType.INT8,
  DataType.INT16,
  DataType.INT32,
  DataType.INT64,
  DataType.UINT8,
  DataType.UINT16,
  DataType.UINT32,
  DataType.UINT64,
]);

/** Tensor facts from what is known; unknown parts are simply left out. */
export function tensor(elemType: number | undefined, shape: SymDim[] | undefined, value?: SymDim[]): TensorFacts {
  const out: TensorFacts = {};
  if (elemType) out.elemType = elemType;
  if (shape) out.shape = shape;
  if (value) out.value = value;
  return out;
}

/** Facts with the given input's element type and shape (elementwise ops). */
export function sameAsInput(ctx: RuleContext, input = 0): TensorFacts {
  return tensor(ctx.elemType(input), ctx.shape(input));
}

/** A shape of the given rank with nothing known about its sizes. */
export function unknownDims(rank: number): SymDim[] {
  return Array.from({ length: rank }, () => undefined);
}

/** The axes an op reads from an attribute before `inputSince` and from input `inputIndex` from then on. */
export function axesArgument(
  ctx: RuleContext,
  inputSince: number,
  inputIndex: number,
): number[] | undefined | 'unknown' {
  if (ctx.opset >= inputSince) {
    if (!ctx.has(inputIndex)) return undefined;
    return ctx.numbers(inputIndex) ?? 'unknown';
  }
  return ctx.node.attrInts('axes');
}
