// The pass model lives in src/pass/; this module keeps the import path that passes and tools already use.
export * from './pass/index.js';
