// What onnxruntime-node's and onnxruntime-web's sessions share behind LoadedModel: the load timed, inputs fed in
// the order the session declares, errors in one line naming the model.
import { OnnxOptError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { fromOrt, type Feeds, type HostTensor, type OrtTensorLike } from './host-tensor.js';
import type { LoadedModel } from './session.js';

/** The part of an InferenceSession (either runtime's) that LoadedModel uses; `T` is that runtime's tensor. */
export interface OrtSession<T> {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, T>): Promise<Record<string, unknown>>;
  release(): Promise<void>;
}

export interface SessionParts<T> {
  /** 'onnxruntime' or 'onnxruntime-web', as the messages name it. */
  runtime: string;
  /** The model's label in messages. */
  label: string;
  model: Model;
  create(): Promise<OrtSession<T>>;
  /** The runtime's tensor for one input's host tensor; throws when the runtime cannot take it. */
  toTensor(input: string, t: HostTensor): T;
}

const oneLine = (e: unknown) =>
  String((e as Error)?.message ?? e)
    .replace(/\s*\n\s*/g, ' ')
    .trim();

/** Creates the session (timed) and wraps it as a LoadedModel. */
export async function openSession<T>(parts: SessionParts<T>): Promise<LoadedModel> {
  const { runtime, label, model, toTensor } = parts;
  const t0 = performance.now();
  let session: OrtSession<T>;
  try {
    session = await parts.create();
  } catch (e) {
    throw new OnnxOptError(`${runtime} cannot load the model: ${oneLine(e)}`, label, { cause: e });
  }
  const loadMs = performance.now() - t0;
  return {
    label,
    model,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    loadMs,
    async run(feeds: Feeds): Promise<Feeds> {
      const ortFeeds: Record<string, T> = {};
      for (const input of session.inputNames) {
        const t = feeds[input];
        if (!t) throw new OnnxOptError(`no value given for input '${input}'`, label);
        ortFeeds[input] = toTensor(input, t);
      }
      let results: Record<string, unknown>;
      try {
        results = await session.run(ortFeeds);
      } catch (e) {
        throw new OnnxOptError(`${runtime} failed to run the model: ${oneLine(e)}`, label, { cause: e });
      }
      const out: Feeds = {};
      for (const [k, v] of Object.entries(results)) out[k] = fromOrt(k, v as OrtTensorLike);
      return out;
    },
    release: () => session.release(),
  };
}
