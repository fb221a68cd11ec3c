// The pass model: declared options (options.ts), passes with preconditions (pass.ts), sequences (sequence.ts).
export * from './options.js';
export * from './pass.js';
export * from './sequence.js';
