export * from './attribute.js';
export * from './graph.js';
export * from './model.js';
export * from './tensor.js';
export * from './types.js';
