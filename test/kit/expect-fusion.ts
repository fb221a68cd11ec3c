// expectFusion: what every fusion test asserts, in one call, so a pass's tests read as a table of exporter forms.
import { expect } from 'vitest';
import type { Model } from '../../src/ir/model.js';
import type { Pass } from '../../src/pass/index.js';
import { decodeModel } from '../../src/serde/decode.js';
import { encodeModel } from '../../src/serde/encode.js';
import { opsOf } from './build.js';
import { maxDifference, randomFeeds, runOrt } from './ort.js';
import { runPass } from './run-pass.js';

export interface FusionExpectation {
  /** Op counts after the pass (`domain::Op` outside the default domain); 0 means none left. */
  ops: Record<string, number>;
  /** Largest absolute difference allowed between the outputs before and after, in onnxruntime (default 1e-5). */
  tolerance?: number;
  /** Text each `--explain` note must contain, in order (a form the pass must refuse); default: no check. */
  explains?: readonly string[];
}

const copy = (model: Model): Model => decodeModel(encodeModel(model));

/**
 * Runs `pass` on a copy of `model` and asserts: the op counts; parity with the original in onnxruntime (inputs of
 * static float shapes, seeded); idempotence (a second run changes nothing, byte for byte); determinism (another
 * copy comes out byte-identical); and, when given, the near-miss explanations.
 */
export async function expectFusion(pass: Pass, model: Model, expected: FusionExpectation): Promise<void> {
  const fused = copy(model);
  const result = runPass(pass, fused, expected.explains !== undefined);
  const counts: Record<string, number> = {};
  for (const op of opsOf(fused.graph)) counts[op] = (counts[op] ?? 0) + 1;
  for (const [op, n] of Object.entries(expected.ops)) expect(counts[op] ?? 0, `${op} after ${pass.name}`).toBe(n);
  if (expected.explains) {
    expect(result.notes ?? []).toHaveLength(expected.explains.length);
    expected.explains.forEach((text, i) => expect(result.notes![i]).toContain(text));
  }

  const feeds = randomFeeds(model);
  const difference = maxDifference(await runOrt(model, feeds), await runOrt(fused, feeds));
  expect(difference, `${pass.name}: outputs before and after`).toBeLessThanOrEqual(expected.tolerance ?? 1e-5);

  const bytes = encodeModel(fused);
  const again = decodeModel(bytes);
  expect(runPass(pass, again).changed, `${pass.name} run twice`).toBe(false);
  expect(encodeModel(again), `${pass.name} run twice`).toEqual(bytes);
  const other = copy(model);
  runPass(pass, other);
  expect(encodeModel(other), `${pass.name} on another copy`).toEqual(bytes);
}
