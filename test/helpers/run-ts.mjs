// `node --import ./test/helpers/run-ts.mjs file.ts ...` runs the TypeScript sources in a plain Node process, for tests
// that need a real child process (signals, exit by signal). Types are stripped by TypeScript's transpileModule;
// imports written as './x.js' resolve to './x.ts' beside them, as tsc would compile them.
import { register } from 'node:module';

register('./run-ts-hooks.mjs', import.meta.url);
