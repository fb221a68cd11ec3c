// The onnxruntime-node edge of the library: run, compare, gate and benchmark models (Node only).
export {
  benchmark,
  type BenchOptions,
  type BenchReport,
  type BenchResult,
  type BenchModel,
  type BenchProgress,
} from './bench.js';
export {
  calibrate,
  readCalibrationData,
  readRangesFile,
  type CalibrationData,
  type CalibrationOptions,
  type CalibrationResult,
} from './calibrate.js';
export type { OutputComparison, Tolerance } from './compare.js';
export { readDataset, readInputsFile, type Dataset } from './data-files.js';
export {
  gateAccuracy,
  GATE_METRICS,
  type GateMetric,
  type GateOptions,
  type GateProgress,
  type GateReport,
} from './gate.js';
export type { Feeds, HostTensor } from './host-tensor.js';
export {
  describeInputs,
  generateInputs,
  resolveShapes,
  type GenerateOptions,
  type InputRole,
  type InputSpec,
} from './inputs.js';
export { checkParity, DEFAULT_TOLERANCE, type ParityOptions, type ParityReport } from './parity.js';
export { loadModel, type LoadedModel, type ModelSource, type SessionSettings } from './session.js';
export {
  PassVerifier,
  restoreModel,
  snapshotModel,
  verifyStep,
  type StepVerdict,
  type VerifyOptions,
} from './verify.js';
