// The driver of the fusions whose sites are proven by evaluation instead of matched by a fixed pattern (attention,
// decoder attention, rotary embeddings, embedding lookups + LayerNormalization): find candidates with a loose walk,
// probe them, rewrite what the probes proved. A fusion declares what is its own (ProbedFusion); this file does the
// rest the same way for each: the graphs it looks in, probes made once per graph on first need (a failure is one
// reason given to every site that needed them), one verification per signature carried to the other layers, a note
// per refused site, stats per op made, the opset import of that op's domain, and `changed`.
// It sits beside the rule driver (driver.ts) because it is its counterpart for sites rules cannot prove; like it, it
// imports no evaluator: the fusion brings its probes.
import type { Graph, Node, Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { backwardSlice } from '../ir/ops.js';
import type { PassResult } from '../pass/index.js';

/** A node refused before probing, and why (it still gets its note). */
export interface Refusal {
  at: Node;
  reason: string;
}

export interface ProbedFusion<Site, Meaning, Probes> {
  /** The op its notes name: `<op> at <node kind> '<name>': <reason>`. */
  readonly op: string;
  /** The graphs it looks in, in order (default: the main graph and every graph under it). */
  scopes?(model: Model): Iterable<Graph>;
  /** The candidate sites of one graph, and the nodes refused before probing. */
  find(graph: Graph): { sites: readonly Site[]; misses?: readonly Refusal[] };
  /** The node a site's note names. */
  at(site: Site): Node;
  /**
   * Which probes a site needs, when a graph's sites need more than one kind (a decoder with and without its cache).
   * Probes of one kind are made once per graph, when the first site needing them is verified.
   */
  probeKind?(site: Site): string;
  /** Probe inputs for the graph's sites (all of them, for sizing); throws when the model's inputs cannot be probed. */
  probes(graph: Graph, sites: readonly Site[], kind: string): Probes;
  /** The reason a probe failure gives (default: `the model's inputs cannot be probed: <message>`). */
  cannotProbe?(message: string): string;
  /**
   * What makes two sites verify alike (layers repeating one computation with other weights), or undefined for a
   * site verified on its own. The first site of a signature is verified; the others get its meaning through `carry`.
   */
  signature?(site: Site, probes: Probes): string | undefined;
  /**
   * The meaning verified at `known` for `site`, of the same signature (its own output, its own values), or undefined
   * when `site` must be verified itself. Without it, the meaning (or the refusal) is taken as it is.
   */
  carry?(known: Site, meaning: Meaning | string, site: Site, probes: Probes): Meaning | string | undefined;
  /** What the site computes, read off the probes, or why it is not what the fusion makes. */
  verify(site: Site, probes: Probes): Meaning | string;
  /**
   * Rewrites a proven site (ending in `graph.replace`); returns the node made, whose op type counts in the stats and
   * whose domain is imported, or why the site is refused after all (an option it contradicts).
   */
  rewrite(site: Site, meaning: Meaning, graph: Graph): Node | string;
}

/**
 * Runs a probe-verified fusion over the model. Every graph's sites are verified before any of them is rewritten, so
 * the probes evaluate the graph as it was found.
 */
export function fuseProbedSites<Site, Meaning, Probes>(
  model: Model,
  fusion: ProbedFusion<Site, Meaning, Probes>,
): PassResult & { notes: string[] } {
  const notes: string[] = [];
  const stats: Record<string, number> = {};
  const note = (at: Node, reason: string) => notes.push(`${fusion.op} at ${at.opType} '${at.name}': ${reason}`);
  const domains = new Set<string>();
  for (const graph of [...(fusion.scopes?.(model) ?? model.graph.allGraphs())]) {
    const { sites, misses = [] } = fusion.find(graph);
    for (const miss of misses) note(miss.at, miss.reason);
    if (!sites.length) continue;
    const probes = new Map<string, { made: Probes } | { failed: string }>();
    const probesFor = (site: Site): { made: Probes } | { failed: string } => {
      const kind = fusion.probeKind?.(site) ?? '';
      let entry = probes.get(kind);
      if (!entry) {
        try {
          entry = { made: fusion.probes(graph, sites, kind) };
        } catch (e) {
          const message = (e as Error).message;
          entry = { failed: fusion.cannotProbe?.(message) ?? `the model's inputs cannot be probed: ${message}` };
        }
        probes.set(kind, entry);
      }
      return entry;
    };
    // one verification per signature: the other layers repeat it with other weights
    const bySignature = new Map<string, { site: Site; meaning: Meaning | string }>();
    const meanings = sites.map((site) => {
      const p = probesFor(site);
      if ('failed' in p) return p.failed;
      const signature = fusion.signature?.(site, p.made);
      const known = signature === undefined ? undefined : bySignature.get(signature);
      const carried = known && (fusion.carry ? fusion.carry(known.site, known.meaning, site, p.made) : known.meaning);
      const meaning = carried ?? fusion.verify(site, p.made);
      if (signature !== undefined && !known) bySignature.set(signature, { site, meaning });
      return meaning;
    });
    sites.forEach((site, i) => {
      const meaning = meanings[i]!;
      const made = typeof meaning === 'string' ? meaning : fusion.rewrite(site, meaning, graph);
      if (typeof made === 'string') return note(fusion.at(site), made);
      stats[made.opType] = (stats[made.opType] ?? 0) + 1;
      if (made.domain && made.domain !== 'ai.onnx') domains.add(made.domain);
    });
  }
  for (const domain of domains) model.requireOpset(domain, 1);
  return { changed: Object.keys(stats).length > 0, stats, notes };
}

/**
 * The usual end of a proven site's rewrite: each old value's uses move to its replacement, which takes its type, and
 * what computed the old values from `inputs` (the values the fused op reads instead) goes where nothing else reads it.
 */
export function replaceSite(
  graph: Graph,
  outputs: [Value, Value][],
  inputs: readonly (Value | null | undefined)[],
): void {
  const stop = new Set(inputs.filter((v): v is Value => !!v));
  for (const [old, replacement] of outputs) replacement.type = old.type;
  graph.replace({ outputs, removeIfDead: outputs.flatMap(([old]) => backwardSlice(old, stop)) });
}
