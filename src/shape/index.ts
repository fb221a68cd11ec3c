export { inferShapes, type ShapeInferenceOptions, type ShapeInferenceResult, type ShapeIssue } from './infer.js';
export { Sym, evaluateParam, parseParam, type SymDim } from './dims.js';
