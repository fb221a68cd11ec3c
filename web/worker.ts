// The page's Web Worker: reads the model, runs the chosen passes for the chosen target, writes the result, then
// times the model before and after in onnxruntime-web's WASM backend. Everything runs here, off the page's thread.
import * as ort from 'onnxruntime-web/wasm';
import { allPasses } from '../passes/index.js';
import { findTarget, offDeviceOps, planForTarget, planPasses } from '../passes/targets.js';
import { decodeModel } from '../src/serde/decode.js';
import { encodeModel } from '../src/serde/encode.js';
import { opHistogram } from '../src/summary.js';
import { describeInputs, generateInputs } from '../src/runtime/inputs.js';
import { ORT_TYPES, type Feeds } from '../src/runtime/host-tensor.js';
import type { Model } from '../src/ir/model.js';
import type { Latency, OptimizeRequest, PassSummary, WorkerMessage, WorkerRequest } from './protocol.js';

const post = (m: WorkerMessage, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

// One thread: several would need SharedArrayBuffer, which a static page gets only when served cross-origin isolated.
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = { wasm: new URL('ort-wasm-simd-threaded.wasm', self.location.href).href };

self.onmessage = async (event: MessageEvent<WorkerRequest>) => {
  try {
    if (event.data.kind === 'describe')
      post({ kind: 'passes', passes: allPasses.map((p) => ({ name: p.name, description: p.description })) });
    else await optimize(event.data);
  } catch (e) {
    post({ kind: 'error', message: (e as Error).message ?? String(e) });
  }
};

function readModel(bytes: Uint8Array, fileName: string): Model {
  let model: Model;
  try {
    model = decodeModel(bytes);
  } catch (e) {
    throw new Error(`${fileName}: ${(e as Error).message}`);
  }
  if (model.graph.initializers.some((v) => v.initializer!.externalSource)) {
    throw new Error(`${fileName}: its weights are in external files; this page reads models stored in one .onnx file`);
  }
  return model;
}

async function optimize(request: OptimizeRequest): Promise<void> {
  const input = new Uint8Array(request.bytes);
  const target = findTarget(request.target);
  const plan = planForTarget(request.passes, target);
  const passes = planPasses(plan);
  const total = passes.length + 2;
  post({ kind: 'progress', label: 'reading the model', done: 0, total });
  const model = readModel(input, request.fileName);
  const before = opHistogram(model);
  const summaries: PassSummary[] = [];
  for (const [i, pass] of passes.entries()) {
    post({ kind: 'progress', label: `running ${pass.name}`, done: i + 1, total });
    const t0 = performance.now();
    const result = pass.run(model, { options: {}, log: () => {} });
    summaries.push({ name: pass.name, changed: result.changed, stats: result.stats, ms: performance.now() - t0 });
  }
  post({ kind: 'progress', label: 'writing the model', done: total - 1, total });
  const output = encodeModel(model);
  const offDevice = Object.entries(offDeviceOps(model, target)).map(([op, n]) => `${op.replace(/^::/, '')} x${n}`);
  const warnings = [
    ...plan.warnings,
    ...(offDevice.length ? [`no ${target.runtime} kernel, run on the CPU: ${offDevice.join(', ')}`] : []),
  ];
  const after = opHistogram(model);
  // a copy goes to the page; this worker keeps its own for the timing
  const sent = output.slice().buffer;
  post(
    {
      kind: 'optimized',
      bytes: sent,
      passes: summaries,
      before,
      after,
      sizeBefore: input.byteLength,
      sizeAfter: output.byteLength,
      warnings,
    },
    [sent],
  );
  if (request.iterations > 0) await measure(input, output, model, request);
}

function toWebFeeds(feeds: Feeds): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds))
    out[name] = new ort.Tensor(ORT_TYPES[t.dataType] as never, t.data as never, t.dims);
  return out;
}

function latency(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.round((sorted.length - 1) * q))]!;
  return { p50: at(0.5), p10: at(0.1), p90: at(0.9), samples };
}

/** Times both models interleaved (A, B, A, B, ...) on the same generated inputs. */
async function measure(
  original: Uint8Array,
  optimized: Uint8Array,
  model: Model,
  request: OptimizeRequest,
): Promise<void> {
  const warmup = 2;
  const total = 2 + warmup + request.iterations;
  post({ kind: 'progress', label: 'loading both models in onnxruntime-web', done: 0, total });
  const options: ort.InferenceSession.SessionOptions = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
  const sessions = [
    await ort.InferenceSession.create(original, options),
    await ort.InferenceSession.create(optimized, options),
  ];
  try {
    const specs = describeInputs(model);
    const feeds = toWebFeeds(generateInputs(specs, { batch: 1, sequence: request.sequence }));
    const inputs = Object.entries(feeds)
      .map(([n, t]) => `${n} [${t.dims.join(', ')}]`)
      .join(', ');
    const times: number[][] = [[], []];
    for (let round = 0; round < warmup + request.iterations; round++) {
      post({ kind: 'progress', label: round < warmup ? 'warming up' : 'measuring latency', done: 2 + round, total });
      for (const [i, session] of sessions.entries()) {
        const t0 = performance.now();
        await session.run(feeds);
        if (round >= warmup) times[i]!.push(performance.now() - t0);
      }
    }
    post({
      kind: 'latency',
      runtime: `onnxruntime-web ${ort.env.versions.web} (WASM, 1 thread)`,
      inputs,
      before: latency(times[0]!),
      after: latency(times[1]!),
    });
  } finally {
    for (const s of sessions) await s.release();
  }
}
