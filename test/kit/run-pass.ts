// Running one pass the way the CLI does, quietly, with or without its --explain notes.
import type { Model } from '../../src/ir/model.js';
import type { Pass, PassResult } from '../../src/pass/index.js';

export function runPass(pass: Pass, model: Model, explain = false): PassResult {
  return pass.run(model, { options: { explain }, log: () => {} });
}

/** The near-miss lines of one rule (`Rule at 'node': reason`), from a pass run with explain. */
export function nearMisses(result: PassResult, ruleName: string): string[] {
  return (result.notes ?? []).filter((line) => line.startsWith(`${ruleName} at `));
}
