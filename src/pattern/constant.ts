import { OnnxOptError } from '../errors.js';
import type { Value } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { DataType } from '../tensor/dtype.js';

/** A constant operand as predicates and rewrites see it: its tensor plus the questions fusions ask of it. */
export class ConstantView {
  constructor(
    /** The value holding the constant (an initializer or a Constant node's output). */
    readonly source: Value,
    readonly tensor: Tensor,
  ) {}

  get dims(): readonly number[] {
    return this.tensor.dims;
  }

  get rank(): number {
    return this.tensor.rank;
  }

  get size(): number {
    return this.tensor.size;
  }

  get dataType(): number {
    return this.tensor.dataType;
  }

  /** One element, whatever its rank ([] or [1] or [1,1]). */
  isScalar(): boolean {
    return this.tensor.size === 1 && this.tensor.dataType !== DataType.STRING;
  }

  /** The single element as a number. */
  value(): number {
    if (!this.isScalar()) {
      throw new OnnxOptError(`constant '${this.source.name}' is not a scalar (dims [${this.tensor.dims.join(',')}])`);
    }
    return this.tensor.toNumbers()[0]!;
  }

  /** Every element as a number. */
  values(): number[] {
    if (this.tensor.dataType === DataType.STRING)
      throw new OnnxOptError(`constant '${this.source.name}' holds strings`);
    return this.tensor.toNumbers();
  }

  /** A short description for failure reasons: `0.5` or `float[768]`. */
  describe(): string {
    if (this.isScalar()) return formatNumber(this.value());
    return `tensor [${this.tensor.dims.join(',')}]`;
  }
}

/** The constant behind a value, if it holds one. */
export function constantOf(value: Value): ConstantView | undefined {
  const t = value.constantTensor();
  return t ? new ConstantView(value, t) : undefined;
}

/** A number for messages, float32 noise trimmed (0.699999988 -> 0.7). */
export function formatNumber(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(7)));
}
