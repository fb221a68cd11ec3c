import type { Command } from 'commander';
import { join } from 'node:path';
import { OnnxOptError } from '../../errors.js';
import type { Model } from '../../ir/model.js';
import { checkLossyPass } from '../../runtime/lossy-check.js';
import { progressOnStderr } from '../../runtime/progress.js';
import { makeTransformersJsFolder, MODES, type Mode } from '../../transformers-js.js';
import { EXIT } from '../exit-codes.js';
import { log, printJson } from '../output.js';

interface FolderCliOptions {
  modes: string;
  fuse?: boolean;
  q4BlockSize: string;
  symmetric: boolean;
  accuracyLevel?: string;
  quantType: string;
  bnb4BlockSize: string;
  json?: boolean;
  check: boolean;
}

/**
 * The lossy passes' self-check for a variant: both models run in onnxruntime on generated inputs, and a variant whose
 * outputs point elsewhere, gained NaN or infinities, or that onnxruntime cannot load is the reason it is refused.
 */
async function checkVariant(base: Model, variant: Model, file: string): Promise<string | undefined> {
  try {
    const verdict = await checkLossyPass(base, variant, file);
    if (verdict.kind === 'broken') return verdict.message;
    log(verdict.message);
    return undefined;
  } catch (e) {
    if (e instanceof OnnxOptError) return `${file}: ${e.message}`;
    throw e;
  }
}

export function registerTransformersJs(program: Command): void {
  program
    .command('transformers-js')
    .description(
      'write the variants transformers.js loads (model_fp16.onnx, model_quantized.onnx, model_q4.onnx, ...) ' +
        'beside every base model in DIR/onnx/, with quantize_config.json in DIR',
    )
    .argument('<dir>', 'a transformers.js model folder (config.json, onnx/model.onnx, ...)')
    .option('--modes <modes>', `variants to write, comma-separated (of ${MODES.join(',')})`, MODES.join(','))
    .option('--fuse', 'run fuse before each variant')
    .option('--q4-block-size <n>', 'q4/q4f16 rows per block', '32')
    .option('--no-symmetric', 'q4/q4f16 asymmetric blocks with zero points')
    .option('--accuracy-level <n>', 'q4/q4f16 MatMulNBits accuracy_level (4: int8 activations, fastest on CPU)')
    .option('--quant-type <type>', 'bnb4 levels: nf4 or fp4', 'nf4')
    .option('--bnb4-block-size <n>', 'bnb4 values per block', '64')
    .option('--json', 'print what was written as JSON on stdout')
    .option(
      '--no-check',
      'do not run each variant against its float model in onnxruntime before writing it (by default a variant ' +
        'that breaks the model is not written, and the command exits 1)',
    )
    .action(async (dir: string, opts: FolderCliOptions) => {
      const modes = opts.modes
        .split(',')
        .map((m) => m.trim())
        .filter(Boolean);
      for (const m of modes)
        if (!(MODES as readonly string[]).includes(m))
          throw new OnnxOptError(`--modes: unknown mode '${m}' (modes: ${MODES.join(', ')})`);
      if (opts.quantType !== 'nf4' && opts.quantType !== 'fp4')
        throw new OnnxOptError(`--quant-type must be nf4 or fp4, not '${opts.quantType}'`);
      const progress = progressOnStderr();
      const records = await makeTransformersJsFolder(dir, {
        modes: modes as Mode[],
        fuse: opts.fuse === true,
        blockSize: Number(opts.q4BlockSize),
        symmetric: opts.symmetric,
        ...(opts.accuracyLevel !== undefined ? { accuracyLevel: Number(opts.accuracyLevel) } : {}),
        quantType: opts.quantType,
        bnb4BlockSize: Number(opts.bnb4BlockSize),
        progress: (file, done, total) => progress.update(file, done, total),
        log,
        ...(opts.check ? { check: checkVariant } : {}),
      });
      progress.end();
      const refused = records.filter((r) => r.refused);
      for (const r of refused)
        log(`onnx-opt: ${join(dir, 'onnx', r.file)}: ${r.refused}; not written (--no-check writes it anyway)`);
      if (refused.length) process.exitCode = EXIT.checkFailed;
      if (opts.json) return printJson(records);
      for (const r of records.filter((r) => !r.refused)) log(`${r.file}${r.externalData ? ' (+ external data)' : ''}`);
    });
}
