// Numeric parity of two models: run both on the same inputs and compare every output.
import { OnnxOptError } from '../errors.js';
import { dataTypeName } from '../tensor/dtype.js';
import { OutputComparer, type OutputComparison, type Tolerance } from './compare.js';
import type { Feeds } from './host-tensor.js';
import { adaptFeeds, generateInputs, mergeInputSpecs, type GenerateOptions, type InputSpec } from './inputs.js';
import { inputSpecsOf, loadModel, type LoadedModel, type ModelSource, type SessionSettings } from './session.js';

export interface ParityOptions extends GenerateOptions, SessionSettings, Partial<Tolerance> {
  /** Inputs to run, one set per sample; generated from the models' input types when absent. */
  inputs?: Feeds[];
  /** How many generated samples to run (default 2). */
  samples?: number;
  /** Names for the two models in reports (default: their paths, else 'A' and 'B'). */
  labels?: [string, string];
}

export interface ParityReport {
  reference: string;
  candidate: string;
  /** Every output present in both models and within tolerance. */
  pass: boolean;
  /** Every output bitwise identical. */
  exact: boolean;
  samples: number;
  atol: number;
  rtol: number;
  minCosine?: number;
  /** The inputs of the first sample. */
  inputs: { name: string; type: string; shape: number[] }[];
  outputs: OutputComparison[];
}

export const DEFAULT_TOLERANCE = { atol: 1e-4, rtol: 1e-3 } as const;

/**
 * Runs `reference` and `candidate` on the same inputs and compares each output element-wise. An output passes when
 * |candidate - reference| <= atol + rtol * |reference| everywhere (numpy.allclose(candidate, reference)), NaN
 * matching NaN; with `minCosine`, when the cosine similarity reaches it instead.
 */
export async function checkParity(
  reference: ModelSource,
  candidate: ModelSource,
  options: ParityOptions = {},
): Promise<ParityReport> {
  const tolerance: Tolerance = {
    atol: options.atol ?? DEFAULT_TOLERANCE.atol,
    rtol: options.rtol ?? DEFAULT_TOLERANCE.rtol,
    ...(options.minCosine !== undefined ? { minCosine: options.minCosine } : {}),
  };
  for (const [k, v] of Object.entries(tolerance)) {
    if (!Number.isFinite(v) || v < 0) throw new OnnxOptError(`${k} must be a non-negative number, not ${v}`);
  }
  const labels = options.labels ?? [labelOf(reference, 'A'), labelOf(candidate, 'B')];
  const loaded: LoadedModel[] = [];
  try {
    loaded.push(await loadModel(reference, options, labels[0]));
    loaded.push(await loadModel(candidate, options, labels[1]));
    const [a, b] = loaded as [LoadedModel, LoadedModel];
    const specsA = inputSpecsOf(a);
    const specsB = inputSpecsOf(b);
    const samples = options.inputs ?? generatedSamples(mergeInputSpecs(specsA, specsB), options);
    if (samples.length === 0) throw new OnnxOptError('no input samples to run');

    const comparers = new Map<string, OutputComparer>();
    for (const name of [...a.outputNames, ...b.outputNames]) {
      if (!comparers.has(name)) comparers.set(name, new OutputComparer(name, tolerance));
    }
    for (const name of a.outputNames)
      if (!b.outputNames.includes(name)) comparers.get(name)!.fail(`missing in ${b.label}`);
    for (const name of b.outputNames)
      if (!a.outputNames.includes(name)) comparers.get(name)!.fail(`missing in ${a.label}`);

    for (const feeds of samples) {
      const outA = await a.run(adaptFeeds(feeds, specsA));
      const outB = await b.run(adaptFeeds(feeds, specsB));
      for (const [name, comparer] of comparers) {
        if (outA[name] && outB[name]) comparer.add(outA[name], outB[name]);
      }
    }
    const outputs = [...comparers.values()].map((c) => c.result());
    return {
      reference: a.label,
      candidate: b.label,
      pass: outputs.every((o) => o.pass),
      exact: outputs.every((o) => o.exact),
      samples: samples.length,
      atol: tolerance.atol,
      rtol: tolerance.rtol,
      ...(tolerance.minCosine !== undefined ? { minCosine: tolerance.minCosine } : {}),
      inputs: Object.entries(samples[0]!).map(([name, t]) => ({ name, type: dataTypeName(t.dataType), shape: t.dims })),
      outputs,
    };
  } finally {
    for (const m of loaded) await m.release();
  }
}

function generatedSamples(specs: InputSpec[], options: ParityOptions): Feeds[] {
  const count = options.samples ?? 2;
  if (!Number.isInteger(count) || count < 1) throw new OnnxOptError(`samples must be a positive integer, not ${count}`);
  return Array.from({ length: count }, (_, i) => generateInputs(specs, { ...options, batch: options.batch ?? 2 }, i));
}

function labelOf(source: ModelSource, fallback: string): string {
  return typeof source === 'string' ? source : fallback;
}

/** A one-line summary of the worst output, for error messages. */
export function describeFailure(report: ParityReport): string {
  const bad = report.outputs.filter((o) => !o.pass);
  if (bad.length === 0) return 'all outputs match';
  return bad
    .map((o) => {
      if (o.problem) return `output '${o.name}': ${o.problem}`;
      const nan = o.nan.candidate !== o.nan.reference ? `, NaN ${o.nan.reference} vs ${o.nan.candidate}` : '';
      if (report.minCosine !== undefined)
        return `output '${o.name}': cosine ${o.cosine.toFixed(6)} < ${report.minCosine}${nan}`;
      return (
        `output '${o.name}': ${o.mismatches} of ${o.elements} elements outside atol ${report.atol} + rtol ${report.rtol}` +
        ` (max abs diff ${o.maxAbs.toPrecision(3)}, max rel ${o.maxRel.toPrecision(3)}${nan})`
      );
    })
    .join('; ');
}
