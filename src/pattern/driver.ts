// The driver: walks every graph in node order, tries the rules in order at each node, applies the first match,
// and sweeps again until nothing changes.
import { OnnxOptError } from '../errors.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { bodyOutputs } from './graph-edits.js';
import type { Match } from './match.js';
import { matchAt, nodeLabel } from './matcher.js';
import { RewriteBuilder } from './rewriter.js';
import type { Rule } from './rule.js';
import { Tracer, type NearMissReport } from './tracer.js';

export interface ApplyOptions {
  /** Collect near-miss reasons (nodes where a rule's root op matched but the rule did not apply). */
  explain?: boolean;
  /** Sweeps before giving up on a fixpoint (default 32). */
  maxIterations?: number;
}

export interface ApplyResult {
  /** Rewrites applied per rule (every rule is listed, 0 included). */
  counts: Record<string, number>;
  changed: boolean;
  /** False when the sweep cap was reached while rules still fired. */
  converged: boolean;
  /** Sweeps run, the last one included. */
  iterations: number;
  /** Near-misses of the last sweep (empty unless `explain`). */
  nearMisses: NearMissReport;
}

/**
 * Applies rules to the model's graph and its subgraphs until none applies. At each node (in graph order, the
 * node's subgraphs first) the rules are tried in the given order, and the first that matches is applied; list
 * larger patterns first (or sort with `bySize`). Deterministic: same model and rules, same result.
 */
export function applyRules(model: Model, rules: readonly Rule[], options: ApplyOptions = {}): ApplyResult {
  const counts: Record<string, number> = {};
  for (const r of rules) {
    if (r.name in counts) throw new OnnxOptError(`two rules are named '${r.name}'`);
    counts[r.name] = 0;
  }
  const tracer = options.explain ? new Tracer() : undefined;
  const cap = options.maxIterations ?? 32;
  const sweeper = new Sweeper(model, rules, counts, tracer);
  let iterations = 0;
  let converged = false;
  let changed = false;
  while (iterations < cap) {
    iterations++;
    tracer?.clear();
    if (sweeper.sweep(model.graph) === 0) {
      converged = true;
      break;
    }
    changed = true;
  }
  return { counts, changed, converged, iterations, nearMisses: tracer?.report() ?? {} };
}

class Sweeper {
  constructor(
    private readonly model: Model,
    private readonly rules: readonly Rule[],
    private readonly counts: Record<string, number>,
    private readonly tracer: Tracer | undefined,
  ) {}

  /** One pass over a graph and its subgraphs; returns how many rewrites it applied. */
  sweep(graph: Graph): number {
    let inBodies = 0;
    let here = 0;
    const pinned = bodyOutputs(graph);
    for (const node of [...graph.nodes]) {
      if (node.graph !== graph) continue; // removed by an earlier rewrite in this sweep
      for (const body of node.subgraphs()) inBodies += this.sweep(body);
      if (this.tryRules(node, pinned)) here++;
    }
    // New nodes sit before their root, which suits single-output patterns; a multi-output match may need more.
    if (here) graph.sortTopologically();
    return inBodies + here;
  }

  private tryRules(node: Node, pinned: ReadonlySet<Value>): boolean {
    const site = tryRulesAt(this.model, node, this.rules, pinned);
    if (site.applied) {
      this.counts[site.applied]!++;
      return true;
    }
    if (site.nearMiss) this.tracer?.record(site.nearMiss.rule, nodeLabel(node), site.nearMiss.reason);
    return false;
  }
}

/** What happened at one node: the rule applied there, or the near-miss that explains why none did. */
export interface SiteOutcome {
  applied?: string;
  nearMiss?: { rule: string; reason: string };
}

/**
 * Tries the rules at one node, in order, and applies the first that matches, as a sweep does (the new nodes go
 * before the node; the graph is not sorted again). For a pass that rewrites node by node and folds what follows
 * each rewrite before it goes on.
 */
export function applyRulesAt(model: Model, node: Node, rules: readonly Rule[]): SiteOutcome {
  const graph = node.graph;
  if (!graph) throw new OnnxOptError(`node ${node.describe()} is not in a graph`);
  return tryRulesAt(model, node, rules, bodyOutputs(graph));
}

/**
 * The first rule that matches at the node is applied. Otherwise the near-miss that came furthest into its pattern
 * (the first of equals) explains the site: one explanation per node, not one per rule variant.
 */
function tryRulesAt(model: Model, node: Node, rules: readonly Rule[], pinned: ReadonlySet<Value>): SiteOutcome {
  let best: { rule: string; reason: string; depth: number } | undefined;
  for (const r of rules) {
    if (!r.root.accepts(node)) continue;
    const outcome = matchAt(r, node, pinned);
    if (outcome.match) {
      applyMatch(model, r, outcome.match);
      return { applied: r.name };
    }
    // A near-miss fails at the root itself (its attributes, a check) or past the root's own operands: for a rule
    // rooted at Add, every Add whose operands are something else is no near-miss.
    const nodes = outcome.nodesMatched;
    if ((nodes === 0 || nodes >= 2) && (!best || outcome.depth > best.depth)) {
      best = { rule: r.name, reason: outcome.reason, depth: outcome.depth };
    }
  }
  return best ? { nearMiss: { rule: best.rule, reason: best.reason } } : {};
}

function applyMatch(model: Model, r: Rule, match: Match): void {
  const { graph, root } = match;
  const b = new RewriteBuilder(graph, root, match);
  const result = r.rewrite(b, match);
  const replacements = Array.isArray(result) ? (result as readonly Value[]) : [result as Value];
  if (replacements.length !== match.outputs.length || replacements.some((v) => !v)) {
    throw new OnnxOptError(
      `rule '${r.name}': the rewrite must return ${match.outputs.length} value(s), one per pattern output`,
    );
  }
  graph.replace({
    outputs: match.outputs.map((old, i) => [old, replacements[i]!] as const),
    created: b.created,
    removeIfDead: match.matchedNodes,
  });
  for (const n of b.created) if (n.domain) model.requireOpset(n.domain, 1);
}
