// `npm run bench [-- suites...] [--models a,b]`: benchmarks on the seed-sized models in ../shared/models and the
// skeletons in test/bench/models, materialized into .bench/models. Suites: io, tools, latency (the encoders), scale
// (generated graphs, ./scale.ts), decoder (llama-100m fused vs export vs onnxruntime, ./decoder.ts), fuzz (every pass
// over mutated models, ./fuzz.ts), decode and bundle (the codec, ./serde.ts), llm (llama-100m in fp32, q8 and q4,
// ./llm.ts), and, only when named, static (static vs dynamic INT8, ./static.ts) and targets (latency per runtime target
// in onnxruntime-node and onnxruntime-web, ./targets.ts). Timings are medians of interleaved runs on a shared, noisy
// machine: compare the ratios, which are measured side by side, not the absolute times.
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { benchmark } from '../../src/runtime/bench.js';
import { checkParity } from '../../src/runtime/parity.js';
import { loadModel } from '../../src/runtime/session.js';
import { CLI, MODELS, OUT, childJson, clean, flag, median, sizeOf, wallMs, wanted } from './common.js';
import { benchDecoder } from './decoder.js';
import { materialize } from './materialize.js';
import { benchFuzz } from './fuzz.js';
import { benchLlm } from './llm.js';
import { benchScale } from './scale.js';
import { benchBundle, benchDecode } from './serde.js';
import { benchStatic } from './static.js';
import { benchTargets } from './targets.js';
/**
 * Read + write with external data: wall time and peak RSS against the weight bytes (targets: < 1.5 s, < 1.5x), and
 * whether the written model's outputs are bitwise those of the original in onnxruntime-node.
 */
async function benchIo(): Promise<void> {
  for (const name of MODELS) {
    const input = materialize(name);
    const weights = statSync(input.replace(/\.onnx$/, '.weights.bin')).size;
    mkdirSync(OUT, { recursive: true });
    const out = join(OUT, `${name}.rw.onnx`);
    const runs = [1, 2, 3].map(() => childJson('io-child.js', [input, out]));
    const rss = median(runs.map((r) => r.maxRssBytes!));
    const parity = await checkParity(input, out, { samples: 1, sequence: 64, pad: true, threads: 2 });
    console.log(
      `io ${name}: read+write ${median(runs.map((r) => r.totalMs!)).toFixed(0)} ms (read ${median(runs.map((r) => r.readMs!)).toFixed(0)} ms), ` +
        `peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB = ${(rss / weights).toFixed(2)}x the ${(weights / 2 ** 20).toFixed(0)} MiB of weights; ` +
        `outputs ${parity.exact ? 'bitwise identical' : 'DIFFER'} in onnxruntime-node`,
    );
    clean(out);
  }
}

/** Wall time of `fuse`, `fuse quantize` and `fp16` against a plain read+write of the same model, interleaved. */
function benchTools(): void {
  mkdirSync(OUT, { recursive: true });
  for (const name of MODELS) {
    const input = materialize(name);
    const jobs: [string, string[]][] = [
      ['read+write', []],
      ['fuse', ['fuse']],
      ['fuse quantize', ['fuse', 'quantize']],
      ['fp16', ['fp16']],
    ];
    const times = new Map<string, number[]>(jobs.map(([label]) => [label, []]));
    for (let round = 0; round < 3; round++) {
      for (const [label, passes] of jobs) {
        const out = join(OUT, `${name}.tool.onnx`);
        times.get(label)!.push(wallMs([CLI, ...passes, input, out]));
        clean(out);
      }
    }
    const base = median(times.get('read+write')!);
    console.log(
      `tools ${name}: ` +
        jobs
          .map(([label]) => {
            const t = median(times.get(label)!);
            return `${label} ${(t / 1000).toFixed(2)} s${label === 'read+write' ? '' : ` (${(t / base).toFixed(2)}x)`}`;
          })
          .join(', '),
    );
  }
}

/**
 * Latency in onnxruntime-node, 2 threads, batch 1, interleaved in one process: onnxruntime's optimized model (the
 * reference) against onnx-opt's fused model and its CPU form (`fuse split-skip-layer-norm`), and onnxruntime's INT8
 * model against onnx-opt's `fuse quantize`. The models are made afresh, so they are what the current build writes.
 */
async function benchLatency(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  for (const name of MODELS) {
    const raw = materialize(name);
    const ort = materialize(`${name}.ort`);
    const ortInt8 = materialize(`${name}.ort.int8`);
    const made = (suffix: string, passes: string[]) => {
      const out = join(OUT, `${name}.${suffix}.onnx`);
      execFileSync(process.execPath, [CLI, ...passes, raw, out], { stdio: 'ignore' });
      return out;
    };
    const fused = made('fused', ['fuse']);
    const cpu = made('fused.cpu', ['fuse', 'split-skip-layer-norm']);
    const int8 = made('fused.int8', ['fuse', 'quantize']);
    console.log(
      `sizes ${name}: raw ${(sizeOf(raw) / 2 ** 20).toFixed(0)} MiB, onnx-opt fused ${(sizeOf(fused) / 2 ** 20).toFixed(0)} MiB, ` +
        `onnxruntime INT8 ${(sizeOf(ortInt8) / 2 ** 20).toFixed(0)} MiB, onnx-opt INT8 ${(sizeOf(int8) / 2 ** 20).toFixed(0)} MiB`,
    );
    const groups = [
      ['fp32', [ort, fused, cpu], ['onnxruntime', 'onnx-opt fuse', 'onnx-opt fuse split-skip-layer-norm']],
      ['int8', [ortInt8, int8], ['onnxruntime', 'onnx-opt fuse quantize']],
    ] as const;
    for (const sequence of [128, 512]) {
      for (const [label, models, labels] of groups) {
        const iterations = name === 'bert-large' && sequence === 512 ? 8 : 20;
        const r = await benchmark([...models], {
          sequence,
          threads: 2,
          warmup: 2,
          iterations,
          batches: [1],
          labels: [...labels],
        });
        const [reference, ...ours] = r.results;
        console.log(
          `latency ${name} ${label} seq ${sequence}: ${labels[0]} p50 ${reference!.p50.toFixed(0)} ms, ` +
            ours
              .map((o, i) => `${labels[i + 1]} p50 ${o.p50.toFixed(0)} ms (${(o.p50 / reference!.p50).toFixed(2)}x)`)
              .join(', '),
        );
      }
    }
    for (const [label, models] of groups) {
      const [reference, ...ours] = await sessionCreation([...models]);
      console.log(
        `session creation ${name} ${label}: onnxruntime ${reference!.toFixed(0)} ms, ` +
          ours.map((t) => `${t.toFixed(0)} ms (${(t / reference!).toFixed(2)}x)`).join(', ') +
          ', median of 5 interleaved',
      );
    }
  }
}

/** Median session creation time of each model (2 threads, optimization 'all'), created in turns five times. */
async function sessionCreation(paths: string[]): Promise<number[]> {
  const times = paths.map(() => [] as number[]);
  for (let round = 0; round < 5; round++) {
    for (const [i, path] of paths.entries()) {
      const loaded = await loadModel(path, { threads: 2 });
      times[i]!.push(loaded.loadMs);
      await loaded.release();
    }
  }
  return times.map(median);
}

const suites: Record<string, () => void | Promise<void>> = {
  io: benchIo,
  tools: benchTools,
  latency: benchLatency,
  scale: benchScale,
  fuzz: benchFuzz,
  decode: () => benchDecode(MODELS, flag('--baseline')),
  bundle: benchBundle,
  llm: benchLlm,
  decoder: benchDecoder,
  // static runs only when named: `npm run bench -- static` (bert-base unless --models says otherwise)
  static: () => benchStatic(process.argv.includes('--models') ? MODELS : ['bert-base']),
  // targets runs only when named: `npm run bench -- targets` (bert-base and three fixtures unless --models says)
  targets: () => benchTargets(process.argv.includes('--models') ? MODELS : undefined),
};
const DEFAULT_SUITES = Object.keys(suites).filter((name) => name !== 'static' && name !== 'targets');
for (const name of wanted.length ? wanted : DEFAULT_SUITES) {
  const suite = suites[name];
  if (!suite) throw new Error(`unknown bench suite '${name}' (suites: ${Object.keys(suites).join(', ')})`);
  await suite();
}
