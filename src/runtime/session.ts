// onnxruntime-node sessions with the settings every runtime tool shares.
import { availableParallelism } from 'node:os';
import type * as Ort from 'onnxruntime-node';
import { OnnxOptError } from '../errors.js';
import { readModel, readModelBytes } from '../io/read.js';
import type { Model } from '../ir/model.js';
import { dataTypeName } from '../tensor/dtype.js';
import { encodeModel } from '../serde/encode.js';
import { ORT_TYPES, type Feeds, type HostTensor } from './host-tensor.js';
import { describeInputs, type InputSpec } from './inputs.js';
import { onnxruntime, type OnnxRuntime } from './onnxruntime.js';
import { openSession } from './ort-session.js';

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

/**
 * Loads a model into an onnxruntime session. Bad files and models onnxruntime rejects raise OnnxOptError; a missing
 * onnxruntime-node raises EnvironmentError.
 */
export async function loadModel(
  source: ModelSource,
  settings: SessionSettings = {},
  label?: string,
): Promise<LoadedModel> {
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
  const options = sessionOptions(settings);
  return openSession({
    runtime: 'onnxruntime',
    label: label ?? (typeof source === 'string' ? source : '<model>'),
    model,
    create: () =>
      typeof payload === 'string'
        ? ort.InferenceSession.create(payload, options)
        : ort.InferenceSession.create(payload, options),
    toTensor: (_input, t) => toOrt(ort, t),
  });
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
