// Where quantize-static puts QuantizeLinear/DequantizeLinear, following onnxruntime's QDQ quantizer
// (qdq_quantizer.py and operators/*, read at 1.30): nodes are visited in graph order, and each op type marks the
// tensors it wants quantized; the first mark of a tensor wins.
//   Conv, ConvTranspose, Gemm, MatMul: float activation inputs and the output get their own ranges; constant
//     inputs are weights (per channel when asked: Conv axis 0, ConvTranspose 1, MatMul 1, Gemm 0 or 1 after
//     transB); Conv/Gemm biases become int32 with scale input scale x weight scale (x Gemm's beta).
//   LayerNormalization, InstanceNormalization, BatchNormalization: input, scale as a weight, bias as int32, outputs.
//   Gather, GatherElements: a float initializer as data (an embedding table) is quantized like a constant below,
//     and the output shares its parameters.
//   Data movement (Reshape, Transpose, Squeeze, Unsqueeze, Slice, Gather(Elements), Pad, Resize, MaxPool,
//     AveragePool): only when the input is quantized already; the outputs share the input's scale and zero point,
//     so the op can run on 8-bit data. Split quantizes its input if nothing did, and its outputs share it.
//   Relu, Clip: only after a quantized input; with asymmetric activations the op goes when it is its input's only
//     reader (the output's range, which starts at 0 or the clip, does its work), else input and output as usual.
//   Where: its output, only when both values it chooses from are quantized.
//   Any other listed op: every float input and output; a constant input is quantized like an activation would
//     be, activation type and activation symmetry (_calc_initializer_quant_params: "initializers for elementwise
//     ops use the quant_type for activations").
//   Softmax: its output's range is [0, 1] whatever calibration saw (adjust_tensor_ranges).
// Only graph initializers count as constants: a Constant node's output is calibrated like any activation, as in
// onnxruntime, where it is not an initializer either.
import type { Graph, Node, Value } from '../../src/ir/graph.js';
import { DataType } from '../../src/tensor/dtype.js';
import { inferElemTypes } from '../fp16/elem-types.js';

export type TensorRole =
  /** Own scale and zero point from its calibrated range. */
  | { kind: 'activation' }
  /** The scale and zero point of another quantized tensor (`source`). */
  | { kind: 'shared'; source: Value }
  /** A constant quantized from its own values with the weight type, per tensor or along `axis`. */
  | { kind: 'weight'; axis?: number }
  /** A constant read where an activation is expected: activation type, activation symmetry. */
  | { kind: 'constant' }
  /** int32 with scale input scale x weight scale x beta, zero point 0. */
  | { kind: 'bias'; input: Value; weight: Value; beta: number };

export interface PlacementSettings {
  ops: ReadonlySet<string>;
  /** Node names left float. */
  exclude: ReadonlySet<string>;
  perChannel: boolean;
  /** int32 biases for Conv/Gemm/normalizations (onnxruntime's QuantizeBias, default on). */
  quantizeBias: boolean;
  /** Op types whose outputs get no Q/DQ (onnxruntime's OpTypesToExcludeOutputQuantization). */
  noOutputOps: ReadonlySet<string>;
  /** Asymmetric activations let a Relu or Clip go: its output's range clips as it did (onnxruntime's default). */
  removeActivations: boolean;
}

/** onnxruntime's default op types for QDQ (QLinearOpsRegistry and QDQRegistry, 1.30). */
export const DEFAULT_STATIC_OPS: readonly string[] = [
  'ArgMax',
  'AveragePool',
  'BatchNormalization',
  'Clip',
  'Concat',
  'Conv',
  'ConvTranspose',
  'EmbedLayerNormalization',
  'Gather',
  'GatherElements',
  'Gemm',
  'GlobalAveragePool',
  'InstanceNormalization',
  'LayerNormalization',
  'LeakyRelu',
  'MatMul',
  'MaxPool',
  'Mul',
  'Add',
  'Pad',
  'Relu',
  'Reshape',
  'Resize',
  'Sigmoid',
  'Slice',
  'Softmax',
  'Split',
  'Squeeze',
  'Transpose',
  'Unsqueeze',
  'Where',
];

const WEIGHTED = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);
const REMOVABLE = new Set(['Relu', 'Clip']);
const NORMALIZATIONS = new Set(['LayerNormalization', 'InstanceNormalization', 'BatchNormalization']);
/** Data movement that runs unchanged on 8-bit values, its output sharing its input's scale and zero point. */
export const MOVES_QUANTIZED = new Set([
  'Reshape',
  'Transpose',
  'Squeeze',
  'Unsqueeze',
  'Slice',
  'Gather',
  'GatherElements',
  'MaxPool',
  'Resize',
]);
// Pad (which would pad 8-bit data with 0, not the zero point) and AveragePool (float only in ONNX) share their
// input's parameters too, but run between their DequantizeLinear and QuantizeLinear.
const DATA_MOVEMENT = new Set([...MOVES_QUANTIZED, 'Pad', 'AveragePool']);

export interface Placement {
  /** Every tensor to quantize, in the order they were marked. */
  roles: Map<Value, TensorRole>;
  /** The tensors that need a calibrated range. */
  calibrated: Value[];
  /** Nodes whose tensors were marked. */
  nodes: Node[];
  /**
   * Relu/Clip nodes to remove: their input's only reader, so the producer writes their output directly, quantized
   * with the output's range (whose lower end does the clipping).
   */
  removed: Node[];
}

const FLOATS = new Set<number>([DataType.FLOAT]);

/** Marks the tensors to quantize in the main graph. */
export function planPlacement(graph: Graph, settings: PlacementSettings): Placement {
  const types = inferElemTypes(graph);
  const roles = new Map<Value, TensorRole>();
  const nodes: Node[] = [];
  const removed: Node[] = [];
  const isFloat = (v: Value | null | undefined): v is Value => !!v && FLOATS.has(types.get(v) ?? -1);
  const isConstant = (v: Value) => !!v.initializer && graph.initializers.includes(v);
  const mark = (v: Value | null | undefined, role: TensorRole) => {
    if (isFloat(v) && !roles.has(v)) roles.set(v, role);
  };
  const input = (v: Value | null | undefined) => {
    if (v) mark(v, isConstant(v) ? { kind: 'constant' } : { kind: 'activation' });
  };
  const weight = (v: Value | null | undefined, axis: number | undefined) => {
    if (!v) return;
    if (isConstant(v)) mark(v, { kind: 'weight', axis: settings.perChannel ? axis : undefined });
    else mark(v, { kind: 'activation' });
  };
  const bias = (node: Node, b: Value | null | undefined, beta = 1) => {
    if (!b || !settings.quantizeBias || !isConstant(b) || !isFloat(b)) return;
    const x = node.inputs[0],
      w = node.inputs[1];
    if (x && w && roles.has(x) && roles.get(w)?.kind === 'weight') mark(b, { kind: 'bias', input: x, weight: w, beta });
  };

  // Values computed from constants alone (a Resize's scales made by a Concat of Constant nodes): onnxruntime would
  // quantize such a Concat like any other and change the scales, which breaks the Resize; they are left float.
  const constant = new Set<Value>();
  const isConstantValue = (v: Value | null) => !v || !!v.initializer || constant.has(v);
  for (const node of graph.nodes) {
    if (node.inputs.every(isConstantValue)) {
      for (const v of node.outputs) if (v) constant.add(v);
      continue;
    }
    if (node.domain !== '' && node.domain !== 'ai.onnx') continue;
    if (!settings.ops.has(node.opType) || settings.exclude.has(node.name)) continue;
    const outputs = settings.noOutputOps.has(node.opType) ? [] : node.outputs;
    const before = roles.size;
    const op = node.opType;
    if (WEIGHTED.has(op)) {
      if (op === 'MatMul') {
        for (const v of node.inputs) weight(v, 1);
      } else {
        input(node.inputs[0]);
        const transB = op === 'Gemm' && node.attrInt('transB', 0) === 1;
        weight(node.inputs[1], op === 'ConvTranspose' ? 1 : op === 'Gemm' && !transB ? 1 : 0);
        bias(node, node.inputs[2], op === 'Gemm' ? node.attrFloat('beta', 1) : 1);
      }
      for (const v of outputs) mark(v, { kind: 'activation' });
    } else if (NORMALIZATIONS.has(op)) {
      input(node.inputs[0]);
      const scale = node.inputs[1];
      if (scale && isConstant(scale)) mark(scale, { kind: 'weight' });
      else input(scale);
      // the normalization's bias is scaled by its input's and its scale's, like a Conv bias
      bias(node, node.inputs[2]);
      for (const v of outputs) mark(v, { kind: 'activation' });
    } else if (REMOVABLE.has(op)) {
      const x = node.inputs[0],
        y = node.outputs[0];
      if (!x || !y || !roles.has(x)) continue;
      const removable =
        settings.removeActivations &&
        roles.get(x)!.kind === 'activation' &&
        x.uses.length === 1 &&
        !!x.producer &&
        !graph.outputs.includes(x) &&
        !graph.outputs.includes(y) &&
        isFloat(y);
      if (removable) {
        roles.delete(x);
        removed.push(node);
      }
      if (outputs.length) mark(y, { kind: 'activation' });
    } else if (op === 'Split') {
      // its input is quantized for it if nothing did; every output shares the input's parameters
      const source = node.inputs[0];
      input(source);
      if (!source || !roles.has(source)) continue;
      for (const v of outputs) mark(v, { kind: 'shared', source });
    } else if (op === 'Where') {
      // its output is quantized only when both values it chooses from are
      if (!node.inputs[1] || !node.inputs[2] || !roles.has(node.inputs[1]) || !roles.has(node.inputs[2])) continue;
      for (const v of outputs) mark(v, { kind: 'activation' });
    } else if ((op === 'Gather' || op === 'GatherElements') && node.inputs[0] && isConstant(node.inputs[0])) {
      // onnxruntime quantizes a float table as an activation (is_valid_quantize_weight), the output sharing it
      const table = node.inputs[0];
      input(table);
      if (!roles.has(table)) continue;
      for (const v of outputs) mark(v, { kind: 'shared', source: table });
    } else if (DATA_MOVEMENT.has(op)) {
      // a per-channel weight has no single scale to share
      const source = node.inputs[0];
      const sourceRole = source ? roles.get(source) : undefined;
      if (!sourceRole || (sourceRole.kind === 'weight' && sourceRole.axis !== undefined)) continue;
      for (const v of outputs) mark(v, { kind: 'shared', source: source! });
    } else {
      for (const v of node.inputs) input(v);
      for (const v of outputs) mark(v, { kind: 'activation' });
    }
    if (roles.size > before) nodes.push(node);
  }
  const calibrated = [...roles].filter(([, r]) => r.kind === 'activation').map(([v]) => v);
  return { roles, calibrated, nodes, removed };
}

/** The tensor whose scale and zero point a tensor uses (itself, or the source it shares them with). */
export function paramsSource(roles: ReadonlyMap<Value, TensorRole>, v: Value): Value {
  let at = v;
  for (let role = roles.get(at); role?.kind === 'shared'; role = roles.get(at)) at = role.source;
  return at;
}
