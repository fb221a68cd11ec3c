import type { Command } from 'commander';
import { OnnxOptError } from '../../errors.js';
import { progressOnStderr } from '../../runtime/progress.js';
import { makeTransformersJsFolder, MODES, type Mode } from '../../transformers-js.js';
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
    .action((dir: string, opts: FolderCliOptions) => {
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
      const records = makeTransformersJsFolder(dir, {
        modes: modes as Mode[],
        fuse: opts.fuse === true,
        blockSize: Number(opts.q4BlockSize),
        symmetric: opts.symmetric,
        ...(opts.accuracyLevel !== undefined ? { accuracyLevel: Number(opts.accuracyLevel) } : {}),
        quantType: opts.quantType,
        bnb4BlockSize: Number(opts.bnb4BlockSize),
        progress: (file, done, total) => progress.update(file, done, total),
        log,
      });
      progress.end();
      if (opts.json) return printJson(records);
      for (const r of records) log(`${r.file}${r.externalData ? ' (+ external data)' : ''}`);
    });
}
