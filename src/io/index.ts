export { readModel, readModelBytes } from './read.js';
export { writeModel, sidecarName, type WriteOptions } from './write.js';
