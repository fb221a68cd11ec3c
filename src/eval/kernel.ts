// What a kernel sees: the node's attributes (typed getters), the opset, how many outputs to make, and a budget
// that stops it from allocating outputs larger than the caller wants.
import { OnnxOptError } from '../errors.js';
import { decodeString, type Attribute } from '../ir/attribute.js';
import type { Tensor } from '../ir/tensor.js';
import { byteLengthOf } from '../tensor/dtype.js';

/** The evaluator cannot (or will not) compute this op, type or attribute combination; nothing is guessed. */
export class UnsupportedOp extends OnnxOptError {}

/** The parts of a node the evaluator reads. An IR Node satisfies it. */
export interface EvalNode {
  opType: string;
  domain: string;
  attributes: ReadonlyMap<string, Attribute>;
  /** Only the count is read: ops such as Split make one tensor per output. */
  outputs: readonly unknown[];
}

export interface EvalOptions {
  /** Refuse (UnsupportedOp) before allocating any output larger than this many bytes. */
  maxOutputBytes?: number;
}

export type Inputs = readonly (Tensor | undefined)[];

export type Kernel = (inputs: Inputs, ctx: KernelContext) => Tensor[];

export interface OpDef {
  kernel: Kernel;
  /** Attribute names the kernel understands; a node with any other attribute is refused. */
  attributes: readonly string[];
  /** First opset whose semantics the kernel implements. */
  since?: number;
}

export class KernelContext {
  constructor(
    readonly opType: string,
    readonly opset: number,
    readonly outputCount: number,
    private readonly attrs: ReadonlyMap<string, Attribute>,
    private readonly maxOutputBytes: number,
  ) {}

  unsupported(why: string): never {
    throw new UnsupportedOp(`${this.opType}: ${why}`);
  }

  invalid(why: string): never {
    throw new OnnxOptError(`${this.opType}: ${why}`);
  }

  /**
   * Throws before an output of `count` elements of `dataType` is allocated beyond the byte budget. Without a type
   * (index arrays built ahead of the output) an element counts as one byte, the least any movable type takes.
   */
  reserve(count: number, dataType?: number): void {
    const bytes = dataType === undefined ? count : Math.max(count, byteLengthOf(dataType, count));
    if (bytes > this.maxOutputBytes) {
      this.unsupported(`an output of ${bytes} bytes exceeds the limit of ${this.maxOutputBytes}`);
    }
  }

  /** Input i, which must be present. */
  input(inputs: Inputs, i: number): Tensor {
    const t = inputs[i];
    if (!t) this.invalid(`input ${i} is missing`);
    return t;
  }

  /** Refuses inputs past the first `count`: the op's form at this opset takes those values as attributes. */
  maxInputs(inputs: Inputs, count: number): void {
    if (inputs.slice(count).some((t) => t)) this.invalid(`takes ${count} input(s) at opset ${this.opset}`);
  }

  has(name: string): boolean {
    return this.attrs.has(name);
  }

  private attr<K extends Attribute['type']>(name: string, type: K): Extract<Attribute, { type: K }> | undefined {
    const a = this.attrs.get(name);
    if (a === undefined) return undefined;
    if (a.type !== type) this.invalid(`attribute '${name}' is ${a.type}, expected ${type}`);
    return a as Extract<Attribute, { type: K }>;
  }

  int(name: string, fallback: number): number;
  int(name: string): number | undefined;
  int(name: string, fallback?: number): number | undefined {
    const a = this.attr(name, 'int');
    return a ? Number(a.value) : fallback;
  }

  ints(name: string): number[] | undefined {
    return this.attr(name, 'ints')?.value.map(Number);
  }

  float(name: string, fallback: number): number {
    return this.attr(name, 'float')?.value ?? fallback;
  }

  floats(name: string): number[] | undefined {
    return this.attr(name, 'floats')?.value;
  }

  string(name: string): string | undefined {
    const a = this.attr(name, 'string');
    return a && decodeString(a.value);
  }

  attribute(name: string): Attribute | undefined {
    return this.attrs.get(name);
  }
}
