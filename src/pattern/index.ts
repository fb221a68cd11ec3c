// Declarative rewrite rules. A fusion is a list of rules; applyRules (or rulePass) runs them to a fixpoint.
//
//   const biasGelu = rule({
//     name: 'BiasGelu',
//     pattern: (p) => p.op({ domain: 'com.microsoft', type: 'Gelu' }, [p.op('Add', [p.var('x'), p.const('bias', oneD())], { commutative: true })]),
//     check: (m) => hasRank(3)(m.value('x')),
//     rewrite: (b, m) => b.op('com.microsoft', 'BiasGelu', [m.value('x'), m.value('bias')]),
//   });
//   export const fuseGeluPass = rulePass({ name: 'fuse-gelu', description: '...', rules: [geluErf, biasGelu] });
//
// Patterns: p.op(types, inputs, { commutative, attrs, where, moreInputs }) with .as(name) / .output(i);
// p.var(name?, predicate?), p.any(), p.const(name?, predicate?), p.optional(types, input). A name binds one value
// wherever it appears; a node pattern object used twice is one node. Predicates answer true or a reason.
// The driver rejects matches whose intermediates are read outside them, removes the matched nodes left dead, gives
// a new output the replaced output's name and type, and with { explain: true } reports near-misses per rule.
// At each node the rules are tried in list order: list larger patterns first (or use bySize). Rules fire at the
// first node in graph order where they match, so a small rule whose root lies inside a larger pattern can claim
// those nodes first: keep such rules in a later pass.
export {
  PatternBuilder,
  NodePattern,
  OutputPattern,
  VarPattern,
  ConstPattern,
  OptionalPattern,
  OpMatcher,
  type OpSpec,
  type NodeOptions,
  type AttrExpectation,
  type AttrPlain,
  type Verdict,
  type ValuePattern,
  type PatternOutput,
  type ValuePredicate,
  type ConstPredicate,
} from './builder.js';
export { ConstantView, constantOf } from './constant.js';
export * from './predicates.js';
export { Match, plainAttribute } from './match.js';
export { matchAt, describeAt, nodeLabel, type MatchOutcome, type MatchSpec } from './matcher.js';
export { RewriteBuilder, float, floats, type AttrInput, type OpOptions } from './rewriter.js';
export { rule, bySize, type Rule, type RuleSpec } from './rule.js';
export { applyRules, applyRulesAt, type ApplyOptions, type ApplyResult, type SiteOutcome } from './driver.js';
export { rulePass, type RulePassSpec } from './pass.js';
export { fuseProbedSites, replaceSite, type ProbedFusion, type Refusal } from './sites.js';
export { Tracer, formatNearMisses, type NearMiss, type NearMissReport } from './tracer.js';
