// The tests' one graph builder: small models in the IR, opset 17 unless asked.
import { attr, type Attribute } from '../../src/ir/attribute.js';
import { Graph, Value, type Node } from '../../src/ir/graph.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';

export const F = DataType.FLOAT;

/** A model with opset 17 and one main graph the callback fills in. */
export function buildModel(fill: (g: GraphMaker) => void, opset = 17): Model {
  const model = new Model(new Graph('main'));
  model.irVersion = 8;
  model.opsetImports = [{ domain: '', version: opset }];
  fill(new GraphMaker(model.graph));
  return model;
}

export interface NodeOpts {
  attrs?: Record<string, number | number[] | string>;
  name?: string;
  domain?: string;
  outputs?: number;
}

/** Attributes the tests set that ONNX declares FLOAT even when the number is whole. */
const FLOAT_ATTRS = new Set(['epsilon', 'alpha', 'beta', 'ratio']);

/** Terse helpers over one graph: inputs, initializers, nodes, outputs. */
export class GraphMaker {
  constructor(readonly graph: Graph) {}

  input(name: string, shape: (number | string)[] = [2, 3], elemType: number = F): Value {
    return this.graph.addInput(new Value(name, tensorType(elemType, shape)));
  }

  /** A float initializer: a scalar from a number, else dims [values.length] unless given. */
  init(name: string, values: number | number[], dims?: number[], dataType: number = F): Value {
    const list = typeof values === 'number' ? [values] : values;
    const shape = dims ?? (typeof values === 'number' ? [] : [list.length]);
    return this.graph.addInitializer(name, Tensor.fromArray(name, dataType, shape, list));
  }

  /** A Constant node holding float values (a scalar from a number). */
  constant(name: string, values: number | number[]): Value {
    const list = typeof values === 'number' ? [values] : values;
    const tensor = Tensor.fromArray(name, F, typeof values === 'number' ? [] : [list.length], list);
    const attributes: Attribute[] = [{ name: 'value', type: 'tensor', value: tensor }];
    return this.graph.createNode({ opType: 'Constant', attributes, outputs: [new Value(name)], name }).output(0);
  }

  ints(name: string, values: number[]): Value {
    return this.init(name, values, [values.length], DataType.INT64);
  }

  /** One node; its outputs are named `name`, `name_1`, ... when a name is given. */
  node(opType: string, inputs: (Value | null)[], options: NodeOpts = {}): Node {
    const { attrs = {}, name, domain = '', outputs = 1 } = options;
    const attributes: Attribute[] = Object.entries(attrs).map(([k, v]) => attr(k, v, FLOAT_ATTRS.has(k)));
    const outs = name
      ? Array.from({ length: outputs }, (_, i) => new Value(this.graph.valueNames.fresh(i ? `${name}_${i}` : name)))
      : outputs;
    return this.graph.createNode({ opType, domain, inputs, attributes, name, outputs: outs });
  }

  /** One node's output 0. */
  op(opType: string, inputs: (Value | null)[], options: NodeOpts = {}): Value {
    return this.node(opType, inputs, options).output(0);
  }

  output(v: Value, shape: (number | string)[] = [2, 3], elemType: number = F): Value {
    v.type ??= tensorType(elemType, shape);
    this.graph.outputs.push(v);
    return v;
  }
}

/** Op types in node order, `domain::` prefixed outside the default domain. */
export function opsOf(g: Graph): string[] {
  return g.nodes.map((n) => (n.domain ? `${n.domain}::${n.opType}` : n.opType));
}
