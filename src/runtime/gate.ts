// The accuracy gate: evaluate a baseline and a candidate model on a labelled dataset and refuse the candidate when
// its metric is worse by more than an allowed margin.
import { OnnxOptError } from '../errors.js';
import type { Dataset } from './data-files.js';
import { elementCount, sliceRows, toFloat64, type Feeds, type HostTensor } from './host-tensor.js';
import { adaptFeeds } from './inputs.js';
import { inputSpecsOf, loadModel, type LoadedModel, type ModelSource, type SessionSettings } from './session.js';

export type GateMetric = 'accuracy' | 'top5' | 'mse' | 'cosine';
export const GATE_METRICS: readonly GateMetric[] = ['accuracy', 'top5', 'mse', 'cosine'];

export interface GateProgress {
  model: 'baseline' | 'candidate';
  done: number;
  total: number;
}

export interface GateOptions extends SessionSettings {
  /** accuracy (default): argmax over the last axis equals the label; top5: the label is among the 5 largest;
   *  mse: mean squared error against float labels (lower is better); cosine: mean cosine similarity of each row
   *  (last axis) with the label row. Labels below 0 are ignored by accuracy and top5 (the usual ignore index). */
  metric?: GateMetric;
  /** The largest allowed worsening: baseline - candidate, or candidate - baseline for mse. */
  maxDrop: number;
  /** Samples per run (default 32; a model with a fixed batch dim uses that). */
  batchSize?: number;
  /** The output to score (default: the model's first output). */
  output?: string;
  onProgress?: (progress: GateProgress) => void;
}

export interface GateReport {
  metric: GateMetric;
  higherIsBetter: boolean;
  baseline: number;
  candidate: number;
  /** How much worse the candidate is (negative when it is better). */
  drop: number;
  maxDrop: number;
  pass: boolean;
  samples: number;
  output: string;
  /** accuracy/top5: the fraction of scored samples whose top-1 prediction is the same in both models. */
  agreement?: number;
}

/** Evaluates both models on the dataset and compares their metric against the allowed drop. */
export async function gateAccuracy(
  baseline: ModelSource,
  candidate: ModelSource,
  data: Dataset,
  options: GateOptions,
): Promise<GateReport> {
  const metric = options.metric ?? 'accuracy';
  if (!GATE_METRICS.includes(metric))
    throw new OnnxOptError(`unknown metric '${metric}' (metrics: ${GATE_METRICS.join(', ')})`);
  if (!Number.isFinite(options.maxDrop)) throw new OnnxOptError(`max drop must be a number, not ${options.maxDrop}`);
  const base = await evaluate(baseline, 'baseline', data, metric, options);
  const cand = await evaluate(candidate, 'candidate', data, metric, { ...options, output: base.output });
  const higherIsBetter = metric !== 'mse';
  const drop = higherIsBetter ? base.score - cand.score : cand.score - base.score;
  const report: GateReport = {
    metric,
    higherIsBetter,
    baseline: base.score,
    candidate: cand.score,
    drop,
    maxDrop: options.maxDrop,
    // The tiny slack keeps a drop equal to the limit (as printed) from failing on rounding.
    pass: drop <= options.maxDrop + 1e-12,
    samples: data.count,
    output: base.output,
  };
  if (base.predictions && cand.predictions) {
    let same = 0;
    let scored = 0;
    base.predictions.forEach((p, i) => {
      if (p < 0) return;
      scored++;
      if (p === cand.predictions![i]) same++;
    });
    report.agreement = scored ? same / scored : 1;
  }
  return report;
}

interface Evaluation {
  score: number;
  output: string;
  /** Top-1 class per scored row (-1 where the label is ignored), for accuracy and top5. */
  predictions?: number[];
}

async function evaluate(
  source: ModelSource,
  role: GateProgress['model'],
  data: Dataset,
  metric: GateMetric,
  options: GateOptions,
): Promise<Evaluation> {
  const model = await loadModel(source, options, typeof source === 'string' ? source : role);
  try {
    const specs = inputSpecsOf(model);
    const output = options.output ?? model.outputNames[0];
    if (!output || !model.outputNames.includes(output)) {
      throw new OnnxOptError(`has no output '${output}' (outputs: ${model.outputNames.join(', ')})`, model.label);
    }
    const batchSize = batchSizeFor(
      model,
      specs.map((s) => s.dims[0]),
      data.count,
      options.batchSize ?? 32,
    );
    const score = new MetricAccumulator(metric);
    for (let start = 0; start < data.count; start += batchSize) {
      const end = Math.min(start + batchSize, data.count);
      const feeds: Feeds = {};
      for (const [name, t] of Object.entries(data.inputs)) feeds[name] = sliceRows(t, start, end);
      const outputs = await model.run(adaptFeeds(feeds, specs));
      score.add(outputs[output]!, sliceRows(data.labels, start, end), model.label);
      options.onProgress?.({ model: role, done: end, total: data.count });
    }
    return { score: score.value(), output, ...(score.predictions ? { predictions: score.predictions } : {}) };
  } finally {
    await model.release();
  }
}

/** A fixed batch dim in the model wins over the requested size; the dataset must then divide into it. */
function batchSizeFor(model: LoadedModel, firstDims: unknown[], count: number, requested: number): number {
  if (!Number.isInteger(requested) || requested < 1)
    throw new OnnxOptError(`batch size must be a positive integer, not ${requested}`);
  const fixed = firstDims.find((d): d is number => typeof d === 'number');
  if (fixed === undefined) return requested;
  if (count % fixed !== 0) {
    throw new OnnxOptError(`has a fixed batch of ${fixed}, which does not divide the ${count} samples`, model.label);
  }
  return fixed;
}

class MetricAccumulator {
  private total = 0;
  private scored = 0;
  readonly predictions: number[] | undefined;

  constructor(private readonly metric: GateMetric) {
    this.predictions = metric === 'accuracy' || metric === 'top5' ? [] : undefined;
  }

  add(output: HostTensor, labels: HostTensor, label: string): void {
    const values = toFloat64(output);
    const truth = toFloat64(labels);
    const width = output.dims[output.dims.length - 1] ?? 1;
    const rows = width ? values.length / width : 0;
    if (this.metric === 'mse') {
      if (truth.length !== values.length) throw this.shapeError(output, labels, label, 'the same size as the output');
      for (let i = 0; i < values.length; i++) this.total += (values[i]! - truth[i]!) ** 2;
      this.scored += values.length;
      return;
    }
    if (this.metric === 'cosine') {
      if (truth.length !== values.length) throw this.shapeError(output, labels, label, 'the same size as the output');
      for (let r = 0; r < rows; r++)
        this.total += cosine(values.subarray(r * width, (r + 1) * width), truth.subarray(r * width, (r + 1) * width));
      this.scored += rows;
      return;
    }
    if (truth.length !== rows) throw this.shapeError(output, labels, label, 'one class index per output row');
    const k = this.metric === 'top5' ? 5 : 1;
    for (let r = 0; r < rows; r++) {
      const row = values.subarray(r * width, (r + 1) * width);
      const target = truth[r]!;
      if (target < 0) {
        this.predictions!.push(-1);
        continue;
      }
      if (!Number.isInteger(target) || target >= width) {
        throw new OnnxOptError(`label ${target} is not a class index of the output's ${width} classes`, label);
      }
      const top = argmax(row);
      this.predictions!.push(top);
      this.scored++;
      // The label is in the top k when fewer than k entries beat it (ties resolved for the label).
      if (k === 1 ? top === target : row.filter((v) => v > row[target]!).length < k) this.total++;
    }
  }

  value(): number {
    return this.scored ? this.total / this.scored : NaN;
  }

  private shapeError(output: HostTensor, labels: HostTensor, label: string, expected: string): OnnxOptError {
    return new OnnxOptError(
      `output [${output.dims.join(', ')}] and labels [${labels.dims.join(', ')}] do not fit the ${this.metric} metric (labels need ${expected}; ` +
        `${elementCount(output.dims)} output values)`,
      label,
    );
  }
}

function argmax(row: Float64Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** Cosine similarity: 1 for two zero vectors, 0 when only one is zero. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  if (na === 0 && nb === 0) return 1;
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
