// Graph edits the IR does not offer yet, shared by the rule driver and the cleanup pass.
import type { Graph, Node, Value } from '../ir/graph.js';

/**
 * Nodes inside a node's subgraphs are uses of the outer values they read. Before the node is dropped, its
 * bodies let go of every input, so those outer values no longer look used.
 */
export function releaseSubgraphs(node: Node): void {
  for (const body of node.subgraphs()) {
    for (const g of body.allGraphs()) for (const n of g.nodes) n.setInputs(n.inputs.map(() => null));
  }
}

/** Removes nodes (their outputs used only among them), releasing their subgraphs and their value_info entries. */
export function dropNodes(graph: Graph, nodes: ReadonlySet<Node>): void {
  if (nodes.size === 0) return;
  for (const n of nodes) releaseSubgraphs(n);
  graph.removeNodes(nodes);
  const gone = new Set<Value | null>([...nodes].flatMap((n) => n.outputs));
  removeWhere(graph.valueInfo, (v) => gone.has(v));
}

/** The subset of `candidates` that nothing outside the subset reads (no outside use, no graph output). */
export function deadSubset(graph: Graph, candidates: Iterable<Node>): Set<Node> {
  const dead = new Set(candidates);
  let shrunk = true;
  while (shrunk) {
    shrunk = false;
    for (const n of dead) {
      const read = n.outputs.some((v) => v && (graph.outputs.includes(v) || v.uses.some((u) => !dead.has(u.node))));
      if (read) {
        dead.delete(n);
        shrunk = true;
      }
    }
  }
  return dead;
}

/**
 * Values named in the output list of a subgraph below `graph` (an If branch may return an outer value as is).
 * Use lists do not record these reads, so callers must treat such values as used.
 */
export function bodyOutputs(graph: Graph): Set<Value> {
  const out = new Set<Value>();
  for (const g of graph.allGraphs()) if (g !== graph) for (const v of g.outputs) out.add(v);
  return out;
}

/** Removes, in place, the elements of a list that match; returns how many. */
export function removeWhere<T>(list: T[], drop: (x: T) => boolean): number {
  const keep = list.filter((x) => !drop(x));
  const removed = list.length - keep.length;
  if (removed) list.splice(0, list.length, ...keep);
  return removed;
}
