// onnx-opt's library API for Node: everything in ./core.js (browser-safe), plus files and the tools that run models
// in onnxruntime-node (an optional peer dependency, loaded on first use: see src/runtime/onnxruntime.ts).
//
//   import { readModel, runPasses, findPass, writeModel, checkParity, gateAccuracy } from 'onnx-opt';
//   const model = readModel('model.onnx');
//   runPasses(model, ['fuse', 'quantize'].map(findPass));
//   writeModel(model, 'model.int8.onnx');
//   const report = await checkParity('model.onnx', 'model.int8.onnx', { minCosine: 0.99 });
export * from './core.js';
export { readModel, readModelBytes, writeModel, sidecarName, type WriteOptions } from './io/index.js';
export { readNpz } from './io/npz.js';
export * from './runtime/index.js';
export {
  makeTransformersJsFolder,
  baseModels,
  MODES as TRANSFORMERS_JS_MODES,
  type FolderOptions,
  type Mode as TransformersJsMode,
  type VariantRecord,
} from './transformers-js.js';
