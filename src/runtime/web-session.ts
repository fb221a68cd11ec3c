// onnxruntime-web sessions (its WASM backend, the CPU provider in WebAssembly) behind the same LoadedModel as
// onnxruntime-node's, so parity and bench measure the runtime a web page gets (`--runtime web`).
import { readFileSync } from 'node:fs';
import { EnvironmentError, OnnxOptError } from '../errors.js';
import { readModel, readModelBytes } from '../io/read.js';
import type { Model } from '../ir/model.js';
import { encodeModel } from '../serde/encode.js';
import { ORT_TYPES } from './host-tensor.js';
import { openSession } from './ort-session.js';
import type { LoadedModel, ModelSource, SessionSettings } from './session.js';

type WebOrt = typeof import('onnxruntime-web');
let webOrt: Promise<WebOrt> | undefined;

/** onnxruntime-web, loaded on first use (an optional dependency: only `--runtime web` needs it). */
async function loadWebOrt(threads: number): Promise<WebOrt> {
  webOrt ??= import('onnxruntime-web').then(
    (ort) => {
      // set once: onnxruntime-web reads its thread count when its WASM module starts
      ort.env.wasm.numThreads = threads;
      ort.env.logLevel = 'fatal';
      return ort;
    },
    (e: unknown) => {
      webOrt = undefined;
      throw new EnvironmentError(
        `--runtime web needs onnxruntime-web, which failed to load (${String((e as Error).message ?? e).split('\n')[0]}). ` +
          'Install it beside onnx-opt: npm install onnxruntime-web',
        undefined,
        { cause: e },
      );
    },
  );
  return webOrt;
}

/** The model's IR and the bytes onnxruntime-web loads: external weights are inlined, since it reads no files. */
function resolve(source: ModelSource): { model: Model; bytes: Uint8Array } {
  if (typeof source === 'string') {
    const model = readModel(source);
    const external = model.graph.initializers.some((v) => v.initializer!.externalSource);
    return { model, bytes: external ? encodeModel(model) : readFileSync(source) };
  }
  if (source instanceof Uint8Array) return { model: readModelBytes(source, undefined), bytes: source };
  return { model: source, bytes: encodeModel(source) };
}

export async function loadWebModel(
  source: ModelSource,
  settings: SessionSettings,
  threads: number,
  label?: string,
): Promise<LoadedModel> {
  const ort = await loadWebOrt(threads);
  const { model, bytes } = resolve(source);
  const name = label ?? (typeof source === 'string' ? source : '<model>');
  return openSession({
    runtime: 'onnxruntime-web',
    label: name,
    model,
    create: () =>
      ort.InferenceSession.create(bytes, {
        executionProviders: ['wasm'],
        graphOptimizationLevel: settings.optimization ?? 'all',
        logSeverityLevel: 4,
      }),
    toTensor: (input, t) => {
      const type = ORT_TYPES[t.dataType];
      if (!type) throw new OnnxOptError(`input '${input}' has a type onnxruntime-web cannot take`, name);
      return new ort.Tensor(type as never, t.data as never, t.dims);
    },
  });
}
