// The browser-safe part of the library: the IR, protobuf (de)serialization of bytes, .npy/.npz parsing, the passes
// and the analyses.
// Nothing here touches files or onnxruntime; `onnx-opt` (src/index.ts) adds those for Node.
export * from './ir/index.js';
export { EnvironmentError, OnnxOptError } from './errors.js';
export { decodeModel, decodeTensor } from './serde/decode.js';
export { encodeModel, encodeModelChunks, type Chunk, type Placement } from './serde/encode.js';
export { parseNpy, parseNpz, type NpyArray } from './serde/npz.js';
export {
  definePass,
  sequence,
  tidy,
  option,
  runPasses,
  type Pass,
  type PassSpec,
  type PassContext,
  type PassOptions,
  type PassResult,
  type RunContext,
  type Need,
  type Step,
  type OptionSpec,
  type OptionSpecs,
  type OptionValues,
  type OptionInputs,
} from './pass/index.js';
export { allPasses, findPass } from '../passes/index.js';
export { cleanPass } from '../passes/clean.js';
export { foldPass } from '../passes/fold.js';
export { fusePass } from '../passes/fuse.js';
export { quantizePass } from '../passes/quantize.js';
export {
  quantizeStaticPass,
  staticPlacement,
  readStaticSettings,
  type StaticSettings,
  type RangesOption,
} from '../passes/quantize-static.js';
export {
  createCalibrator,
  CALIBRATION_METHODS,
  type CalibrationMethod,
  type Calibrator,
  type TensorRange,
} from './tensor/calibration.js';
export { splitSkipLayerNormPass } from '../passes/split-skip-layer-norm.js';
export { fp16Pass } from '../passes/fp16.js';
export { q4Pass } from '../passes/q4.js';
export { bnb4Pass } from '../passes/bnb4.js';
export { inferShapes, type ShapeInferenceOptions, type ShapeInferenceResult } from './shape/index.js';
export { evaluateNode, supportedOps, UnsupportedOp } from './eval/index.js';
export { summarizeModel, opHistogram, type ModelSummary } from './summary.js';
export { DataType, dataTypeName } from './tensor/dtype.js';
export {
  TARGETS,
  TARGET_NAMES,
  findTarget,
  planForTarget,
  offDeviceOps,
  type Target,
  type TargetName,
  type TargetPlan,
} from '../passes/targets.js';
export { attentionMaskToBiasPass } from '../passes/attention-mask-to-bias.js';
export { splitBiasGeluPass } from '../passes/split-bias-gelu.js';
