// Which nodes run in float16, and which inputs and outputs keep float32 whatever their node does.

import type { Node } from '../../src/ir/graph.js';

/**
 * Ops kept in float32 by default (every ai.onnx.ml op too, see isBlockedByDefault):
 * - numerically unsafe in float16: running sums (CumSum), selections that float16 ties would reorder (TopK,
 *   NonMaxSuppression, RoiAlign), ranges computed in float (Range, whose schema has no float16 either), random
 *   generators; Upsample (deprecated; float32 scales);
 * - EyeLike: no float16 kernel in onnxruntime's CPU provider, and its output type is an attribute onnxruntime
 *   cannot insert Casts around (loading fails);
 * - quantization ops, whose scales are float32 by definition; not MatMulNBits, which runs with float16 activations
 *   and scales (its packed weights and zero points are uint8 and stay as they are): `q4 fp16` is transformers.js's
 *   q4f16.
 * Other ops without a float16 CPU kernel (Softmax, Gemm, Attention, the Gelu family, ...) are converted:
 * onnxruntime runs them in float32 behind Casts of its own, and GPU providers have float16 kernels.
 */
export const DEFAULT_BLOCKED_OPS: readonly string[] = [
  'Range',
  'CumSum',
  'TopK',
  'NonMaxSuppression',
  'RoiAlign',
  'Upsample',
  'EyeLike',
  'RandomNormal',
  'RandomUniform',
  'RandomNormalLike',
  'RandomUniformLike',
  'Bernoulli',
  'Multinomial',
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'com.microsoft::QAttention',
  'com.microsoft::QEmbedLayerNormalization',
  'com.microsoft::DynamicQuantizeMatMul',
  'com.microsoft::MatMulIntegerToFloat',
  'com.microsoft::QuantizeLinear',
  'com.microsoft::DequantizeLinear',
  'com.microsoft::QGemm',
  'com.microsoft::QLinearAdd',
  'com.microsoft::QLinearMul',
  'com.microsoft::QLinearSigmoid',
  'com.microsoft::QLinearSoftmax',
  'com.microsoft::QLinearConcat',
  'com.microsoft::QLinearAveragePool',
  'com.microsoft::QLinearGlobalAveragePool',
  'com.microsoft::QLinearLeakyRelu',
  'com.microsoft::QLinearWhere',
  'com.microsoft::DynamicQuantizeLSTM',
  'com.microsoft::MatMulBnb4',
];

/** The key a block list names an op by: `Op` for the ONNX domain, `domain::Op` for others. */
export function opKey(node: Node): string {
  return node.domain === '' || node.domain === 'ai.onnx' ? node.opType : `${node.domain}::${node.opType}`;
}

export function isBlockedByDefault(node: Node): boolean {
  return node.domain === 'ai.onnx.ml' || DEFAULT_BLOCKED_OPS.includes(opKey(node));
}

/** Input slots that stay float32 when their node runs in float16 (a separate type variable in the op's schema). */
const FLOAT32_INPUTS: Record<string, readonly number[]> = {
  Resize: [1, 2], // roi, scales
};

/** Output slots typed by the stash type (float32), not by the node's data type. */
const FLOAT32_OUTPUTS: Record<string, readonly number[]> = {
  LayerNormalization: [1, 2],
  SimplifiedLayerNormalization: [1],
  'com.microsoft::SkipLayerNormalization': [1, 2],
  'com.microsoft::SkipSimplifiedLayerNormalization': [1, 2],
};

/** Input slots that take any float type as it comes (the op reads only the shape, or converts anyway). */
const ANY_FLOAT_INPUTS: Record<string, readonly number[]> = {
  Shape: [0],
  Size: [0],
  Cast: [0],
  CastLike: [0],
};

export function keepsFloat32Input(node: Node, slot: number): boolean {
  return FLOAT32_INPUTS[opKey(node)]?.includes(slot) ?? false;
}

export function keepsFloat32Output(node: Node, slot: number): boolean {
  return FLOAT32_OUTPUTS[opKey(node)]?.includes(slot) ?? false;
}

export function takesAnyFloat(node: Node, slot: number): boolean {
  return ANY_FLOAT_INPUTS[opKey(node)]?.includes(slot) ?? false;
}
