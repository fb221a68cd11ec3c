export { inferShapes, type ShapeInferenceOptions, type ShapeInferenceResult, type ShapeIssue } from './infer.js';
export { Sym, parseParam, type SymDim } from './dims.js';
