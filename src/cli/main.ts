import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { EnvironmentError, OnnxOptError } from '../errors.js';
import { registerBench } from './commands/bench.js';
import { registerGate } from './commands/gate.js';
import { registerInspect } from './commands/inspect.js';
import { registerParity } from './commands/parity.js';
import { registerTransformersJs } from './commands/transformers-js.js';
import {
  addPipelineOptions,
  registerPassCommands,
  runPipelineArgs,
  splitVerifyMode,
  type PipelineOptions,
} from './commands/pipeline.js';
import { log } from './output.js';

import { EXIT } from './exit-codes.js';

export { EXIT };

export function buildProgram(): Command {
  const program = new Command('onnx-opt')
    .description(
      'Make ONNX transformer models smaller and faster: fusions, folding, INT8, FP16.\n' +
        'Run passes as: onnx-opt [passes...] in.onnx out.onnx (no passes: read and write back)',
    )
    .version(packageVersion(), '--version', 'print the version')
    .option('--verbose', 'print stack traces of errors')
    .enablePositionalOptions()
    .exitOverride();
  addPipelineOptions(program.argument('[args...]', 'passes, then in.onnx out.onnx')).action(
    (args: string[], opts: PipelineOptions) => runPipelineArgs(args, opts),
  );
  registerInspect(program);
  registerParity(program);
  registerGate(program);
  registerBench(program);
  registerTransformersJs(program);
  registerPassCommands(program);
  for (const c of program.commands) {
    c.exitOverride();
    // Global options work anywhere on the line: after a command too.
    if (!c.options.some((o) => o.long === '--verbose')) c.option('--verbose', 'print stack traces of errors');
  }
  return program;
}

/** The version in onnx-opt's package.json: the nearest one above this file (src/cli in the sources, dist/src/cli built). */
function packageVersion(): string {
  for (let dir = new URL('.', import.meta.url); ; dir = new URL('..', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'onnx-opt' && pkg.version) return pkg.version;
    } catch {
      // no package.json here: look further up
    }
    if (dir.pathname === '/') return 'unknown';
  }
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  process.exitCode = undefined;
  try {
    await program.parseAsync(splitVerifyMode(argv));
    return process.exitCode === undefined ? EXIT.ok : Number(process.exitCode);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.error;
    const verbose = argv.includes('--verbose');
    if (e instanceof OnnxOptError) log(`onnx-opt: ${e.toString()}`);
    else log(`onnx-opt: internal error: ${(e as Error).message ?? e}`);
    if (verbose) log((e as Error).stack ?? '');
    return e instanceof EnvironmentError ? EXIT.environment : EXIT.error;
  }
}
