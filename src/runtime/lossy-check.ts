// The self-check of lossy passes (quantize, fp16 and any pass declared `lossy`): after converting, the CLI runs the
// result and the model before the pass in onnxruntime on the same inputs (generated, or from --check-inputs) and
// refuses a result whose outputs point elsewhere (cosine below the threshold) or gained NaN or infinities. It lives
// here, at the edge: passes/ never imports onnxruntime.
import { EnvironmentError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { readInputsFile } from './data-files.js';
import type { Feeds } from './host-tensor.js';
import { describeInputs } from './inputs.js';
import { checkParity, describeFailure } from './parity.js';

/**
 * Each output's cosine similarity with the model before the pass must reach this. It catches broken results (fp16
 * overflow, INT8 cancellation: cosines of 0.4 and below), not the loss a working conversion has (static INT8 of
 * small models scores 0.95-0.99): --verify (0.99), parity --min-cosine and gate judge that.
 */
export const LOSSY_MIN_COSINE = 0.9;

export interface LossyCheckOptions {
  /** A data file of inputs (.npz, .npy or .json, as parity reads them); generated from the input types otherwise. */
  inputsFile?: string;
  /** Sizes of symbolic dims for generated inputs. */
  dims?: Record<string, number>;
  minCosine?: number;
}

export type LossyVerdict =
  | { kind: 'kept'; message: string }
  | { kind: 'broken'; message: string; outputs: string[] }
  /** onnxruntime-node is missing: nothing could be checked. */
  | { kind: 'unchecked'; message: string };

/** Compares `after` (the pass's result) with `before` (the model as it was) output by output. */
export async function checkLossyPass(
  before: Model,
  after: Model,
  passName: string,
  options: LossyCheckOptions = {},
): Promise<LossyVerdict> {
  const minCosine = options.minCosine ?? LOSSY_MIN_COSINE;
  const inputs: Feeds[] | undefined = options.inputsFile
    ? readInputsFile(options.inputsFile, describeInputs(before))
    : undefined;
  try {
    const report = await checkParity(before, after, {
      minCosine,
      samples: 2,
      batch: 2,
      sequence: 16,
      pad: true,
      ...(inputs ? { inputs } : {}),
      ...(options.dims ? { dims: options.dims } : {}),
      labels: [`before ${passName}`, `after ${passName}`],
    });
    const worst = Math.min(...report.outputs.map((o) => o.cosine));
    if (report.pass)
      return {
        kind: 'kept',
        message: `${passName}: checked in onnxruntime on ${report.samples} input samples: lowest output cosine ${worst.toFixed(6)}`,
      };
    return {
      kind: 'broken',
      message: `${passName} breaks the model: ${describeFailure(report)}`,
      outputs: report.outputs.filter((o) => !o.pass).map((o) => o.name),
    };
  } catch (e) {
    if (e instanceof EnvironmentError)
      return { kind: 'unchecked', message: `${passName}: result NOT checked: ${e.message}` };
    throw e;
  }
}
