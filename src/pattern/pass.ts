import type { Pass } from '../pipeline.js';
import { applyRules } from './driver.js';
import type { Rule } from './rule.js';
import { formatNearMisses } from './tracer.js';

export interface RulePassSpec {
  name: string;
  description: string;
  /** Tried in this order at each node: larger patterns first. */
  rules: readonly Rule[];
  maxIterations?: number;
}

/**
 * A pass made of rules. Stats are the rewrites per rule; with `options.explain === true` the notes list the
 * near-misses (`Rule at 'node': reason`).
 */
export function rulePass(spec: RulePassSpec): Pass {
  return {
    name: spec.name,
    description: spec.description,
    run(model, context) {
      const result = applyRules(model, spec.rules, { explain: context.options.explain === true, maxIterations: spec.maxIterations });
      if (!result.converged) context.log(`${spec.name}: rules still applied after ${result.iterations} sweeps; stopped there`);
      const notes = formatNearMisses(result.nearMisses);
      return {
        changed: result.changed,
        stats: Object.fromEntries(Object.entries(result.counts).filter(([, n]) => n > 0)),
        ...(notes.length ? { notes } : {}),
      };
    },
  };
}
