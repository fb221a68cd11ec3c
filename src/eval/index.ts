// The reference evaluator for standard ONNX ops (and the onnxruntime ops the fusions emit, for probes): constant
// folding's engine and a tiny interpreter for tests.
export { UnsupportedOp, type EvalNode, type EvalOptions } from './kernel.js';
export { evaluateFromDims, evaluateNode, isStandardDomain, isSupportedOp, supportedOps } from './registry.js';
export { runGraph } from './interpret.js';
