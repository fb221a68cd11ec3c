// The tests' one graph builder: small models in the IR, opset 17 unless asked.
import { attr, type Attribute } from '../../src/ir/attribute.js';
import { Graph, Value, type Node } from '../../src/ir/graph.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { decodeModel } from '../../src/serde/decode.js';
import { encodeModel } from '../../src/serde/encode.js';
import { tensorType } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';
import { bellFloats, uniformFloats } from './random.js';

export const F = DataType.FLOAT;

/** Dims: numbers, symbolic names, or undefined for a dim nobody knows. */
export type Shape = readonly (number | string | undefined)[];

/** What `attr` takes: numbers (integers become INT), strings, lists, tensors, graphs. */
export type AttrValue = Parameters<typeof attr>[1];

/** A GraphMaker over a new model's main graph, with the model. */
export type ModelMaker = GraphMaker & { readonly model: Model };

/**
 * How `weight` draws values: bell-shaped (trained-like, the default) or uniform in [-0.5, 0.5), times `scale` when
 * `weight` is given none (default 1), the n-th weight from seed `firstSeed + n` (default 1). Tests whose tolerances
 * were set on given values keep them this way.
 */
export interface WeightDraw {
  shape?: 'bell' | 'uniform';
  scale?: number;
  firstSeed?: number;
}

/** A new model with one main graph, opset `opset` of the default domain; fill it through the maker. */
export function modelMaker(opset = 17, weights: WeightDraw = {}): ModelMaker {
  const model = new Model(new Graph('main'));
  model.irVersion = 8;
  model.opsetImports = [{ domain: '', version: opset }];
  return Object.assign(new GraphMaker(model.graph, model, weights), { model });
}

/** A model with opset 17 (unless given) and one main graph the callback fills in. */
export function buildModel(fill: (g: GraphMaker) => void, opset = 17, weights: WeightDraw = {}): Model {
  const maker = modelMaker(opset, weights);
  fill(maker);
  return maker.model;
}

export interface NodeOpts {
  attrs?: Record<string, AttrValue>;
  /** Attributes exactly as given (after `attrs`), for a type `attrs` would guess otherwise. */
  attributes?: readonly Attribute[];
  name?: string;
  domain?: string;
  outputs?: number;
}

/** Attributes the tests set that ONNX declares FLOAT even when the number is whole. */
const FLOAT_ATTRS = new Set(['epsilon', 'alpha', 'beta', 'ratio']);

/** Terse helpers over one graph: inputs, initializers, nodes, outputs. */
export class GraphMaker {
  private nextSeed: number;

  /** `model`, when given, imports the domain of each node made outside the default one (version 1). */
  constructor(
    readonly graph: Graph,
    private readonly importsOf?: Model,
    private readonly weights: WeightDraw = {},
  ) {
    this.nextSeed = weights.firstSeed ?? 1;
  }

  /** A graph input; `null` dims: rank unknown. */
  input(name: string, shape: Shape | null = [2, 3], elemType: number = F): Value {
    return this.graph.addInput(new Value(name, tensorType(elemType, shape ?? undefined)));
  }

  /** A float initializer: a scalar from a number, else dims [values.length] unless given. */
  init(
    name: string,
    values: number | readonly number[] | Float32Array,
    dims?: readonly number[],
    dataType: number = F,
  ): Value {
    const list = typeof values === 'number' ? [values] : values;
    const shape = dims ?? (typeof values === 'number' ? [] : [list.length]);
    return this.graph.addInitializer(name, Tensor.fromArray(name, dataType, shape, list));
  }

  /** An int64 initializer (shape arguments, axes); bigints for values beyond 2^53 such as INT64_MAX. */
  ints(name: string, values: readonly (number | bigint)[], dims: readonly number[] = [values.length]): Value {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    return this.graph.addInitializer(name, Tensor.fromArray(name, DataType.INT64, dims, data));
  }

  /** A float weight of seeded values (see `WeightDraw`): bell-shaped in [-3, 3)·scale, or uniform ·scale. */
  weight(name: string, dims: readonly number[], scale = this.weights.scale ?? 1): Value {
    const size = dims.reduce((a, b) => a * b, 1);
    const seed = this.nextSeed++;
    const values =
      this.weights.shape === 'uniform'
        ? uniformFloats(size, seed).map((v) => v * scale)
        : bellFloats(size, seed, scale);
    return this.graph.addInitializer(name, Tensor.fromArray(name, F, dims, values));
  }

  /** An initializer of zeros (a weight whose values do not matter). */
  zeros(name: string, dims: readonly number[], elemType: number = F): Value {
    const size = dims.reduce((a, b) => a * b, 1);
    return this.graph.addInitializer(name, Tensor.fromArray(name, elemType, dims, new Array<number>(size).fill(0)));
  }

  /** A Constant node holding float values (a scalar from a number). */
  constant(name: string, values: number | number[]): Value {
    const list = typeof values === 'number' ? [values] : values;
    const tensor = Tensor.fromArray(name, F, typeof values === 'number' ? [] : [list.length], list);
    const attributes: Attribute[] = [{ name: 'value', type: 'tensor', value: tensor }];
    return this.graph.createNode({ opType: 'Constant', attributes, outputs: [new Value(name)], name }).output(0);
  }

  /** One node; its outputs are named `name`, `name_1`, ... when a name is given. */
  node(opType: string, inputs: readonly (Value | null)[], options: NodeOpts = {}): Node {
    const { attrs = {}, name, domain = '', outputs = 1 } = options;
    const attributes: Attribute[] = Object.entries(attrs).map(([k, v]) => attr(k, v, FLOAT_ATTRS.has(k)));
    attributes.push(...(options.attributes ?? []));
    const outs = name
      ? Array.from({ length: outputs }, (_, i) => new Value(this.graph.valueNames.fresh(i ? `${name}_${i}` : name)))
      : outputs;
    if (domain) this.importsOf?.requireOpset(domain, 1);
    return this.graph.createNode({ opType, domain, inputs, attributes, name, outputs: outs });
  }

  /** One node's output 0. */
  op(opType: string, inputs: readonly (Value | null)[], options: NodeOpts = {}): Value {
    return this.node(opType, inputs, options).output(0);
  }

  /** One node's outputs (`options.outputs` of them). */
  opOutputs(opType: string, inputs: readonly (Value | null)[], options: NodeOpts = {}): Value[] {
    return this.node(opType, inputs, options).outputs as Value[];
  }

  /** A graph output, typed as given unless it has a type; `null`: leave it untyped (for inference to fill). */
  output(v: Value, shape: Shape | null = [2, 3], elemType: number = F): Value {
    if (shape) v.type ??= tensorType(elemType, shape);
    this.graph.outputs.push(v);
    return v;
  }
}

/** A deep copy, through the bytes. */
export function copyModel(model: Model): Model {
  return decodeModel(encodeModel(model));
}

/** Op types in node order, `domain::` prefixed outside the default domain. */
export function opsOf(g: Graph): string[] {
  return g.nodes.map((n) => (n.domain ? `${n.domain}::${n.opType}` : n.opType));
}

/**
 * Nodes per op type, `domain::` prefixed outside the default domain: of a graph (a model's main graph), or of it and
 * every subgraph in it.
 */
export function opCounts(of: Model | Graph, subgraphs = false): Record<string, number> {
  const top = of instanceof Model ? of.graph : of;
  const counts: Record<string, number> = {};
  for (const graph of subgraphs ? top.allGraphs() : [top])
    for (const op of opsOf(graph)) counts[op] = (counts[op] ?? 0) + 1;
  return counts;
}
