// Latency benchmark of one or more models, interleaved in one process so that they share the machine's state.
import { OnnxOptError } from '../errors.js';
import { Graph, Value } from '../ir/graph.js';
import { Model } from '../ir/model.js';
import { tensorType } from '../ir/types.js';
import { encodeModel } from '../serde/encode.js';
import { DataType } from '../tensor/dtype.js';
import {
  adaptFeeds,
  generateInputs,
  mergeInputSpecs,
  resolveShapes,
  type GenerateOptions,
  type InputSpec,
} from './inputs.js';
import {
  defaultThreads,
  inputSpecsOf,
  loadModel,
  type LoadedModel,
  type ModelSource,
  type SessionSettings,
} from './session.js';

export interface BenchProgress {
  phase: 'load' | 'warmup' | 'measure';
  batch?: number;
  done: number;
  total: number;
}

export interface BenchOptions extends SessionSettings, Omit<GenerateOptions, 'batch' | 'pad'> {
  /** Batch sizes to measure (default [1]). */
  batches?: number[];
  /** Untimed runs per model and batch size before measuring (default 3). */
  warmup?: number;
  /** Timed runs per model and batch size (default 20). */
  iterations?: number;
  /** Names for the models in the report (default: their paths, else 'model 1', 'model 2', ...). */
  labels?: string[];
  onProgress?: (progress: BenchProgress) => void;
}

export interface BenchModel {
  label: string;
  /** Session creation time. */
  loadMs: number;
  /**
   * Resident memory the process gained while this model's session was created, and during its first run (weights
   * prepacking, arena, activations). Models load one after another, so each figure belongs to one model; memory
   * that an earlier model freed and a later one reused is not counted, so read these as lower bounds.
   */
  loadRssBytes: number;
  firstRunRssBytes: number;
}

export interface BenchResult {
  model: string;
  batch: number;
  /** The shape of each input at this batch size. */
  shapes: Record<string, number[]>;
  /** Latency percentiles, mean and minimum over the timed runs, in milliseconds. */
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  min: number;
  /** Items per second at the median latency: batch / p50. */
  throughput: number;
  /** The first model's p50 divided by this one's, at the same batch size. */
  speedup: number;
}

export interface BenchReport {
  /** The onnxruntime that ran the models: onnxruntime-node, or onnxruntime-web's WASM backend. */
  runtime: 'node' | 'web';
  threads: number;
  warmup: number;
  iterations: number;
  models: BenchModel[];
  results: BenchResult[];
  /** The whole process's peak resident memory (all models together). */
  peakRssBytes: number;
}

/**
 * Measures each model at each batch size. Runs are interleaved (A, B, A, B, ...) so drift in the machine's speed
 * hits every model alike; speedups are relative to the first model. All models see the same inputs where they
 * share input names.
 */
export async function benchmark(sources: ModelSource[], options: BenchOptions = {}): Promise<BenchReport> {
  if (sources.length === 0) throw new OnnxOptError('no models to benchmark');
  const batches = options.batches ?? [1];
  const warmup = options.warmup ?? 3;
  const iterations = options.iterations ?? 20;
  for (const b of batches)
    if (!Number.isInteger(b) || b < 1) throw new OnnxOptError(`batch sizes must be positive integers, not ${b}`);
  if (!Number.isInteger(warmup) || warmup < 0)
    throw new OnnxOptError(`warmup must be a non-negative integer, not ${warmup}`);
  if (!Number.isInteger(iterations) || iterations < 1)
    throw new OnnxOptError(`iterations must be a positive integer, not ${iterations}`);

  const loaded: LoadedModel[] = [];
  const models: BenchModel[] = [];
  try {
    // onnxruntime sets itself up on the first session of a process: pay that before timing any model's load,
    // or the first model's load time carries it (tens of milliseconds) and the others' do not.
    await (await loadModel(warmUpModel(), options, 'warm-up')).release();
    for (const [i, source] of sources.entries()) {
      const label = options.labels?.[i] ?? (typeof source === 'string' ? source : `model ${i + 1}`);
      const rssBefore = process.memoryUsage().rss;
      const m = await loadModel(source, options, label);
      loaded.push(m);
      models.push({
        label,
        loadMs: m.loadMs,
        loadRssBytes: Math.max(0, process.memoryUsage().rss - rssBefore),
        firstRunRssBytes: 0,
      });
      options.onProgress?.({ phase: 'load', done: i + 1, total: sources.length });
    }
    const specs = loaded.map((m) => inputSpecsOf(m));
    const allSpecs = mergeInputSpecs(...specs);
    const results: BenchResult[] = [];
    let firstRun = true;
    for (const batch of batches) {
      loaded.forEach((m, i) => checkBatchFits(m.label, specs[i]!, batch));
      const generate = { ...options, batch };
      const common = generateInputs(allSpecs, generate);
      const feeds = specs.map((s) => adaptFeeds(common, s));
      const shapes = Object.fromEntries(resolveShapes(allSpecs, generate));
      const times = loaded.map(() => [] as number[]);
      const total = (warmup + iterations) * loaded.length;
      let done = 0;
      for (let round = 0; round < warmup + iterations; round++) {
        const phase = round < warmup ? 'warmup' : 'measure';
        for (const [i, m] of loaded.entries()) {
          const rssBefore = process.memoryUsage().rss;
          const t0 = performance.now();
          await m.run(feeds[i]!);
          const ms = performance.now() - t0;
          if (firstRun) models[i]!.firstRunRssBytes = Math.max(0, process.memoryUsage().rss - rssBefore);
          if (phase === 'measure') times[i]!.push(ms);
          options.onProgress?.({ phase, batch, done: ++done, total });
        }
        firstRun = false;
      }
      const p50s = times.map((t) => percentile(t, 50));
      loaded.forEach((m, i) => {
        const t = times[i]!;
        const p50 = p50s[i]!;
        results.push({
          model: m.label,
          batch,
          shapes: Object.fromEntries(specs[i]!.map((s) => [s.name, shapes[s.name]!])),
          p50,
          p95: percentile(t, 95),
          p99: percentile(t, 99),
          mean: t.reduce((a, b) => a + b, 0) / t.length,
          min: Math.min(...t),
          throughput: (batch * 1000) / p50,
          speedup: p50s[0]! / p50,
        });
      });
    }
    return {
      runtime: options.runtime ?? 'node',
      threads: options.threads ?? defaultThreads(),
      warmup,
      iterations,
      models,
      results,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } finally {
    for (const m of loaded) await m.release();
  }
}

/** A model whose inputs all have a fixed first dim cannot be measured at another batch size. */
function checkBatchFits(label: string, specs: InputSpec[], batch: number): void {
  const fixed = specs.map((s) => s.dims[0]);
  if (fixed.length && fixed.every((d) => typeof d === 'number') && !fixed.includes(batch)) {
    throw new OnnxOptError(`has a fixed batch size of ${fixed[0]}, so batch ${batch} cannot be measured`, label);
  }
}

/** The q-th percentile with linear interpolation between closest ranks (numpy's default). */
export function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = ((sorted.length - 1) * q) / 100;
  const lo = Math.floor(at);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/** A one-node model (Identity of a float vector) that loads in no time. */
function warmUpModel(): Uint8Array {
  const graph = new Graph('warm_up');
  const x = graph.addInput(new Value('x', tensorType(DataType.FLOAT, [1])));
  const y = graph.createNode({
    opType: 'Identity',
    inputs: [x],
    outputs: [new Value('y', tensorType(DataType.FLOAT, [1]))],
  });
  graph.outputs.push(y.output(0));
  const model = new Model(graph);
  model.opsetImports = [{ domain: '', version: 13 }];
  return encodeModel(model);
}
