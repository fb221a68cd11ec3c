// A dependency order for a graph's nodes that leaves the graph itself untouched.

import type { Graph, Node, Value } from '../ir/graph.js';

/**
 * The graph's nodes, producers before consumers (values read inside a node's subgraphs count as its inputs).
 * Already sorted graphs keep their order; nodes on a cycle (an invalid model) come in list order.
 */
export function dependencyOrder(graph: Graph): Node[] {
  const nodes = graph.nodes;
  if (isSorted(nodes)) return [...nodes];
  const inGraph = new Set(nodes);
  const producersOf = (node: Node): Node[] => {
    const reads = new Set<Value>();
    for (const v of node.inputs) if (v) reads.add(v);
    for (const g of node.subgraphs()) for (const v of g.outerValuesUsed()) reads.add(v);
    const out: Node[] = [];
    for (const v of reads) {
      const p = v.producer;
      if (p && p !== node && inGraph.has(p)) out.push(p);
    }
    return out;
  };
  const order: Node[] = [];
  const state = new Map<Node, 'open' | 'done'>();
  for (const root of nodes) {
    if (state.has(root)) continue;
    // Iterative depth-first search: deep graphs would overflow a recursive one.
    const stack: { node: Node; deps: Node[]; next: number }[] = [{ node: root, deps: producersOf(root), next: 0 }];
    state.set(root, 'open');
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      if (top.next < top.deps.length) {
        const dep = top.deps[top.next++]!;
        if (!state.has(dep)) {
          state.set(dep, 'open');
          stack.push({ node: dep, deps: producersOf(dep), next: 0 });
        }
        continue;
      }
      stack.pop();
      state.set(top.node, 'done');
      order.push(top.node);
    }
  }
  return order;
}

/**
 * Whether every node comes after the producers of what it reads (the usual case: clean sorts), so that the order
 * is the list's own; nodes holding subgraphs make the answer no (the full walk handles what their bodies read).
 */
function isSorted(nodes: readonly Node[]): boolean {
  const placed = new Set<Node>();
  for (const node of nodes) {
    if (node.subgraphs().length) return false;
    placed.add(node);
    for (const v of node.inputs) {
      const p = v?.producer;
      if (p && p.graph === node.graph && !placed.has(p)) return false;
    }
  }
  return true;
}
