// Parity after each pass of a pipeline (`--verify`): the model after a pass must compute what it computed before.
import { readModelBytes } from '../io/read.js';
import type { Model } from '../ir/model.js';
import { encodeModel } from '../serde/encode.js';
import { checkParity, describeFailure, type ParityOptions, type ParityReport } from './parity.js';

export interface VerifyOptions extends Omit<ParityOptions, 'inputs' | 'labels'> {
  /**
   * The pass changes numbers on purpose (INT8, FP16): judge it by direction, cosine similarity at least
   * `minCosine` (default 0.99), instead of closeness.
   */
  lossy?: boolean;
}

export interface StepVerdict {
  pass: boolean;
  passName: string;
  report: ParityReport;
  /** One line naming the pass: what broke, or that parity holds. */
  message: string;
}

/**
 * The model's bytes, taken before a pass runs (passes edit the model in place). Tensors that still sit unchanged
 * in an external file stay references to it, so a snapshot does not copy the weights and a restored model keeps
 * its external data.
 */
export function snapshotModel(model: Model): Uint8Array {
  return encodeModel(model, (t) => t.externalSource?.where ?? 'inline');
}

/** The model a snapshot holds; `path` is the file the model was read from (it anchors external data). */
export function restoreModel(snapshot: Uint8Array, path?: string): Model {
  return readModelBytes(snapshot, path);
}

/** Default inputs for verification: two samples of batch 2 with padded masks, so masking paths are exercised. */
const VERIFY_DEFAULTS: VerifyOptions = { samples: 2, batch: 2, sequence: 16, pad: true };

/**
 * Checks one pass: runs the model before it and after it on the same generated inputs and compares every output.
 * `before` is a separate Model object, or self-contained model bytes (onnxruntime cannot resolve external data
 * of bytes: pass `restoreModel(snapshot, path)` for snapshots of models with external data).
 */
export async function verifyStep(
  before: Uint8Array | Model,
  after: Model,
  passName: string,
  options: VerifyOptions = {},
): Promise<StepVerdict> {
  const settings: ParityOptions = {
    ...VERIFY_DEFAULTS,
    ...withoutUndefined(options),
    labels: [`before ${passName}`, `after ${passName}`],
  };
  if (options.lossy) settings.minCosine = options.minCosine ?? 0.99;
  const report = await checkParity(before, after, settings);
  const message = report.pass
    ? `pass '${passName}' keeps parity (${report.exact ? 'bitwise identical' : `max abs diff ${maxAbs(report).toPrecision(3)}`})`
    : `pass '${passName}' breaks parity: ${describeFailure(report)}`;
  return { pass: report.pass, passName, report, message };
}

/**
 * The pipeline's side of `--verify`: holds the last model that kept parity, checks each pass against it, and
 * hands it back when a pass's result is to be discarded (`--verify=skip`).
 */
export class PassVerifier {
  private lastGood: Uint8Array;

  /** `path` is the input model's file, named in errors of the restored model. */
  constructor(
    model: Model,
    private readonly options: VerifyOptions = {},
    private readonly path?: string,
  ) {
    this.lastGood = snapshotModel(model);
  }

  /** Verifies the model after a pass; when parity holds, it becomes the new reference. */
  async check(
    model: Model,
    passName: string,
    perPass: Pick<VerifyOptions, 'lossy' | 'minCosine'> = {},
  ): Promise<StepVerdict> {
    const before = restoreModel(this.lastGood, this.path);
    const verdict = await verifyStep(before, model, passName, { ...this.options, ...withoutUndefined(perPass) });
    if (verdict.pass) this.lastGood = snapshotModel(model);
    return verdict;
  }

  /** The last model that kept parity (a fresh copy), to carry on from when a pass is skipped. */
  restore(): Model {
    return restoreModel(this.lastGood, this.path);
  }
}

const maxAbs = (r: ParityReport) => Math.max(0, ...r.outputs.map((o) => o.maxAbs));

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
