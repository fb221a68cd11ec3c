// The evaluator's entry point: finds the kernel for a standard-domain op (or one of onnxruntime's ops that the
// fusions emit) and runs it under the node's opset.
import type { Tensor } from '../ir/tensor.js';
import { KernelContext, UnsupportedOp, type EvalNode, type EvalOptions, type OpDef } from './kernel.js';
import { castOps } from './ops/cast.js';
import { contribOps, rotaryOps } from './ops/contrib.js';
import { convOps } from './ops/conv.js';
import { elementwiseOps } from './ops/elementwise.js';
import { generateOps } from './ops/generate.js';
import { indexingOps } from './ops/indexing.js';
import { logicOps } from './ops/logic.js';
import { matmulOps } from './ops/matmul.js';
import { movementOps } from './ops/movement.js';
import { reduceOps } from './ops/reduce.js';
import { shapeFromDims, shapeOps, sizeFromDims } from './ops/shape.js';
import { softmaxOps } from './ops/softmax.js';
import { isStandardDomain } from '../ir/ops.js';

// Only deterministic ops without side effects belong here: constant folding trusts that.
const registry: ReadonlyMap<string, OpDef> = new Map(
  Object.entries({
    ...elementwiseOps,
    ...logicOps,
    ...shapeOps,
    ...movementOps,
    ...generateOps,
    ...castOps,
    ...reduceOps,
    ...matmulOps,
    ...softmaxOps,
    ...indexingOps,
    ...convOps,
    ...rotaryOps,
  }),
);

// onnxruntime's ops, by domain-qualified name: probes evaluate them in front of a site; folding leaves them
// (isSupportedOp is for standard ops), so a model keeps the ops a fusion chose.
const runtimeRegistry: ReadonlyMap<string, OpDef> = new Map(Object.entries(contribOps));

export { isStandardDomain };

/** True when the evaluator has a kernel for this op (it may still refuse particular types or attributes). */
export function isSupportedOp(domain: string, opType: string): boolean {
  return isStandardDomain(domain) && registry.has(opType);
}

/** The op types the evaluator implements, sorted. */
export function supportedOps(): string[] {
  return [...registry.keys()].sort();
}

function definition(node: EvalNode, opset: number): OpDef {
  const where = `${node.domain ? node.domain + '::' : ''}${node.opType}`;
  const def =
    (isStandardDomain(node.domain) ? registry.get(node.opType) : undefined) ??
    runtimeRegistry.get(isStandardDomain(node.domain) ? node.opType : `${node.domain}::${node.opType}`);
  if (!def) throw new UnsupportedOp(`${where}: no evaluator for this op`);
  if (def.since !== undefined && opset < def.since)
    throw new UnsupportedOp(`${where}: opset ${opset} predates the supported form`);
  for (const a of node.attributes.values()) {
    if (a.type === 'ref') throw new UnsupportedOp(`${where}: attribute '${a.name}' refers to a function attribute`);
    if (!def.attributes.includes(a.name)) throw new UnsupportedOp(`${where}: unknown attribute '${a.name}'`);
  }
  return def;
}

/**
 * Computes a node's outputs from its input tensors (undefined for absent optional inputs). Throws UnsupportedOp
 * for anything it does not implement exactly, and OnnxOptError for inputs the op rejects.
 */
export function evaluateNode(
  node: EvalNode,
  inputs: readonly (Tensor | undefined)[],
  opset: number,
  options: EvalOptions = {},
): Tensor[] {
  const def = definition(node, opset);
  const ctx = new KernelContext(
    node.opType,
    opset,
    node.outputs.length,
    node.attributes,
    options.maxOutputBytes ?? Infinity,
  );
  const outputs = def.kernel(inputs, ctx);
  if (outputs.length < node.outputs.length) {
    throw new UnsupportedOp(`${node.opType}: computes ${outputs.length} outputs, the node has ${node.outputs.length}`);
  }
  return outputs.slice(0, node.outputs.length);
}

/** Shape or Size of a tensor known only by its dims, e.g. from a value's static type; its elements are not needed. */
export function evaluateFromDims(node: EvalNode, dims: readonly number[], opset: number): Tensor[] {
  definition(node, opset);
  const ctx = new KernelContext(node.opType, opset, node.outputs.length, node.attributes, Infinity);
  if (node.opType === 'Shape') return [shapeFromDims(ctx, dims)];
  if (node.opType === 'Size') return [sizeFromDims(dims)];
  throw new UnsupportedOp(`${node.opType}: needs its input's elements, not just its dims`);
}
