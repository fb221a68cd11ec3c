// Runs every pass over one model's bytes the way a careless or hostile user would, and says what went wrong, if
// anything: a crash (an error other than a clear OnnxOptError), a pass that took too long, an output onnxruntime
// refuses although it accepted the input, or input bytes that changed. Used by test/corpus (seeded corpus kept in
// the repository) and `npm run bench -- fuzz` (2,000+ mutated inputs).
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { allPasses } from '../../passes/index.js';
import { OnnxOptError } from '../../src/errors.js';
import { readModelBytes } from '../../src/io/read.js';
import type { Pass } from '../../src/pass/index.js';
import { Graph, Value } from '../../src/ir/graph.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DataType } from '../../src/tensor/dtype.js';
import { seededRandom } from '../../src/tensor/random.js';
import { bigModel } from './big-graph.js';

/** A pass run past this is reported as a hang (runs are synchronous: it is measured, not interrupted). */
export const HANG_MS = 20_000;

export type Verdict =
  /** onnx-opt refused the input when reading it: one clear error. */
  | 'unreadable'
  /** The pass refused the model with a clear error (exit 2 in the CLI). */
  | 'refused'
  | 'ok'
  | 'crash'
  | 'hang'
  /** onnxruntime accepted the input and refuses the output. */
  | 'output-refused'
  /** The input's graphs have no cycle, the output's have. */
  | 'cycle-made'
  | 'input-modified';

export interface Run {
  pass: string;
  verdict: Verdict;
  detail?: string;
}

export const BAD: ReadonlySet<Verdict> = new Set(['crash', 'hang', 'output-refused', 'cycle-made', 'input-modified']);

/** Whether onnxruntime-node can create a session for the model (CPU, all warnings off). */
export async function ortAccepts(bytes: Uint8Array): Promise<{ ok: boolean; why?: string }> {
  try {
    const session = await ort.InferenceSession.create(bytes, {
      logSeverityLevel: 4,
      graphOptimizationLevel: 'disabled',
    });
    await session.release();
    return { ok: true };
  } catch (e) {
    return { ok: false, why: String((e as Error).message ?? e).split('\n')[0] };
  }
}

/** Every pass (or those given) over fresh decodes of `bytes`. */
export async function runEveryPass(
  bytes: Uint8Array,
  passes: readonly Pass[] = allPasses,
): Promise<{ inputAccepted: boolean; runs: Run[] }> {
  const original = bytes.slice();
  const inputAccepted = (await ortAccepts(bytes)).ok;
  const inputAcyclic = acyclic(bytes);
  const runs: Run[] = [];
  for (const pass of passes) {
    const run = await runOne(bytes, pass, inputAccepted, inputAcyclic);
    if (run.verdict !== 'crash' && !sameBytes(bytes, original))
      runs.push({ pass: pass.name, verdict: 'input-modified' });
    else runs.push(run);
  }
  return { inputAccepted, runs };
}

/** Whether the model's graphs can all be sorted topologically (false also when it cannot be read). */
function acyclic(bytes: Uint8Array): boolean {
  try {
    const model = readModelBytes(bytes, undefined, { checkExternal: false });
    for (const g of model.graph.allGraphs()) g.sortTopologically();
    return true;
  } catch {
    return false;
  }
}

async function runOne(bytes: Uint8Array, pass: Pass, inputAccepted: boolean, inputAcyclic: boolean): Promise<Run> {
  let model;
  try {
    model = readModelBytes(bytes);
  } catch (e) {
    return e instanceof OnnxOptError
      ? { pass: pass.name, verdict: 'unreadable' }
      : { pass: pass.name, verdict: 'crash', detail: `read: ${describe(e)}` };
  }
  const t0 = performance.now();
  let output: Uint8Array;
  try {
    pass.run(model, { options: {}, log: () => {} });
    output = encodeModel(model);
  } catch (e) {
    if (performance.now() - t0 > HANG_MS)
      return { pass: pass.name, verdict: 'hang', detail: `${(performance.now() - t0).toFixed(0)} ms` };
    return e instanceof OnnxOptError
      ? { pass: pass.name, verdict: 'refused', detail: e.message }
      : { pass: pass.name, verdict: 'crash', detail: describe(e) };
  }
  if (performance.now() - t0 > HANG_MS)
    return { pass: pass.name, verdict: 'hang', detail: `${(performance.now() - t0).toFixed(0)} ms` };
  if (inputAcyclic && !acyclic(output)) return { pass: pass.name, verdict: 'cycle-made' };
  if (inputAccepted) {
    const verdict = await ortAccepts(output);
    if (!verdict.ok) return { pass: pass.name, verdict: 'output-refused', detail: verdict.why };
  }
  return { pass: pass.name, verdict: 'ok' };
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Deterministic pseudo-random integers, so every mutated input can be made again from its seed. */
export function rng(seed: number): (below: number) => number {
  const next = seededRandom(seed);
  // the generator's 32 bits as an integer (exact: it divides them by 2^32), reduced below `below`
  return (below) => (next() * 2 ** 32) % below;
}

/**
 * One mutation of a model's bytes, chosen by the seed: flipped bits, bytes set to edge values (0, 0x7f, 0x80, 0xff),
 * a truncation, a copied run of bytes, or a varint made huge. Mostly small changes, so many inputs still parse.
 */
export function mutate(bytes: Uint8Array, seed: number): Uint8Array {
  const next = rng(seed);
  const out = bytes.slice();
  const kind = next(5);
  const at = () => next(out.byteLength);
  if (kind === 0) for (let i = 0, n = 1 + next(4); i < n; i++) out[at()]! ^= 1 << next(8);
  else if (kind === 1) for (let i = 0, n = 1 + next(3); i < n; i++) out[at()] = [0, 0x7f, 0x80, 0xff][next(4)]!;
  else if (kind === 2) return out.subarray(0, at());
  else if (kind === 3) {
    const from = at(),
      to = at(),
      length = 1 + next(32);
    out.copyWithin(to, from, Math.min(out.byteLength, from + length));
  } else {
    const i = at();
    out.set([0xff, 0xff, 0xff, 0xff, 0x0f].slice(0, Math.min(5, out.byteLength - i)), i);
  }
  return out;
}

/** y = x @ w, w [4, 4] holding `values`. */
export function matmulModel(values: readonly number[]): Uint8Array {
  const g = new Graph('g');
  const m = new Model(g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 17 }];
  const x = g.addInput(new Value('x', tensorType(DataType.FLOAT, [2, 4])));
  const w = g.adoptInitializer(new Value('w'), Tensor.fromArray('w', DataType.FLOAT, [4, 4], values));
  const y = g.createNode({ opType: 'MatMul', inputs: [x, w] }).output(0);
  y.type = tensorType(DataType.FLOAT, [2, 4]);
  g.outputs.push(y);
  return encodeModel(m);
}

/** The small valid models that mutations start from: a CNN (the fp16 fixture), LayerNorm/Gelu blocks, a MatMul. */
export function seedModels(): Record<string, Uint8Array> {
  return {
    cnn: readFileSync('fixtures/cnn.onnx'),
    blocks: encodeModel(bigModel(60, 4).model),
    matmul: matmulModel(Array.from({ length: 16 }, (_, i) => Math.sin(i))),
  };
}

/**
 * The fuzz run: `perSeed` mutations of each seed model (seeds 1..perSeed), every pass over each. Returns counts per
 * pass and verdict, and the bad runs.
 */
export async function fuzz(
  perSeed: number,
  log: (line: string) => void = () => {},
): Promise<{ counts: Map<string, Map<Verdict, number>>; bad: string[]; inputs: number }> {
  const counts = new Map<string, Map<Verdict, number>>();
  const bad: string[] = [];
  let inputs = 0;
  for (const [name, bytes] of Object.entries(seedModels())) {
    for (let seed = 1; seed <= perSeed; seed++) {
      const { runs } = await runEveryPass(mutate(bytes, seed));
      inputs++;
      for (const r of runs) {
        const perPass = counts.get(r.pass) ?? new Map<Verdict, number>();
        counts.set(r.pass, perPass);
        perPass.set(r.verdict, (perPass.get(r.verdict) ?? 0) + 1);
        if (BAD.has(r.verdict)) bad.push(`${name} seed ${seed}: ${r.pass}: ${r.verdict} ${r.detail ?? ''}`);
      }
      if (seed % 20 === 0) log(`fuzz: ${name} ${seed}/${perSeed}`);
    }
  }
  return { counts, bad, inputs };
}
