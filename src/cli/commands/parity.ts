import type { Command } from 'commander';
import { readModel } from '../../io/read.js';
import {
  alignNumbers,
  checkDimNames,
  collect,
  dimsOption,
  numberOption,
  runtimeOption,
  sci,
} from '../../runtime/command-line.js';
import { readInputsFile } from '../../runtime/data-files.js';
import { describeInputs, mergeInputSpecs } from '../../runtime/inputs.js';
import { checkParity, DEFAULT_TOLERANCE, describeFailure, type ParityReport } from '../../runtime/parity.js';
import { EXIT } from '../exit-codes.js';
import { print, printJson, table } from '../output.js';

interface ParityFlags {
  inputs?: string;
  samples: string;
  batch: string;
  seq: string;
  dim: string[];
  pad?: boolean;
  seed: string;
  atol: string;
  rtol: string;
  minCosine?: string;
  threads?: string;
  json?: boolean;
  runtime: 'node' | 'web';
}

export function registerParity(program: Command): void {
  program
    .command('parity')
    .summary("compare two models' outputs on the same inputs (exit 1 outside tolerance)")
    .description(
      'run two models on the same inputs and compare every output\n' +
        'exit 0 when all outputs are within |B - A| <= atol + rtol * |A|, 1 when not, 2 on bad input',
    )
    .argument('<reference>', 'reference model (A)')
    .argument('<candidate>', 'candidate model (B)')
    .option(
      '--inputs <file>',
      'inputs: .npz with arrays named after the inputs, or .json {name: nested arrays} (or a list of those)',
    )
    .option('--samples <n>', 'how many generated input samples to run', '2')
    .option('--batch <n>', 'batch size of generated inputs', '2')
    .option('--seq <n>', 'sequence length of generated inputs', '32')
    .option('--dim <name=size>', 'size of a named symbolic input dim, comma-separated or repeated', collect, [])
    .option('--pad', 'pad the end of attention-mask rows after the first')
    .option('--seed <n>', 'seed of generated inputs', '0')
    .option('--atol <x>', 'absolute tolerance', String(DEFAULT_TOLERANCE.atol))
    .option('--rtol <y>', 'relative tolerance', String(DEFAULT_TOLERANCE.rtol))
    .option(
      '--min-cosine <c>',
      "for lossy models (INT8, FP16): pass when each output's cosine similarity is at least c, instead of atol/rtol",
    )
    .option('--threads <n>', 'intra-op threads per session (default: one per core)')
    .addOption(runtimeOption())
    .option('--json', 'print the report as JSON')
    .action(async (reference: string, candidate: string, flags: ParityFlags) => {
      const options = {
        samples: numberOption('--samples', flags.samples, { integer: true, min: 1 }),
        batch: numberOption('--batch', flags.batch, { integer: true, min: 1 }),
        sequence: numberOption('--seq', flags.seq, { integer: true, min: 1 }),
        dims: dimsOption('--dim', flags.dim),
        pad: flags.pad ?? false,
        seed: numberOption('--seed', flags.seed, { integer: true }),
        atol: numberOption('--atol', flags.atol, { min: 0 }),
        rtol: numberOption('--rtol', flags.rtol, { min: 0 }),
        minCosine: numberOption('--min-cosine', flags.minCosine, { min: -1, max: 1 }),
        threads: numberOption('--threads', flags.threads, { integer: true, min: 1 }),
        runtime: flags.runtime,
      };
      const specs = mergeInputSpecs(describeInputs(readModel(reference)), describeInputs(readModel(candidate)));
      checkDimNames('--dim', options.dims, specs);
      const inputs = flags.inputs ? readInputsFile(flags.inputs, specs) : undefined;
      const report = await checkParity(reference, candidate, { ...options, inputs });
      if (flags.json) printJson(report);
      else print(formatParity(report));
      if (!report.pass) process.exitCode = EXIT.checkFailed;
    });
}

export function formatParity(report: ParityReport): string {
  const header = [
    'output',
    'type',
    'shape',
    'max abs',
    'max rel',
    'mean abs',
    'cosine',
    'outside tol',
    'NaN A/B',
    'result',
  ];
  const rows = report.outputs.map((o) => [
    o.name,
    o.candidateType ? `${o.type}/${o.candidateType}` : o.type,
    `[${o.shape.join(', ')}]${o.candidateShape ? ` vs [${o.candidateShape.join(', ')}]` : ''}`,
    sci(o.maxAbs),
    sci(o.maxRel),
    sci(o.meanAbs),
    o.cosine.toFixed(6),
    `${o.mismatches}/${o.elements}`,
    `${o.nan.reference}/${o.nan.candidate}`,
    o.problem ? `FAIL (${o.problem})` : o.pass ? (o.exact ? 'ok (exact)' : 'ok') : 'FAIL',
  ]);
  const criterion =
    report.minCosine !== undefined
      ? `has cosine similarity >= ${report.minCosine}`
      : `is within |B - A| <= ${report.atol} + ${report.rtol} * |A|`;
  const verdict = report.pass
    ? `PASS: every output ${criterion}${report.exact ? ' (bitwise identical)' : ''}`
    : `FAIL: ${describeFailure(report)}`;
  return [
    `A (reference): ${report.reference}`,
    `B (candidate): ${report.candidate}`,
    `${report.samples} sample(s); inputs: ${report.inputs.map((i) => `${i.name} ${i.type} [${i.shape.join(', ')}]`).join(', ')}`,
    table(header, alignNumbers(header, rows, [3, 4, 5, 6, 7, 8])),
    verdict,
  ].join('\n');
}
