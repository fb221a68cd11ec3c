import type { Command } from 'commander';
import { readModel } from '../../io/read.js';
import { benchmark, type BenchReport } from '../../runtime/bench.js';
import {
  alignNumbers,
  checkDimNames,
  collect,
  dimsOption,
  integerListOption,
  numberOption,
  runtimeOption,
} from '../../runtime/command-line.js';
import { describeInputs } from '../../runtime/inputs.js';
import { progressOnStderr } from '../../runtime/progress.js';
import { formatBytes, print, printJson, table } from '../output.js';

interface BenchFlags {
  batch: string;
  seq: string;
  dim: string[];
  threads?: string;
  warmup: string;
  iters: string;
  json?: boolean;
  runtime: 'node' | 'web';
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .summary('latency, throughput, load time and memory of models, side by side')
    .description(
      'measure latency, throughput, load time and memory of one or more models, interleaved in one process\n' +
        '(A, B, A, B, ...); speedups are relative to the first model',
    )
    .argument('<models...>', 'model files')
    .option('--batch <list>', 'batch sizes, comma-separated', '1')
    .option('--seq <n>', 'sequence length of generated inputs', '128')
    .option('--dim <name=size>', 'size of a named symbolic input dim, comma-separated or repeated', collect, [])
    .option('--threads <n>', 'intra-op threads per session (default: one per core)')
    .option('--warmup <n>', 'untimed runs per model and batch size', '3')
    .option('--iters <n>', 'timed runs per model and batch size', '20')
    .addOption(runtimeOption())
    .option('--json', 'print the report as JSON')
    .action(async (models: string[], flags: BenchFlags) => {
      const options = {
        batches: integerListOption('--batch', flags.batch),
        sequence: numberOption('--seq', flags.seq, { integer: true, min: 1 }),
        dims: dimsOption('--dim', flags.dim),
        threads: numberOption('--threads', flags.threads, { integer: true, min: 1 }),
        warmup: numberOption('--warmup', flags.warmup, { integer: true, min: 0 }),
        iterations: numberOption('--iters', flags.iters, { integer: true, min: 1 }),
        runtime: flags.runtime,
      };
      checkDimNames(
        '--dim',
        options.dims,
        models.flatMap((m) => describeInputs(readModel(m))),
      );
      const progress = progressOnStderr();
      let report: BenchReport;
      try {
        report = await benchmark(models, {
          ...options,
          onProgress: (p) =>
            progress.update(p.phase === 'load' ? 'loading' : `measuring batch ${p.batch}`, p.done, p.total),
        });
      } finally {
        progress.end();
      }
      if (flags.json) printJson(report);
      else print(formatBench(report));
    });
}

export function formatBench(r: BenchReport): string {
  const latency = ['model', 'batch', 'p50 ms', 'p95 ms', 'p99 ms', 'items/s', 'speedup'];
  const ms = (x: number) => x.toFixed(x < 10 ? 3 : 1);
  const latencyRows = r.results.map((x) => [
    x.model,
    String(x.batch),
    ms(x.p50),
    ms(x.p95),
    ms(x.p99),
    x.throughput.toFixed(1),
    `${x.speedup.toFixed(2)}x`,
  ]);
  const memory = ['model', 'load ms', 'RSS +load', 'RSS +first run'];
  const memoryRows = r.models.map((m) => [
    m.label,
    m.loadMs.toFixed(0),
    formatBytes(m.loadRssBytes),
    formatBytes(m.firstRunRssBytes),
  ]);
  return [
    `${r.runtime === 'web' ? "onnxruntime-web's WASM backend, " : ''}${r.threads} thread(s), ${r.warmup} warm-up + ${r.iterations} timed runs per model and batch size, interleaved`,
    table(latency, alignNumbers(latency, latencyRows, [1, 2, 3, 4, 5, 6])),
    '',
    table(memory, alignNumbers(memory, memoryRows, [1, 2, 3])),
    `peak RSS of the process: ${formatBytes(r.peakRssBytes)} (RSS +load / +first run: growth while each model loaded / first ran)`,
  ].join('\n');
}
