// Shared by the fusion tests: the exported transformer fixtures with their inputs, run through passes and compared
// with themselves unfused, and the tables the tests print of them. (Graph building, ops, onnxruntime: test/kit.)
import { existsSync, readFileSync } from 'node:fs';
import type * as ort from 'onnxruntime-node';
import { afterAll } from 'vitest';
import { readModel } from '../../src/io/read.js';
import type { Model } from '../../src/ir/model.js';
import type { Pass } from '../../src/pass/index.js';
import { inferShapes } from '../../src/shape/index.js';
import { maxDifference, npzFeeds, runOrt, runPass } from '../kit/index.js';

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
  return npzFeeds(`${FIXTURES}/${name}.inputs.npz`);
}

/**
 * A fixture through `passes` as fuse runs them: types first when `typesFirst` (so cleanup drops the Casts to float32
 * of float32 values, as in T5's RMSNorm).
 */
export function fuseFixture(name: string, passes: readonly Pass[], typesFirst = true): Model {
  const model = readFixture(name);
  if (typesFirst) inferShapes(model);
  for (const pass of passes) runPass(pass, model);
  return model;
}

/** Largest difference between the fixture as exported (run 'disabled') and `model` at each level, on its inputs. */
export async function fixtureDifferences<L extends 'disabled' | 'all'>(
  name: string,
  model: Model,
  levels: readonly L[],
): Promise<Record<L, number>> {
  const feeds = fixtureFeeds(name);
  const reference = await runOrt(readFixture(name), feeds);
  const differences = {} as Record<L, number>;
  for (const level of levels) differences[level] = maxDifference(reference, await runOrt(model, feeds, level));
  return differences;
}

/** Rows the tests fill, printed as one table after them all (when any were filled). */
export function reportTable(title: string, header: readonly string[]): (string | number)[][] {
  const rows: (string | number)[][] = [];
  afterAll(() => {
    if (rows.length) console.log(`${title}\n${formatTable(header, rows)}`);
  });
  return rows;
}

/** Rows of equal-width columns, for tables the test output prints. */
export function formatTable(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}
