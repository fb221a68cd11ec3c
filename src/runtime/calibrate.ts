// Calibration for quantize-static: runs the model in onnxruntime-node on calibration data, batch by batch, with the
// tensors to quantize exposed, and folds each batch into running statistics (src/tensor/calibration.ts), so no
// activation outlives its batch. For minmax the model itself reduces each tensor (ReduceMin/ReduceMax, as
// onnxruntime's MinMaxCalibrater adds them), so only two numbers per tensor leave the session; the histogram methods
// read the tensors whole. Graph optimizations are off, as in onnxruntime's calibrator, so the values measured are the
// ones the unfused model computes.
import { readFileSync } from 'node:fs';
import { quantizeStaticPass, staticPlacement, staticSettings } from '../../passes/quantize-static.js';
import { OnnxOptError } from '../errors.js';
import { readNpz } from '../io/npz.js';
import type { Node, Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { tensorType } from '../ir/types.js';
import type { PassContext, PassResult } from '../pass/index.js';
import { encodeModel } from '../serde/encode.js';
import {
  CALIBRATION_METHODS,
  createCalibrator,
  type CalibrationMethod,
  type TensorRange,
} from '../tensor/calibration.js';
import { DataType } from '../tensor/dtype.js';
import { readInputsFile } from './data-files.js';
import { castTo, sliceRows, type Feeds } from './host-tensor.js';
import { adaptFeeds, describeInputs, type InputSpec } from './inputs.js';
import { progressOnStderr } from './progress.js';
import { loadModel, type SessionSettings } from './session.js';

/** Calibration inputs: named arrays with the samples on the first axis, or runs given one by one (JSON). */
export interface CalibrationData {
  /** Samples in all. */
  count: number;
  /** The runs, `batch` samples each where the data can be split. */
  batches(batch: number): Feeds[];
}

export interface CalibrationOptions extends SessionSettings {
  method?: CalibrationMethod;
  percentile?: number;
  /** Samples per run (default 8); a model with a fixed batch dim runs that many. */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface CalibrationResult {
  ranges: Map<string, TensorRange>;
  method: CalibrationMethod;
  samples: number;
  runs: number;
  ms: number;
}

export const DEFAULT_CALIBRATION_BATCH = 8;

/** Reads calibration data: .npz (arrays named after the inputs; a `labels` array is ignored) or .json. */
export function readCalibrationData(path: string, specs: InputSpec[]): CalibrationData {
  if (path.toLowerCase().endsWith('.json')) {
    const runs = readInputsFile(path, specs);
    return { count: runs.reduce((n, f) => n + (Object.values(f)[0]?.dims[0] ?? 1), 0), batches: () => runs };
  }
  const arrays = readNpz(path);
  arrays.delete('labels');
  const known = specs.map((s) => s.name);
  for (const name of arrays.keys()) {
    if (!known.includes(name))
      throw new OnnxOptError(`array '${name}' is not a model input (inputs: ${known.join(', ')})`, path);
  }
  const inputs: Feeds = {};
  for (const spec of specs) {
    const t = arrays.get(spec.name);
    if (!t) throw new OnnxOptError(`no array for model input '${spec.name}'`, path);
    inputs[spec.name] = castTo(t, spec.dataType, `${path}: input '${spec.name}'`);
  }
  const count = Object.values(inputs)[0]?.dims[0];
  if (count === undefined || count === 0)
    throw new OnnxOptError('holds no samples (arrays need a sample axis first)', path);
  for (const [name, t] of Object.entries(inputs)) {
    if (t.dims[0] !== count)
      throw new OnnxOptError(`input '${name}' has ${t.dims[0]} samples, '${specs[0]!.name}' ${count}`, path);
  }
  return {
    count,
    batches(batch) {
      const runs: Feeds[] = [];
      for (let start = 0; start < count; start += batch) {
        const end = Math.min(start + batch, count);
        runs.push(Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, sliceRows(t, start, end)])));
      }
      return runs;
    },
  };
}

/**
 * The ranges of `tensors` (float values of `model`) over the data. The model is changed only while its augmented
 * copy is encoded, and restored before this returns.
 */
export async function calibrate(
  model: Model,
  tensors: readonly Value[],
  data: CalibrationData,
  options: CalibrationOptions = {},
): Promise<CalibrationResult> {
  const method = options.method ?? 'minmax';
  if (!CALIBRATION_METHODS.includes(method))
    throw new OnnxOptError(`unknown calibration method '${method}' (methods: ${CALIBRATION_METHODS.join(', ')})`);
  const calibrator = createCalibrator(method, { percentile: options.percentile });
  const t0 = performance.now();
  const specs = describeInputs(model);
  const fixed = specs.map((s) => s.dims[0]).find((d): d is number => typeof d === 'number');
  const batch = fixed ?? options.batchSize ?? DEFAULT_CALIBRATION_BATCH;
  if (!Number.isInteger(batch) || batch < 1)
    throw new OnnxOptError(`--calibration-batch must be a positive integer, not ${options.batchSize}`);
  const { bytes, reads } = augmented(model, tensors, method === 'minmax');
  const session = await loadModel(bytes, { ...options, optimization: 'disabled' }, 'calibration model');
  const runs = data.batches(batch);
  try {
    for (let i = 0; i < runs.length; i++) {
      const outputs = await session.run(adaptFeeds(runs[i]!, specs));
      for (const read of reads) {
        if (read.kind === 'range') {
          calibrator.addRange!(read.tensor, outputs[read.min]!.data[0] as number, outputs[read.max]!.data[0] as number);
        } else {
          calibrator.add(read.tensor, outputs[read.output]!.data as Float32Array);
        }
      }
      options.onProgress?.(i + 1, runs.length);
    }
  } finally {
    await session.release();
  }
  return { ranges: calibrator.ranges(), method, samples: data.count, runs: runs.length, ms: performance.now() - t0 };
}

type Read =
  { kind: 'range'; tensor: string; min: string; max: string } | { kind: 'values'; tensor: string; output: string };

/** The model's bytes with the tensors exposed (reduced to their min and max when `reduce`), and where to read them. */
function augmented(model: Model, tensors: readonly Value[], reduce: boolean): { bytes: Uint8Array; reads: Read[] } {
  const graph = model.graph;
  const outputsBefore = [...graph.outputs];
  const typesBefore = new Map(tensors.map((v) => [v, v.type]));
  const added: Node[] = [];
  const reads: Read[] = [];
  try {
    for (const v of tensors) {
      if (reduce) {
        const [min, max] = (['ReduceMin', 'ReduceMax'] as const).map((opType) => {
          const out = graph.newValue(`${v.name}_${opType}`, tensorType(DataType.FLOAT, []));
          added.push(
            graph.createNode({
              opType,
              inputs: [v],
              outputs: [out],
              attributes: [{ name: 'keepdims', type: 'int', value: 0 }],
              name: `${v.name}_${opType}`,
            }),
          );
          graph.outputs.push(out);
          return out.name;
        });
        reads.push({ kind: 'range', tensor: v.name, min: min!, max: max! });
      } else {
        if (!graph.outputs.includes(v)) {
          v.type ??= tensorType(DataType.FLOAT);
          graph.outputs.push(v);
        }
        reads.push({ kind: 'values', tensor: v.name, output: v.name });
      }
    }
    return { bytes: encodeModel(model), reads };
  } finally {
    graph.outputs.splice(0, graph.outputs.length, ...outputsBefore);
    for (const n of added) graph.removeNode(n);
    for (const [v, t] of typesBefore) v.type = t;
  }
}

/** Ranges from a --save-config record (`{ "ranges": { name: [min, max] } }`) or a bare `{ name: [min, max] }`. */
export function readRangesFile(path: string): Record<string, TensorRange> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OnnxOptError(
      code === 'ENOENT'
        ? 'no such file'
        : code
          ? `cannot be read (${code})`
          : `not valid JSON: ${(e as Error).message}`,
      path,
    );
  }
  const record = parsed as { ranges?: unknown };
  const ranges = typeof record === 'object' && record !== null && 'ranges' in record ? record.ranges : parsed;
  if (typeof ranges !== 'object' || ranges === null || Array.isArray(ranges)) {
    throw new OnnxOptError('holds no ranges: expected { "ranges": { tensor: [min, max] } }', path);
  }
  return ranges as Record<string, TensorRange>;
}

/** What the CLI runs for quantize-static: ranges from --ranges or from calibrating on --calibration, then the pass. */
export async function runQuantizeStatic(model: Model, context: PassContext): Promise<PassResult> {
  const options = quantizeStaticPass.settings(context.options);
  const run = (calibratedRanges: unknown) =>
    quantizeStaticPass.run(model, { ...context, options: { ...context.options, calibratedRanges } });
  if (options.ranges !== undefined && options.calibration !== undefined)
    throw new OnnxOptError('give --calibration or --ranges, not both');
  if (options.ranges !== undefined) {
    const result = run(readRangesFile(options.ranges));
    return { ...result, record: { ...result.record, rangesFrom: options.ranges } };
  }
  if (options.calibration === undefined) return quantizeStaticPass.run(model, context); // explains what it needs
  const calibrationFile = options.calibration;
  const placement = staticPlacement(model, staticSettings(options));
  const data = readCalibrationData(calibrationFile, describeInputs(model));
  const { method, percentile, calibrationBatch: batchSize } = options;
  const progress = progressOnStderr();
  let calibration: CalibrationResult;
  try {
    calibration = await calibrate(model, placement.calibrated, data, {
      method,
      percentile,
      batchSize,
      onProgress: (done, total) => progress.update(`calibrating (${method})`, done, total),
    });
  } catch (e) {
    throw e instanceof OnnxOptError ? e.inFile(calibrationFile) : e;
  } finally {
    progress.end();
  }
  context.log(
    `quantize-static: calibrated ${calibration.ranges.size} tensors on ${calibration.samples} samples ` +
      `(${calibration.runs} runs, ${method}) in ${(calibration.ms / 1000).toFixed(1)} s`,
  );
  const result = run(calibration.ranges);
  const { samples, runs } = calibration;
  return {
    ...result,
    record: {
      ...result.record,
      calibration: { file: calibrationFile, method, ...(method === 'percentile' ? { percentile } : {}), samples, runs },
    },
  };
}
