// The tests' one onnxruntime helper: seeded feeds for a model's inputs (or an .npz file's arrays), a run
// (onnxruntime's own optimizations off unless asked), and how two runs differ: the largest difference, the error
// (max, RMS, cosine) of one against the other.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { readNpz } from '../../src/io/npz.js';
import type { Model } from '../../src/ir/model.js';
import { elemTypeOf, staticShapeOf } from '../../src/ir/types.js';
import { cosine } from '../../src/runtime/gate.js';
import { ORT_TYPES } from '../../src/runtime/host-tensor.js';
import { checkParity } from '../../src/runtime/parity.js';
import { encodeModel } from '../../src/serde/encode.js';
import { F } from './build.js';
import { randomFloats } from './random.js';

/** Cosine similarity of two outputs' values (the gate's own). */
export { cosine };

/** Feeds for every graph input (float; static shapes, or dims given by name), from a seed. */
export function randomFeeds(
  model: Model,
  seed = 1,
  dims: Record<string, readonly number[]> = {},
): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  model.graph.inputs.forEach((v, i) => {
    const shape = dims[v.name] ?? staticShapeOf(v.type);
    if (!shape || elemTypeOf(v.type) !== F) throw new Error(`input '${v.name}' needs a static float shape`);
    const values = randomFloats(
      shape.reduce((a, b) => a * b, 1),
      seed * 101 + i,
    );
    feeds[v.name] = new ort.Tensor('float32', values, [...shape]);
  });
  return feeds;
}

/** onnxruntime's graph optimizations: off, or all of them. */
type Level = 'disabled' | 'all';

export interface OrtOutput {
  dims: readonly number[];
  data: Float32Array;
}

/**
 * An onnxruntime-node session for a model (its IR as encoded now, its bytes, or a file path) on one thread, with
 * onnxruntime's own graph optimizations off unless `level` is 'all', warnings off. Release it after.
 */
function ortSession(model: Model | Uint8Array | string, level: Level = 'disabled'): Promise<ort.InferenceSession> {
  const bytes =
    typeof model === 'string' ? readFileSync(model) : model instanceof Uint8Array ? model : encodeModel(model);
  return ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: level,
    intraOpNumThreads: 1,
    logSeverityLevel: 3,
  });
}

/**
 * `use` with one session per model (see `ortSession`) at `level`, or at its own of `level`'s list, released after,
 * also when `use` throws.
 */
export async function withSessions<T>(
  models: readonly (Model | Uint8Array | string)[],
  level: Level | readonly Level[],
  use: (sessions: ort.InferenceSession[]) => Promise<T>,
): Promise<T> {
  const sessions: ort.InferenceSession[] = [];
  try {
    for (const [i, model] of models.entries())
      sessions.push(await ortSession(model, typeof level === 'string' ? level : level[i]));
    return await use(sessions);
  } finally {
    for (const session of sessions) await session.release();
  }
}

/** Runs a model once (see `ortSession`) on the feeds its session declares; outputs as float32. */
export async function runOrt(
  model: Model | Uint8Array | string,
  feeds: Record<string, ort.Tensor>,
  level: Level = 'disabled',
): Promise<Record<string, OrtOutput>> {
  return withSessions([model], level, async ([session]) => {
    const out = await session!.run(Object.fromEntries(session!.inputNames.map((n) => [n, feeds[n]!])));
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { dims: t.dims, data: float32Of(t.data) }]));
  });
}

/** The outputs' values by name. */
export function valuesOf(outputs: Record<string, OrtOutput>): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(outputs).map(([k, o]) => [k, o.data]));
}

function float32Of(data: ort.Tensor['data']): Float32Array {
  if (data instanceof Float32Array) return data;
  return Float32Array.from(data as ArrayLike<number | bigint>, Number);
}

/** Largest absolute difference between two runs' outputs; throws when names or dims differ. */
export function maxDifference(a: Awaited<ReturnType<typeof runOrt>>, b: Awaited<ReturnType<typeof runOrt>>): number {
  const names = Object.keys(a).sort();
  if (names.join() !== Object.keys(b).sort().join()) throw new Error(`outputs ${names} vs ${Object.keys(b)}`);
  let worst = 0;
  for (const n of names) {
    if (a[n]!.dims.join() !== b[n]!.dims.join()) throw new Error(`${n}: dims ${a[n]!.dims} vs ${b[n]!.dims}`);
    a[n]!.data.forEach((x, i) => {
      const y = b[n]!.data[i]!;
      worst = Math.max(worst, Number.isNaN(x) && Number.isNaN(y) ? 0 : Math.abs(x - y));
    });
  }
  return worst;
}

/** The arrays of an .npz file as onnxruntime tensors; throws on a type onnxruntime-node cannot take. */
export function npzFeeds(path: string): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [key, array] of readNpz(path)) {
    const type = ORT_TYPES[array.dataType] as ort.Tensor.Type | undefined;
    if (!type) throw new Error(`${path}: ${key} has a type onnxruntime-node cannot take`);
    feeds[key] = new ort.Tensor(type, array.data as ort.Tensor.DataType, array.dims);
  }
  return feeds;
}

export interface OutputError {
  maxAbs: number;
  rms: number;
  cosine: number;
}

/** Largest absolute error, RMS error and cosine similarity of `actual` against `reference`. */
export function errorOf(reference: ArrayLike<number>, actual: ArrayLike<number>): OutputError {
  if (actual.length !== reference.length) throw new Error(`${actual.length} values against ${reference.length}`);
  let maxAbs = 0;
  let squares = 0;
  for (let i = 0; i < reference.length; i++) {
    const d = actual[i]! - reference[i]!;
    maxAbs = Math.max(maxAbs, Math.abs(d));
    squares += d * d;
  }
  return { maxAbs, rms: Math.sqrt(squares / reference.length), cosine: cosine(reference, actual) };
}

/** Prompts the export parity runs: batch 1 unpadded, batch 2 padded at two lengths. */
const PROMPT_SHAPES = [
  [1, 8, false],
  [2, 16, true],
  [2, 5, true],
] as const;

/**
 * `candidate` computes what the export at `file` computes, within 1e-4 absolute, on generated prompts of each shape
 * (onnxruntime's optimizations at `optimization`, or the parity check's default).
 */
export async function expectExportParity(file: string, candidate: Uint8Array, optimization?: Level): Promise<void> {
  for (const [batch, sequence, pad] of PROMPT_SHAPES) {
    const report = await checkParity(file, candidate, {
      batch,
      sequence,
      pad,
      ...(optimization ? { optimization } : {}),
      atol: 1e-4,
      rtol: 0,
      samples: 1,
      threads: 1,
    });
    const worst = Math.max(...report.outputs.map((o) => o.maxAbs));
    const shape = `${optimization ?? ''} b${batch} s${sequence}${pad ? ' padded' : ''}`;
    expect(report.pass, `${shape}: max abs ${worst}`).toBe(true);
  }
}
