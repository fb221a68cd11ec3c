// Runtime targets: which forms each onnxruntime execution provider runs best, in one table. `--target` (CLI) and
// `planForTarget` (library, web page) read it; nothing else decides per-runtime forms.
//
// Sources, so the rules can be rechecked when onnxruntime moves:
// - cpu:    measured here (README "Runtime targets"); SkipLayerNormalization's CPU kernel (1.30) is the slow way to
//           normalize, see passes/split-skip-layer-norm.ts. The CPU provider's Softmax, Erf, Tanh, Gemm... have no
//           float16 kernels (onnxruntime docs/OperatorKernels.md, CPUExecutionProvider), so an fp16 model runs
//           through Casts.
// - wasm:   onnxruntime-web's WASM backend is the CPU provider compiled to WebAssembly (same kernels, no GPU);
//           measured here in onnxruntime-web 1.30.0 under Node (README).
// - webgpu: onnxruntime-web's WebGPU provider (JSEP, 1.30.0 and 1.31.1 alike): the ops with a WebGPU kernel are WEBGPU_OP_RESOLVE_RULES
//           in node_modules/onnxruntime-web/dist/ort.all.mjs and onnxruntime's contrib_ops/js/js_contrib_kernels.cc;
//           others run on the CPU with copies around them. Its Attention throws "Mask not supported" for a
//           mask_index and ignores `unidirectional`; MultiHeadAttention throws "Key padding mask is not supported"
//           (same file): hence attention-mask-to-bias. float16 runs natively where the adapter has shader-f16.
// - cuda:   onnxruntime docs/OperatorKernels.md (CUDAExecutionProvider): Attention (with mask_index),
//           MultiHeadAttention, EmbedLayerNormalization, SkipLayerNormalization, BiasGelu, FastGelu have float16
//           kernels; DynamicQuantizeMatMul, MatMulIntegerToFloat and QEmbedLayerNormalization have none, and its
//           QAttention takes int8 inputs only, not the uint8 that dynamic quantization feeds it.
import { OnnxOptError } from '../src/errors.js';
import type { Model } from '../src/ir/model.js';
import type { Pass } from '../src/pass/index.js';
import { findPass } from './index.js';
import { MS_DOMAIN } from '../src/ir/ops.js';

export const TARGET_NAMES = ['cpu', 'wasm', 'webgpu', 'cuda'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export interface Target {
  name: TargetName;
  /** The runtime and provider, for messages. */
  runtime: string;
  /** Fusions `fuse` skips for this target (names as `--disable` takes them). */
  disableFusions: readonly string[];
  /** Passes run right after `fuse`: the forms this runtime runs best. */
  afterFuse: readonly string[];
  /** Passes that give this target no speed-up or run off its device: pass name -> why. */
  discouraged: Readonly<Record<string, string>>;
  /** Ops with a kernel on this target's device, when narrower than what onnx-opt writes: domain::op. */
  kernels?: ReadonlySet<string>;
}

/**
 * onnxruntime-web's WebGPU (JSEP) kernels, 1.30.0 and 1.31.1 alike: WEBGPU_OP_RESOLVE_RULES and js_contrib_kernels.cc. Gelu is there
 * only as com.microsoft's: onnxruntime/core/providers/js/js_execution_provider.cc registers no ONNX Gelu (opset 20).
 */
const WEBGPU_ONNX_OPS = [
  'Abs',
  'Acos',
  'Acosh',
  'Add',
  'ArgMax',
  'ArgMin',
  'Asin',
  'Asinh',
  'Atan',
  'Atanh',
  'AveragePool',
  'BatchNormalization',
  'Cast',
  'Ceil',
  'Clip',
  'Concat',
  'Conv',
  'ConvTranspose',
  'Cos',
  'Cosh',
  'CumSum',
  'DepthToSpace',
  'DequantizeLinear',
  'DFT',
  'Div',
  'Einsum',
  'Elu',
  'Equal',
  'Erf',
  'Exp',
  'Expand',
  'Floor',
  'Gather',
  'GatherElements',
  'GatherND',
  'Gemm',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'Greater',
  'GreaterOrEqual',
  'GridSample',
  'HardSigmoid',
  'HardSwish',
  'InstanceNormalization',
  'LayerNormalization',
  'LeakyRelu',
  'Less',
  'LessOrEqual',
  'Log',
  'MatMul',
  'MaxPool',
  'Mul',
  'Neg',
  'Not',
  'Pad',
  'Pow',
  'Range',
  'Reciprocal',
  'ReduceL1',
  'ReduceL2',
  'ReduceLogSum',
  'ReduceLogSumExp',
  'ReduceMax',
  'ReduceMean',
  'ReduceMin',
  'ReduceProd',
  'ReduceSum',
  'ReduceSumSquare',
  'Relu',
  'Resize',
  'ScatterND',
  'Sigmoid',
  'Sin',
  'Sinh',
  'Slice',
  'Softmax',
  'Split',
  'Sqrt',
  'Sub',
  'Tan',
  'Tanh',
  'ThresholdedRelu',
  'Tile',
  'Transpose',
  'Where',
  // onnxruntime/core/providers/js/operators/ (kernels written in C++ for the provider, or only shapes move)
  'Reshape',
  'Shape',
  'Squeeze',
  'Unsqueeze',
  'Flatten',
  'Identity',
  'ConstantOfShape',
  'SimplifiedLayerNormalization',
  // folded into an initializer, and Identity removed, when the session loads
  'Constant',
];
const WEBGPU_MS_OPS = [
  'Attention',
  'BiasAdd',
  'BiasSplitGelu',
  'FastGelu',
  'FusedConv',
  'Gelu',
  'GroupQueryAttention',
  'MatMulNBits',
  'MultiHeadAttention',
  'QuickGelu',
  'RotaryEmbedding',
  'SkipLayerNormalization',
  'SimplifiedLayerNormalization',
  'SkipSimplifiedLayerNormalization',
  'GatherBlockQuantized',
];

const DYNAMIC_INT8_OFF_GPU =
  'its DynamicQuantizeMatMul/MatMulIntegerToFloat/QEmbedLayerNormalization have no kernel there and run on the CPU';

export const TARGETS: Readonly<Record<TargetName, Target>> = {
  cpu: {
    name: 'cpu',
    runtime: 'onnxruntime CPU provider (onnxruntime-node, Python, C++)',
    disableFusions: [],
    afterFuse: ['split-skip-layer-norm'],
    discouraged: {
      fp16: 'the CPU provider has few float16 kernels: an fp16 model runs through Casts, no faster than float32',
    },
  },
  wasm: {
    name: 'wasm',
    runtime: 'onnxruntime-web WASM backend (the CPU provider in WebAssembly)',
    disableFusions: [],
    afterFuse: ['split-skip-layer-norm'],
    discouraged: {
      fp16: "the WASM backend has the CPU provider's kernels: float16 gives no speed-up there (README, measured)",
    },
  },
  webgpu: {
    name: 'webgpu',
    runtime: 'onnxruntime-web WebGPU provider',
    // EmbedLayerNormalization has no WebGPU kernel; its parts (Gather, Add, LayerNormalization) all do
    disableFusions: ['embed-layer-norm'],
    afterFuse: ['attention-mask-to-bias', 'split-bias-gelu'],
    discouraged: { quantize: `dynamic INT8 is a CPU form: ${DYNAMIC_INT8_OFF_GPU}` },
    kernels: new Set([...WEBGPU_ONNX_OPS.map((op) => `::${op}`), ...WEBGPU_MS_OPS.map((op) => `${MS_DOMAIN}::${op}`)]),
  },
  cuda: {
    name: 'cuda',
    runtime: 'onnxruntime CUDA provider',
    disableFusions: [],
    afterFuse: [],
    discouraged: { quantize: `dynamic INT8 is a CPU form: ${DYNAMIC_INT8_OFF_GPU}; use fp16` },
  },
};

export function findTarget(name: string): Target {
  const t = (TARGETS as Record<string, Target | undefined>)[name];
  if (!t) throw new OnnxOptError(`unknown target '${name}' (targets: ${TARGET_NAMES.join(', ')})`);
  return t;
}

export interface TargetPlan {
  /** The passes to run, with the target's forms right after each `fuse`. */
  passes: string[];
  /** Fusions `fuse` must skip. */
  disableFusions: string[];
  /** Why some of the asked passes do not suit the target (one line each). */
  warnings: string[];
}

/** Target forms that a pass already makes itself: quantize splits SkipLayerNormalization. */
const MADE_BY: Readonly<Record<string, string>> = { 'split-skip-layer-norm': 'quantize' };

/** The pass list adjusted for a target: its forms after `fuse`, its fusions off, a warning per unsuited pass. */
export function planForTarget(passNames: readonly string[], target: Target): TargetPlan {
  const passes: string[] = [];
  for (const name of passNames) {
    passes.push(name);
    if (name !== 'fuse') continue;
    passes.push(...target.afterFuse.filter((p) => !passNames.includes(p) && !passNames.includes(MADE_BY[p] ?? p)));
  }
  const warnings = passNames
    .filter((n, i) => target.discouraged[n] && passNames.indexOf(n) === i)
    .map((n) => `--target ${target.name}: ${n}: ${target.discouraged[n]}`);
  return { passes, disableFusions: [...target.disableFusions], warnings };
}

/** Nodes whose op has no kernel on the target's device, counted per domain::op (empty when all run there). */
export function offDeviceOps(model: Model, target: Target): Record<string, number> {
  const counts: Record<string, number> = {};
  if (!target.kernels) return counts;
  for (const node of model.graph.nodes) {
    const domain = node.domain === 'ai.onnx' ? '' : node.domain;
    const key = `${domain}::${node.opType}`;
    if (!target.kernels.has(key)) counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** The plan's passes, ready to run: `fuse` bound to skip the target's fusions and those the caller disables. */
export function planPasses(plan: TargetPlan, disable: readonly string[] = []): Pass[] {
  return plan.passes.map((name) => {
    const pass = findPass(name);
    return name === 'fuse' && plan.disableFusions.length
      ? pass.with({ disable: [...disable, ...plan.disableFusions] })
      : pass;
  });
}
