// Element types of every value in a model, so the float16 conversion knows which values are float32 tensors.
// Declared types (inputs, initializers, value_info) win; the rest follow the ops' type rules below, which cover
// the standard ops whose output type is not simply their first input's, and the contrib ops we emit or meet.

import type { Graph, Node, Value } from '../../src/ir/graph.js';
import { elemTypeOf, type ValueType } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';

export type ElemTypes = Map<Value, number>;

type OutputRule = (node: Node, input: (i: number) => number | undefined) => (number | undefined)[];

const always =
  (...types: number[]): OutputRule =>
  () =>
    types;
const attrType =
  (name: string, fallback: (input: (i: number) => number | undefined) => number | undefined): OutputRule =>
  (node, input) => [node.attrInt(name) ?? fallback(input)];
const likeInput =
  (i: number): OutputRule =>
  (_, input) => [input(i)];

const STANDARD: Record<string, OutputRule> = {
  Shape: always(DataType.INT64),
  Size: always(DataType.INT64),
  NonZero: always(DataType.INT64),
  ArgMax: always(DataType.INT64),
  ArgMin: always(DataType.INT64),
  NonMaxSuppression: always(DataType.INT64),
  SequenceLength: always(DataType.INT64),
  Equal: always(DataType.BOOL),
  Less: always(DataType.BOOL),
  LessOrEqual: always(DataType.BOOL),
  Greater: always(DataType.BOOL),
  GreaterOrEqual: always(DataType.BOOL),
  And: always(DataType.BOOL),
  Or: always(DataType.BOOL),
  Xor: always(DataType.BOOL),
  Not: always(DataType.BOOL),
  IsNaN: always(DataType.BOOL),
  IsInf: always(DataType.BOOL),
  Cast: (node) => [node.attrInt('to')],
  CastLike: likeInput(1),
  Where: (_, input) => [input(1) ?? input(2)],
  OneHot: likeInput(2),
  TopK: (_, input) => [input(0), DataType.INT64],
  MaxPool: (_, input) => [input(0), DataType.INT64],
  Unique: (_, input) => [input(0), DataType.INT64, DataType.INT64, DataType.INT64],
  Dropout: (_, input) => [input(0), DataType.BOOL],
  // Mean and inverse std deviation use the stash type (float32 by default) whatever X is.
  LayerNormalization: (node, input) => [
    input(0),
    node.attrInt('stash_type', DataType.FLOAT),
    node.attrInt('stash_type', DataType.FLOAT),
  ],
  SimplifiedLayerNormalization: (node, input) => [input(0), node.attrInt('stash_type', DataType.FLOAT)],
  ConstantOfShape: (node) => [node.attrTensor('value')?.dataType ?? DataType.FLOAT],
  EyeLike: attrType('dtype', (input) => input(0)),
  RandomNormal: attrType('dtype', () => DataType.FLOAT),
  RandomUniform: attrType('dtype', () => DataType.FLOAT),
  RandomNormalLike: attrType('dtype', (input) => input(0)),
  RandomUniformLike: attrType('dtype', (input) => input(0)),
  Bernoulli: attrType('dtype', (input) => input(0)),
  Multinomial: attrType('dtype', () => DataType.INT32),
  SequenceEmpty: attrType('dtype', () => DataType.FLOAT),
  QuantizeLinear: (node, input) => [input(2) ?? node.attrInt('output_dtype') ?? DataType.UINT8],
  DequantizeLinear: (node, input) => [node.attrInt('output_dtype') || input(1)],
  DynamicQuantizeLinear: always(DataType.UINT8, DataType.FLOAT, DataType.UINT8),
  MatMulInteger: always(DataType.INT32),
  ConvInteger: always(DataType.INT32),
  QLinearMatMul: likeInput(7),
  QLinearConv: likeInput(7),
  StringNormalizer: always(DataType.STRING),
};

const MICROSOFT: Record<string, OutputRule> = {
  EmbedLayerNormalization: (_, input) => [input(2), DataType.INT32, input(2)],
  SkipLayerNormalization: (_, input) => [input(0), DataType.FLOAT, DataType.FLOAT, input(0)],
  SkipSimplifiedLayerNormalization: (_, input) => [input(0), DataType.FLOAT, DataType.FLOAT, input(0)],
  QEmbedLayerNormalization: always(DataType.FLOAT, DataType.INT32),
  QAttention: likeInput(3),
  DynamicQuantizeMatMul: likeInput(2),
  MatMulIntegerToFloat: likeInput(2),
  QuantizeLinear: (_, input) => [input(2) ?? DataType.UINT8],
  DequantizeLinear: likeInput(1),
};

function constantType(node: Node): number | undefined {
  const [a] = node.attributes.values();
  if (!a) return undefined;
  if (a.type === 'tensor') return a.value.dataType;
  if (a.type === 'sparse_tensor') return a.value.values.dataType;
  if (a.type === 'float' || a.type === 'floats') return DataType.FLOAT;
  if (a.type === 'int' || a.type === 'ints') return DataType.INT64;
  if (a.type === 'string' || a.type === 'strings') return DataType.STRING;
  return undefined;
}

/** The element type a value's type carries: a tensor's, or the tensors' inside a sequence or optional. */
export function carriedElemType(t: ValueType | undefined): number | undefined {
  if (!t) return undefined;
  if (t.kind === 'sequence' || t.kind === 'optional') return carriedElemType(t.elem);
  return elemTypeOf(t);
}

function outputTypes(node: Node, types: ElemTypes): (number | undefined)[] {
  const input = (i: number) => {
    const v = node.inputs[i];
    return v ? types.get(v) : undefined;
  };
  if (node.domain === '' || node.domain === 'ai.onnx') {
    if (node.opType === 'Constant') return [constantType(node)];
    if (node.opType === 'If') {
      const body = node.subgraphs()[0];
      return body ? body.outputs.map((v) => types.get(v)) : [];
    }
    if (node.opType === 'Loop') return (node.subgraphs()[0]?.outputs ?? []).slice(1).map((v) => types.get(v));
    if (node.opType === 'Scan') return (node.subgraphs()[0]?.outputs ?? []).map((v) => types.get(v));
    const rule = STANDARD[node.opType];
    if (rule) return rule(node, input);
  } else if (node.domain === 'com.microsoft') {
    const rule = MICROSOFT[node.opType];
    if (rule) return rule(node, input);
  }
  // Everything else (elementwise math, data movement, normalizations, most contrib ops): the first typed input's.
  const first = node.inputs.map((v) => (v ? types.get(v) : undefined)).find((t) => t !== undefined);
  return node.outputs.map(() => first);
}

/** Infers element types for every value of the graph and its subgraphs; values left out are unknown. */
export function inferElemTypes(graph: Graph, types: ElemTypes = new Map()): ElemTypes {
  const declare = (v: Value) => {
    const t = carriedElemType(v.type) ?? v.initializer?.dataType;
    if (t !== undefined) types.set(v, t);
  };
  graph.inputs.forEach(declare);
  graph.initializers.forEach(declare);
  graph.valueInfo.forEach(declare);
  graph.outputs.forEach(declare);
  for (const node of graph.nodes) {
    for (const v of node.outputs) if (v) declare(v);
    for (const body of node.subgraphs()) inferBodyTypes(node, body, types);
    const inferred = outputTypes(node, types);
    node.outputs.forEach((v, i) => {
      const t = inferred[i];
      if (v && t !== undefined && !types.has(v)) types.set(v, t);
    });
  }
  return types;
}

/** A body's formal inputs are typed by the loop state they receive when they carry no type of their own. */
function inferBodyTypes(owner: Node, body: Graph, types: ElemTypes): void {
  if (owner.opType === 'Loop') {
    body.inputs.forEach((v, i) => {
      if (carriedElemType(v.type) !== undefined) return;
      const t = i === 0 ? DataType.INT64 : i === 1 ? DataType.BOOL : typeOfInput(owner, i, types);
      if (t !== undefined) types.set(v, t);
    });
  } else if (owner.opType === 'Scan') {
    body.inputs.forEach((v, i) => {
      const t = typeOfInput(owner, i, types);
      if (carriedElemType(v.type) === undefined && t !== undefined) types.set(v, t);
    });
  }
  inferElemTypes(body, types);
}

function typeOfInput(node: Node, i: number, types: ElemTypes): number | undefined {
  const v = node.inputs[i];
  return v ? types.get(v) : undefined;
}
