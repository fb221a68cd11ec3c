// Shared by the fusion tests: counting ops, near-miss lines, and the exported transformer fixtures with their inputs.
import { existsSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { readNpz } from '../../src/io/npz.js';
import { readModel } from '../../src/io/read.js';
import type { Model } from '../../src/ir/model.js';
import type { PassResult } from '../../src/pipeline.js';
import { runOrt, valuesOf } from '../kit/ort.js';
import { ortTypeOf } from '../helpers/ort-tensor.js';

// The fuse-attention, fuse-rotary and fuse-gqa tests still take runPass from here (other helpers are changing them).
export { runPass } from '../kit/run-pass.js';

/** Nodes per op type, `domain::` prefixed outside the default domain. */
export function opCounts(model: Model): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of model.graph.nodes) {
    const key = n.domain ? `${n.domain}::${n.opType}` : n.opType;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** The near-miss lines of one rule (`Rule at 'node': reason`), from a pass run with explain. */
export function nearMisses(result: PassResult, ruleName: string): string[] {
  return (result.notes ?? []).filter((line) => line.startsWith(`${ruleName} at `));
}

// ---- fixtures ----

const FIXTURES = 'fixtures';
const MANIFEST = `${FIXTURES}/manifest.json`;

interface Manifest {
  settings: { layers: number };
  models: Record<string, { family: string; config: Record<string, unknown> }>;
}

export const manifest: Manifest | undefined = existsSync(MANIFEST)
  ? (JSON.parse(readFileSync(MANIFEST, 'utf8')) as Manifest)
  : undefined;

/** The exported transformer variants, e.g. bert-eager-ts14. */
export const fixtureNames: string[] = Object.keys(manifest?.models ?? {}).sort();

export function readFixture(name: string): Model {
  return readModel(`${FIXTURES}/${name}.onnx`);
}

export function fixtureFeeds(name: string): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [key, array] of readNpz(`${FIXTURES}/${name}.inputs.npz`)) {
    const type = ortTypeOf(array.dataType);
    if (!type) throw new Error(`${name}: input ${key} has a type onnxruntime-node cannot take`);
    feeds[key] = new ort.Tensor(type, array.data as ort.Tensor.DataType, array.dims);
  }
  return feeds;
}

export type Outputs = Record<string, Float32Array>;

/** The model's float outputs from onnxruntime-node at one optimization level. */
export async function runModel(
  model: Model,
  feeds: Record<string, ort.Tensor>,
  level: 'disabled' | 'all',
): Promise<Outputs> {
  return valuesOf(await runOrt(model, feeds, level));
}

/** Largest absolute difference over every output; throws when the outputs differ in names or sizes. */
export function maxAbsDiff(a: Outputs, b: Outputs): number {
  let worst = 0;
  for (const name of Object.keys(a)) {
    const x = a[name]!;
    const y = b[name];
    if (!y || y.length !== x.length) throw new Error(`output ${name} differs in presence or size`);
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  }
  return worst;
}

/** Rows of equal-width columns, for tables the test output prints. */
export function formatTable(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}
