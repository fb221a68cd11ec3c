// The op-rule table: which rule infers which (domain, op type).

import type { Rule, RuleTable } from '../rule.js';
import { contribRules } from './contrib.js';
import { controlRules } from './control.js';
import { convRules } from './conv.js';
import { elementwiseRules } from './elementwise.js';
import { indexingRules } from './indexing.js';
import { layoutRules } from './layout.js';
import { linalgRules } from './linalg.js';
import { normRules } from './norm.js';
import { reduceRules } from './reduce.js';

const onnxRules: RuleTable = {
  ...elementwiseRules,
  ...layoutRules,
  ...indexingRules,
  ...reduceRules,
  ...linalgRules,
  ...convRules,
  ...normRules,
  ...controlRules,
};

// Maps rather than the tables themselves: looked up for every node at every inference
const byDomain = new Map<string, ReadonlyMap<string, Rule>>([
  ['', new Map(Object.entries(onnxRules))],
  ['com.microsoft', new Map(Object.entries(contribRules))],
]);

/** The rule for an op, if there is one ('ai.onnx' is the default domain). */
export function ruleFor(domain: string, opType: string): Rule | undefined {
  return byDomain.get(domain === 'ai.onnx' ? '' : domain)?.get(opType);
}
