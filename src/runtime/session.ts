// onnxruntime-node sessions with the settings every runtime tool shares.
import { availableParallelism } from 'node:os';
import type * as Ort from 'onnxruntime-node';
import { OnnxOptError } from '../errors.js';
import { readModel, readModelBytes } from '../io/read.js';
import type { Model } from '../ir/model.js';
import { dataTypeName } from '../tensor/dtype.js';
import { encodeModel } from '../serde/encode.js';
import { fromOrt, ORT_TYPES, type Feeds, type HostTensor } from './host-tensor.js';
import { describeInputs, type InputSpec } from './inputs.js';
import { onnxruntime, type OnnxRuntime } from './onnxruntime.js';

/** A model to run: a file path (external data resolved beside it), the bytes of a model, or an IR model. */
export type ModelSource = string | Uint8Array | Model;

export interface SessionSettings {
  /** Intra-op threads (default: the number of cores). */
  threads?: number;
  /** onnxruntime's load-time graph optimizations (default 'all', as in production). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Let idle worker threads spin (default false). With several sessions in one process on few cores, spinning
   * threads of idle sessions steal the cores from the one that runs and inflate every timing.
   */
  spinning?: boolean;
  /** Which onnxruntime runs the model: onnxruntime-node (default) or onnxruntime-web's WASM backend. */
  runtime?: 'node' | 'web';
}

export interface LoadedModel {
  /** The path, or the label given for bytes and IR models; used in messages and reports. */
  label: string;
  /** The model's IR, for input and output metadata. */
  model: Model;
  inputNames: readonly string[];
  outputNames: readonly string[];
  /** Milliseconds onnxruntime took to create the session. */
  loadMs: number;
  /** Runs the model on the feeds it declares (others are ignored); errors name the model. */
  run(feeds: Feeds): Promise<Feeds>;
  release(): Promise<void>;
}

/** Intra-op threads when none are asked for: one per core. */
export const defaultThreads = (): number => availableParallelism();

function sessionOptions(settings: SessionSettings = {}): Ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: settings.threads ?? defaultThreads(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: settings.optimization ?? 'all',
    // Only fatal messages: warnings would clutter the tools' stderr, and errors come back as exceptions that the
    // tools report in one line.
    logSeverityLevel: 4,
    extra: { session: { intra_op: { allow_spinning: settings.spinning ? '1' : '0' } } },
  };
}

const oneLine = (e: unknown) => String((e as Error)?.message ?? e).replace(/\s*\n\s*/g, ' ').trim();

/**
 * Loads a model into an onnxruntime session. Bad files and models onnxruntime rejects raise OnnxOptError; a missing
 * onnxruntime-node raises EnvironmentError.
 */
export async function loadModel(source: ModelSource, settings: SessionSettings = {}, label?: string): Promise<LoadedModel> {
  if (settings.runtime === 'web') {
    const { loadWebModel } = await import('./web-session.js');
    return loadWebModel(source, settings, settings.threads ?? defaultThreads(), label);
  }
  const ort = await onnxruntime();
  let model: Model;
  let payload: string | Uint8Array;
  if (typeof source === 'string') {
    model = readModel(source); // also the check that the file exists and is a model, with a clear message
    payload = source;
  } else if (source instanceof Uint8Array) {
    model = readModelBytes(source, undefined);
    payload = source;
  } else {
    model = source;
    payload = encodeModel(source);
  }
  const name = label ?? (typeof source === 'string' ? source : '<model>');

  const t0 = performance.now();
  let session: Ort.InferenceSession;
  try {
    const options = sessionOptions(settings);
    session = typeof payload === 'string'
      ? await ort.InferenceSession.create(payload, options)
      : await ort.InferenceSession.create(payload, options);
  } catch (e) {
    throw new OnnxOptError(`onnxruntime cannot load the model: ${oneLine(e)}`, name, { cause: e });
  }
  const loadMs = performance.now() - t0;

  return {
    label: name,
    model,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    loadMs,
    async run(feeds: Feeds): Promise<Feeds> {
      const ortFeeds: Record<string, Ort.Tensor> = {};
      for (const input of session.inputNames) {
        const t = feeds[input];
        if (!t) throw new OnnxOptError(`no value given for input '${input}'`, name);
        ortFeeds[input] = toOrt(ort, t);
      }
      let results: Ort.InferenceSession.ReturnType;
      try {
        results = await session.run(ortFeeds);
      } catch (e) {
        throw new OnnxOptError(`onnxruntime failed to run the model: ${oneLine(e)}`, name, { cause: e });
      }
      const out: Feeds = {};
      for (const [k, v] of Object.entries(results)) out[k] = fromOrt(k, v as Ort.Tensor);
      return out;
    },
    release: () => session.release(),
  };
}

/** The inputs a loaded model needs, with errors naming the model. */
export function inputSpecsOf(m: LoadedModel): InputSpec[] {
  try {
    return describeInputs(m.model);
  } catch (e) {
    throw e instanceof OnnxOptError ? e.inFile(m.label) : e;
  }
}

function toOrt(ort: OnnxRuntime, t: HostTensor): Ort.Tensor {
  const type = ORT_TYPES[t.dataType] as Ort.Tensor.Type | undefined;
  if (!type) throw new OnnxOptError(`${dataTypeName(t.dataType)} tensors cannot be passed to onnxruntime-node`);
  return new ort.Tensor(type, t.data as Ort.Tensor.DataType, t.dims);
}
