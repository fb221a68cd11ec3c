import type { Command } from 'commander';
import { OnnxOptError } from '../../errors.js';
import { readModel } from '../../io/read.js';
import { numberOption } from '../../runtime/command-line.js';
import { readDataset } from '../../runtime/data-files.js';
import { GATE_METRICS, gateAccuracy, type GateMetric, type GateReport } from '../../runtime/gate.js';
import { describeInputs } from '../../runtime/inputs.js';
import { progressOnStderr } from '../../runtime/progress.js';
import { EXIT } from '../exit-codes.js';
import { print, printJson } from '../output.js';

interface GateFlags {
  baseline: string;
  candidate: string;
  data: string;
  labels: string;
  metric: string;
  maxDrop: string;
  batchSize: string;
  output?: string;
  threads?: string;
  json?: boolean;
}

export function registerGate(program: Command): void {
  program
    .command('gate')
    .summary('accept or refuse a candidate model by its metric on a labelled dataset')
    .description(
      "evaluate a baseline and a candidate model on a labelled dataset; exit 1 when the candidate's metric " +
        'drops by more than --max-drop (for mse: rises by more)',
    )
    .requiredOption('--baseline <model>', 'the model to compare against')
    .requiredOption('--candidate <model>', 'the model to accept or refuse')
    .requiredOption(
      '--data <file>',
      '.npz with one array per model input plus the labels, or JSON {"inputs": {...}, "labels": [...]}',
    )
    .requiredOption('--max-drop <x>', 'the largest allowed drop of the metric, e.g. 0.01')
    .option('--labels <key>', 'name of the labels array in the .npz', 'labels')
    .option('--metric <name>', `${GATE_METRICS.join(' | ')}`, 'accuracy')
    .option('--batch-size <n>', 'samples per run', '32')
    .option('--output <name>', 'the model output to score (default: the first)')
    .option('--threads <n>', 'intra-op threads (default: one per core)')
    .option('--json', 'print the report as JSON')
    .action(async (flags: GateFlags) => {
      if (!(GATE_METRICS as readonly string[]).includes(flags.metric)) {
        throw new OnnxOptError(`--metric must be one of ${GATE_METRICS.join(', ')}, not '${flags.metric}'`);
      }
      const maxDrop = numberOption('--max-drop', flags.maxDrop, { min: 0 })!;
      const batchSize = numberOption('--batch-size', flags.batchSize, { integer: true, min: 1 })!;
      const threads = numberOption('--threads', flags.threads, { integer: true, min: 1 });
      const data = readDataset(flags.data, describeInputs(readModel(flags.baseline)), flags.labels);
      readModel(flags.candidate); // a missing or broken candidate fails before the baseline is evaluated
      const progress = progressOnStderr();
      let report: GateReport;
      try {
        report = await gateAccuracy(flags.baseline, flags.candidate, data, {
          metric: flags.metric as GateMetric,
          maxDrop,
          batchSize,
          output: flags.output,
          threads,
          onProgress: (p) => progress.update(`evaluating ${p.model}`, p.done, p.total),
        });
      } finally {
        progress.end();
      }
      if (flags.json)
        printJson({ baselineModel: flags.baseline, candidateModel: flags.candidate, data: flags.data, ...report });
      else print(formatGate(report, flags.baseline, flags.candidate));
      if (!report.pass) process.exitCode = EXIT.checkFailed;
    });
}

export function formatGate(r: GateReport, baseline: string, candidate: string): string {
  const value = (x: number) => x.toFixed(4);
  const worse = r.metric === 'mse' ? 'rise' : 'drop';
  return [
    `${r.metric} on ${r.samples} samples (output '${r.output}')`,
    `baseline   ${value(r.baseline)}  ${baseline}`,
    `candidate  ${value(r.candidate)}  ${candidate}`,
    `${worse.padEnd(9)}  ${value(r.drop)}  (allowed ${r.maxDrop})`,
    ...(r.agreement !== undefined ? [`agreement  ${value(r.agreement)}  (same top-1 prediction)`] : []),
    r.pass ? 'PASS' : `FAIL: ${r.metric} ${worse} ${value(r.drop)} > ${r.maxDrop}`,
  ].join('\n');
}
