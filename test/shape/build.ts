// A small graph builder for shape inference tests.

import { attr, type Attribute } from '../../src/ir/attribute.js';
import { Value } from '../../src/ir/graph.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { shapeOf, tensorType } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';

export type AttrValue = Parameters<typeof attr>[1];

export class GraphBuilder {
  readonly model = new Model();
  readonly graph = this.model.graph;

  constructor(opset = 17) {
    this.model.opsetImports = [{ domain: '', version: opset }, { domain: 'com.microsoft', version: 1 }];
  }

  input(name: string, shape: readonly (number | string | undefined)[] | undefined, elemType: number = DataType.FLOAT): Value {
    return this.graph.addInput(new Value(name, tensorType(elemType, shape)));
  }

  /** An int64 initializer (shape arguments, axes); bigints for values beyond 2^53 such as INT64_MAX. */
  ints(name: string, values: readonly (number | bigint)[], dims: readonly number[] = [values.length]): Value {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    return this.graph.addInitializer(name, Tensor.fromArray(name, DataType.INT64, dims, data));
  }

  /** A float initializer with the given values. */
  floats(name: string, values: readonly number[], dims: readonly number[] = [values.length]): Value {
    return this.graph.addInitializer(name, Tensor.fromArray(name, DataType.FLOAT, dims, values));
  }

  /** A float initializer filled with zeros. */
  weight(name: string, dims: readonly number[], elemType: number = DataType.FLOAT): Value {
    const size = dims.reduce((a, b) => a * b, 1);
    return this.graph.addInitializer(name, Tensor.fromArray(name, elemType, dims, new Array<number>(size).fill(0)));
  }

  /** Adds a node; returns its outputs. */
  nodes(opType: string, inputs: readonly (Value | null)[], attrs: Record<string, AttrValue> = {}, outputs = 1, domain = ''): Value[] {
    // An empty list is ambiguous to attr(); the ops these tests build only take integer lists.
    const attributes: Attribute[] = Object.entries(attrs).map(([k, v]) =>
      Array.isArray(v) && v.length === 0 ? { name: k, type: 'ints', value: [] } : attr(k, v));
    return this.graph.createNode({ opType, domain, inputs, attributes, outputs }).outputs as Value[];
  }

  /** Adds a node with one output. */
  op(opType: string, inputs: readonly (Value | null)[], attrs: Record<string, AttrValue> = {}, domain = ''): Value {
    return this.nodes(opType, inputs, attrs, 1, domain)[0]!;
  }

  output(...values: Value[]): void {
    this.graph.outputs.push(...values);
  }
}

/** A value's inferred dims as numbers, symbol names and undefined; undefined when the rank is unknown. */
export function dims(v: Value): (number | string | undefined)[] | undefined {
  return shapeOf(v.type);
}

export function elemType(v: Value): number | undefined {
  return v.type?.kind === 'tensor' ? v.type.elemType : undefined;
}
