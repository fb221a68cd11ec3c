import { OnnxOptError } from '../errors.js';
import type { Value } from '../ir/graph.js';
import {
  checkCaptureNames,
  PatternBuilder,
  patternNodes,
  type OpMatcher,
  type OutputPattern,
  type PatternOutput,
  type Verdict,
} from './builder.js';
import type { Match } from './match.js';
import type { RewriteBuilder } from './rewriter.js';

export interface RuleSpec {
  name: string;
  /** The pattern: one output (a node pattern means its output 0), or several for a multi-output match. */
  pattern: (p: PatternBuilder) => PatternOutput | readonly PatternOutput[];
  /** Conditions the pattern cannot say: true, or why not (a string shows in --explain). */
  check?: (match: Match) => Verdict;
  /** Builds the replacement and returns the values that take the place of the pattern's outputs, in order. */
  rewrite: (b: RewriteBuilder, match: Match) => Value | readonly Value[];
}

/** A rule with its pattern built once. */
export interface Rule extends RuleSpec {
  readonly outputs: readonly OutputPattern[];
  /** The op the first pattern output must come from: the driver tries the rule only at such nodes. */
  readonly root: OpMatcher;
  /** How many nodes the pattern covers (optional ones included). */
  readonly size: number;
}

export function rule(spec: RuleSpec): Rule {
  const built = spec.pattern(new PatternBuilder());
  const list = Array.isArray(built) ? (built as readonly PatternOutput[]) : [built as PatternOutput];
  if (list.length === 0) throw new OnnxOptError(`rule '${spec.name}': the pattern has no output`);
  for (const o of list) {
    if (o?.kind !== 'node' && o?.kind !== 'output') {
      throw new OnnxOptError(`rule '${spec.name}': a pattern output must be a node pattern or one of its outputs`);
    }
  }
  const outputs = list.map((o) => (o.kind === 'node' ? o.output(0) : o));
  try {
    checkCaptureNames(outputs);
  } catch (e) {
    throw new OnnxOptError(`rule '${spec.name}': ${(e as Error).message}`);
  }
  return { ...spec, outputs, root: outputs[0]!.node.op, size: patternNodes(outputs).length };
}

/** Rules ordered larger patterns first (stable), for rule sets whose author did not order them by hand. */
export function bySize(rules: readonly Rule[]): Rule[] {
  return rules
    .map((r, i) => ({ r, i }))
    .sort((a, b) => b.r.size - a.r.size || a.i - b.i)
    .map(({ r }) => r);
}
