// expectFusion: what every fusion test asserts, in one call, so a pass's tests read as a table of exporter forms.
import type * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import type { Model } from '../../src/ir/model.js';
import type { Pass, PassResult } from '../../src/pass/index.js';
import { decodeModel } from '../../src/serde/decode.js';
import { encodeModel } from '../../src/serde/encode.js';
import { copyModel, opCounts, opsOf } from './build.js';
import { maxDifference, randomFeeds, runOrt, type OrtOutput } from './ort.js';
import { runPass } from './run-pass.js';

type Feeds = Record<string, ort.Tensor>;

export interface FusionExpectation {
  /**
   * The ops after the pass (`domain::Op` outside the default domain): a list is every node's op in order; a record
   * counts only the ops it names, 0 meaning none left.
   */
  ops: Record<string, number> | readonly string[];
  /** The absolute difference between the outputs before and after, in onnxruntime, stays below this (default 1e-5). */
  tolerance?: number;
  /** Text each `--explain` note must contain, in order (a form the pass must refuse); default: no check. */
  explains?: readonly string[];
  /** The pass's stats, exactly; default: no check. */
  stats?: Record<string, number>;
  /** Feeds of the parity run, or of several; default `randomFeeds` (static float inputs only). */
  feeds?: Feeds | readonly Feeds[];
  /** How far the fused outputs are from the original's on some feeds; default `maxDifference` of every output. */
  difference?: (original: Record<string, OrtOutput>, fused: Record<string, OrtOutput>, feeds: Feeds) => number;
  /** False for a form onnxruntime cannot load (a near-miss kept as it is): no parity run. */
  runs?: boolean;
  /** onnxruntime optimization levels the fused model runs at, each against the original at 'disabled'. */
  levels?: readonly ('disabled' | 'all')[];
}

/** The fused copy and what the pass said of it (run with explain). */
export interface Fusion {
  model: Model;
  result: PassResult;
}

/**
 * Runs `pass` (with explain) on a copy of `model` and asserts: the ops; the stats and near-miss explanations when
 * given; parity with the original in onnxruntime (seeded feeds unless given); idempotence (a second run changes
 * nothing, byte for byte); determinism (another copy, run without explain, comes out byte-identical). Returns the
 * fused copy for the form's own checks.
 */
export async function expectFusion(pass: Pass, model: Model, expected: FusionExpectation): Promise<Fusion> {
  const fused = copyModel(model);
  const result = runPass(pass, fused, true);
  const notes = (result.notes ?? []).join('\n');
  if (Array.isArray(expected.ops)) expect(opsOf(fused.graph), `ops after ${pass.name}\n${notes}`).toEqual(expected.ops);
  else {
    const counts = opCounts(fused);
    for (const [op, n] of Object.entries(expected.ops))
      expect(counts[op] ?? 0, `${op} after ${pass.name}\n${notes}`).toBe(n);
  }
  if (expected.stats) expect(result.stats, notes).toEqual(expected.stats);
  if (expected.explains) {
    expect(result.notes ?? []).toHaveLength(expected.explains.length);
    expected.explains.forEach((text, i) => expect(result.notes![i]).toContain(text));
  }

  const feedSets = expected.runs === false ? [] : [expected.feeds ?? randomFeeds(model)].flat();
  const difference = expected.difference ?? maxDifference;
  for (const [i, feeds] of feedSets.entries()) {
    const reference = await runOrt(model, feeds);
    for (const level of expected.levels ?? ['disabled']) {
      const worst = difference(reference, await runOrt(fused, feeds, level), feeds);
      expect(worst, `${pass.name}: outputs before and after (${level}, feeds ${i})`).toBeLessThan(
        expected.tolerance ?? 1e-5,
      );
    }
  }

  const bytes = encodeModel(fused);
  const again = decodeModel(bytes);
  expect(runPass(pass, again).changed, `${pass.name} run twice`).toBe(false);
  expect(encodeModel(again), `${pass.name} run twice`).toEqual(bytes);
  const other = copyModel(model);
  runPass(pass, other);
  expect(encodeModel(other), `${pass.name} on another copy`).toEqual(bytes);
  return { model: fused, result };
}
