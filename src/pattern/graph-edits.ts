// Graph helpers shared by the rule driver and the cleanup pass.
import type { Graph, Value } from '../ir/graph.js';

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
  // In place, element by element: spreading a 100k+ list into splice() overflows the stack.
  let kept = 0;
  for (const x of list) if (!drop(x)) list[kept++] = x;
  const removed = list.length - kept;
  list.length = kept;
  return removed;
}
