// Helpers shared by the bench suites: where outputs go, the CLI, medians, wall times, sizes.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename, join } from 'node:path';

export const OUT = '.bench/out';
export const CLI = 'dist/bin/onnx-opt.js';
const args = process.argv.slice(2);
const modelsFlag = args.indexOf('--models');
export const MODELS =
  modelsFlag >= 0 ? args[modelsFlag + 1]!.split(',') : ['bert-base', 'bert-large', 'distilbert-base', 'roberta-base'];
/** The value after a `--name value` flag. */
export const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
export const wanted = args.filter(
  (a, i) => !a.startsWith('--') && args[i - 1] !== '--models' && args[i - 1] !== '--baseline',
);

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Wall time of a command, in its own process. */
export function wallMs(argv: string[]): number {
  const t0 = performance.now();
  execFileSync(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  return performance.now() - t0;
}

export function childJson(script: string, argv: string[]): Record<string, number> {
  const out = execFileSync(process.execPath, [join('dist/test/bench', script), ...argv], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!);
}

/** A model and its sidecar's bytes. */
export function sizeOf(path: string): number {
  const dir = join(path, '..');
  const stem = basename(path).replace(/\.onnx$/, '');
  return readdirSync(dir)
    .filter((f) => f === basename(path) || f === `${stem}.onnx_data` || f === `${stem}.weights.bin`)
    .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

export function clean(path: string): void {
  rmSync(path, { force: true });
  rmSync(path.replace(/\.onnx$/, '.onnx_data'), { force: true });
}

/** The CPU model and its flags, printed with every suite whose numbers depend on them. */
export function cpuLine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const flags = existsSync('/proc/cpuinfo')
    ? /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]
    : undefined;
  return `${cpu}, ${cpus().length} cores${flags ? `; flags: ${flags}` : ''}`;
}
