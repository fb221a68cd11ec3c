// `npm run bench [-- suites...]`: benchmarks on the seed-sized models in ../shared/models, materialized into
// .bench/models. Suites: io. Figures are medians of interleaved runs; compare ratios, not absolute times.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { materialize } from './materialize.js';

const OUT = '.bench/out';
const suites: Record<string, () => void> = { io: benchIo };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function childJson(script: string, args: string[]): Record<string, number> {
  const out = execFileSync(process.execPath, [join('dist/test/bench', script), ...args], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!);
}

/** Read + write with external data: wall time and peak RSS against the weight bytes (targets: < 1.5 s, < 1.5x). */
function benchIo(): void {
  for (const name of ['bert-base', 'bert-large']) {
    const input = materialize(name);
    const weights = statSync(input.replace(/\.onnx$/, '.weights.bin')).size;
    mkdirSync(OUT, { recursive: true });
    const out = join(OUT, `${name}.rw.onnx`);
    const runs = [1, 2, 3].map(() => childJson('io-child.js', [input, out]));
    const total = median(runs.map((r) => r.totalMs!));
    const rss = median(runs.map((r) => r.maxRssBytes!));
    console.log(
      `io ${name}: read+write ${total.toFixed(0)} ms (read ${median(runs.map((r) => r.readMs!)).toFixed(0)} ms), ` +
        `peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB = ${(rss / weights).toFixed(2)}x the ${(weights / 2 ** 20).toFixed(0)} MiB of weights`,
    );
    rmSync(out, { force: true });
    rmSync(out.replace(/\.onnx$/, '.onnx_data'), { force: true });
  }
}

const wanted = process.argv.slice(2);
for (const name of wanted.length ? wanted : Object.keys(suites)) {
  const suite = suites[name];
  if (!suite) throw new Error(`unknown bench suite '${name}' (suites: ${Object.keys(suites).join(', ')})`);
  suite();
}
