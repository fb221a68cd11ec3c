// Running one pass the way the CLI does, quietly, with or without its --explain notes.
import { expect } from 'vitest';
import type { Model } from '../../src/ir/model.js';
import { encodeModel } from '../../src/serde/encode.js';
import type { Pass, PassResult } from '../../src/pass/index.js';

export function runPass(pass: Pass, model: Model, explain = false): PassResult {
  return pass.run(model, { options: { explain }, log: () => {} });
}

/** The near-miss lines of one rule (`Rule at 'node': reason`), from a pass run with explain. */
export function nearMisses(result: PassResult, ruleName: string): string[] {
  return (result.notes ?? []).filter((line) => line.startsWith(`${ruleName} at `));
}

/** `pass` makes the same bytes of two models `build` makes alike. */
export function expectDeterministic(pass: Pass, build: () => Model): void {
  const [a, b] = [build(), build()];
  runPass(pass, a);
  runPass(pass, b);
  expect(encodeModel(a), `${pass.name} twice`).toEqual(encodeModel(b));
}
