// `npm run bench -- static`: static INT8 (quantize-static, QDQ) against dynamic INT8 (`fuse quantize`) on bert-base
// in onnxruntime-node's CPU EP, and the cost of calibration against one plain onnxruntime pass over the same data.
// Where the time goes comes from onnxruntime's own profiler (per op type, summed over the runs).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { readModel } from '../../src/io/read.js';
import { benchmark } from '../../src/runtime/bench.js';
import { calibrate, type CalibrationData } from '../../src/runtime/calibrate.js';
import { ORT_TYPES, type Feeds } from '../../src/runtime/host-tensor.js';
import { describeInputs, generateInputs } from '../../src/runtime/inputs.js';
import { loadModel } from '../../src/runtime/session.js';
import { readStaticSettings, staticPlacement } from '../../passes/quantize-static.js';
import { materialize } from './materialize.js';

const OUT = '.bench/out';
const CLI = 'dist/bin/onnx-opt.js';
const THREADS = 2;
const SAMPLES = 64;
const CALIBRATION_BATCH = 8;

/** Milliseconds per op type in one run, from onnxruntime's profile of `runs` runs on `feeds`. */
async function profileByOp(path: string, feeds: Feeds, runs: number): Promise<Map<string, number>> {
  const prefix = join(OUT, 'profile');
  // the settings of the tools' sessions (src/runtime/session.ts), with the profiler on
  const session = await ort.InferenceSession.create(path, {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 4,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
    enableProfiling: true,
    profileFilePrefix: prefix,
  });
  const ortFeeds = Object.fromEntries(
    Object.entries(feeds).map(([k, t]) => [
      k,
      new ort.Tensor(ORT_TYPES[t.dataType] as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.dims),
    ]),
  );
  await session.run(ortFeeds); // warm-up, counted out below by the run count
  for (let i = 0; i < runs; i++) await session.run(ortFeeds);
  session.endProfiling();
  await session.release();
  // onnxruntime writes <prefix>_<timestamp>.json
  const file = readdirSync(OUT)
    .filter((f) => f.startsWith('profile') && f.endsWith('.json'))
    .map((f) => join(OUT, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!;
  const events = JSON.parse(readFileSync(file, 'utf8')) as {
    cat: string;
    name: string;
    dur: number;
    args?: { op_name?: string };
  }[];
  rmSync(file, { force: true });
  const byOp = new Map<string, number>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || !e.args?.op_name) continue;
    byOp.set(e.args.op_name, (byOp.get(e.args.op_name) ?? 0) + e.dur / 1000 / (runs + 1));
  }
  return byOp;
}

const top = (byOp: Map<string, number>, n = 7) => {
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  return (
    `${total.toFixed(0)} ms in kernels: ` +
    [...byOp]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([op, ms]) => `${op} ${ms.toFixed(1)}`)
      .join(', ')
  );
};

export async function benchStatic(models: string[]): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  for (const name of models) {
    const raw = materialize(name);
    const model = readModel(raw);
    const specs = describeInputs(model);
    const runs = Array.from({ length: SAMPLES / CALIBRATION_BATCH }, (_, i) =>
      generateInputs(specs, { batch: CALIBRATION_BATCH, sequence: 128, pad: true, seed: 100 + i }),
    );
    const data: CalibrationData = { count: SAMPLES, batches: () => runs };

    // calibration against one onnxruntime pass over the same 64 samples (session creation included in both)
    const t0 = performance.now();
    const plain = await loadModel(raw, { threads: THREADS });
    for (const feeds of runs) await plain.run(feeds);
    await plain.release();
    const passMs = performance.now() - t0;
    const placement = staticPlacement(model, readStaticSettings({}));
    const calibration = await calibrate(model, placement.calibrated, data, { threads: THREADS });
    console.log(
      `static ${name}: calibration (minmax, ${calibration.ranges.size} tensors) of ${SAMPLES} samples x 128 tokens ` +
        `${(calibration.ms / 1000).toFixed(2)} s, one onnxruntime pass over them ${(passMs / 1000).toFixed(2)} s ` +
        `(${(calibration.ms / passMs).toFixed(2)}x; both include session creation, ${THREADS} threads)`,
    );

    // MatMul alone quantizes tensors that the default ops let share their input's parameters (a transposed key):
    // those are calibrated too, untimed
    const matMulOnly = staticPlacement(model, readStaticSettings({ ops: 'MatMul' })).calibrated.filter(
      (v) => !calibration.ranges.has(v.name),
    );
    const extra = matMulOnly.length
      ? (await calibrate(model, matMulOnly, data, { threads: THREADS })).ranges
      : new Map();
    const rangesFile = join(OUT, `${name}.ranges.json`);
    writeFileSync(rangesFile, JSON.stringify({ ranges: Object.fromEntries([...calibration.ranges, ...extra]) }));
    const made = (suffix: string, args: string[]) => {
      const out = join(OUT, `${name}.${suffix}.onnx`);
      execFileSync(process.execPath, [CLI, ...args, raw, out], { stdio: 'ignore' });
      return out;
    };
    const dynamic = made('dynamic', ['fuse', 'quantize']);
    // speed only: the lossy check (generated inputs, as no calibration file is given) is left out
    const qdq = made('qdq', ['quantize-static', '--ranges', rangesFile, '--no-check']);
    const qdqMatMul = made('qdq-matmul', ['quantize-static', '--ranges', rangesFile, '--no-check', '--ops', 'MatMul']);
    const qdqMatMulU8 = made('qdq-matmul-u8', [
      'quantize-static',
      '--ranges',
      rangesFile,
      '--no-check',
      '--ops',
      'MatMul',
      '--activation-type',
      'uint8',
    ]);
    const labels = [
      'dynamic (fuse quantize)',
      'static QDQ (default ops, int8)',
      'static QDQ (--ops MatMul, int8)',
      'static QDQ (--ops MatMul, uint8 activations)',
    ];
    const paths = [dynamic, qdq, qdqMatMul, qdqMatMulU8];
    for (const sequence of [128, 512]) {
      const r = await benchmark(paths, {
        sequence,
        threads: THREADS,
        warmup: 2,
        iterations: sequence === 512 ? 10 : 20,
        batches: [1],
        labels,
      });
      const [reference, ...others] = r.results;
      console.log(
        `static ${name} seq ${sequence}: ${labels[0]} p50 ${reference!.p50.toFixed(0)} ms, ` +
          others
            .map((o, i) => `${labels[i + 1]} p50 ${o.p50.toFixed(0)} ms (${(o.p50 / reference!.p50).toFixed(2)}x)`)
            .join(', '),
      );
      const feeds = generateInputs(specs, { batch: 1, sequence, pad: false, seed: 7 });
      for (const [i, path] of paths.entries())
        console.log(`  profile seq ${sequence} ${labels[i]}: ${top(await profileByOp(path, feeds, 3))}`);
    }
    for (const p of paths) {
      rmSync(p, { force: true });
      rmSync(p.replace(/\.onnx$/, '.onnx_data'), { force: true });
    }
    rmSync(rangesFile, { force: true });
  }
}
