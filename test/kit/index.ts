// The test kit: one graph builder, one seeded generator, one onnxruntime helper, and expectFusion.
//
//   const model = buildModel((g) => { const x = g.input('x', [2, 3]); g.output(g.op('Relu', [x])); });
//   await expectFusion(fuseSomethingPass, model, { ops: { 'com.microsoft::Something': 1 }, tolerance: 1e-5 });
export {
  buildModel,
  F,
  GraphMaker,
  maxDifference,
  opsOf,
  randomFeeds,
  runOrt,
  type NodeOpts,
} from '../pattern/helpers.js';
export { bellFloats, lcg, uniformFloats } from './random.js';
export { expectFusion, type FusionExpectation } from './expect-fusion.js';
