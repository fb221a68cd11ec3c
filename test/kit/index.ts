// The test kit: one graph builder, one seeded generator, one onnxruntime helper, and expectFusion.
//
//   const model = buildModel((g) => { const x = g.input('x', [2, 3]); g.output(g.op('Relu', [x])); });
//   await expectFusion(fuseSomethingPass, model, { ops: { 'com.microsoft::Something': 1 }, tolerance: 1e-5 });
export {
  buildModel,
  copyModel,
  F,
  GraphMaker,
  modelMaker,
  opCounts,
  opsOf,
  type AttrValue,
  type ModelMaker,
  type NodeOpts,
  type Shape,
  type WeightDraw,
} from './build.js';
export {
  cosine,
  errorOf,
  expectExportParity,
  maxDifference,
  npzFeeds,
  randomFeeds,
  runOrt,
  valuesOf,
  withSessions,
  type OrtOutput,
  type OutputError,
} from './ort.js';
export { bellFloats, lcg, randomFloats, uniformFloats } from './random.js';
export { expectDeterministic, nearMisses, runPass } from './run-pass.js';
export { expectFusion, type Fusion, type FusionExpectation } from './expect-fusion.js';
export { tempFolder } from './temp.js';
