import { definePass, type Need, type Pass } from '../pass/index.js';
import type { OptionSpecs } from '../pass/options.js';
import { applyRules } from './driver.js';
import type { Rule } from './rule.js';
import { formatNearMisses } from './tracer.js';

export interface RulePassSpec<S extends OptionSpecs = Record<never, never>> {
  name: string;
  description: string;
  /** Tried in this order at each node: larger patterns first. */
  rules: readonly Rule[];
  options?: S;
  needs?: readonly Need[];
  maxIterations?: number;
}

/**
 * A pass made of rules. Stats are the rewrites per rule; with `explain` the notes list the near-misses
 * (`Rule at 'node': reason`).
 */
export function rulePass<S extends OptionSpecs = Record<never, never>>(spec: RulePassSpec<S>): Pass<S> {
  return definePass<S>({
    name: spec.name,
    description: spec.description,
    options: spec.options,
    needs: spec.needs,
    run(model, context) {
      const result = applyRules(model, spec.rules, { explain: context.explain, maxIterations: spec.maxIterations });
      if (!result.converged)
        context.log(`${spec.name}: rules still applied after ${result.iterations} sweeps; stopped there`);
      const notes = formatNearMisses(result.nearMisses);
      return {
        changed: result.changed,
        stats: Object.fromEntries(Object.entries(result.counts).filter(([, n]) => n > 0)),
        ...(notes.length ? { notes } : {}),
      };
    },
  });
}
