// Graph edits shared by the 4-bit passes (q4, bnb4).
import type { Graph, Node, Value } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';

/** Points `node`'s readers at `y`, drops the node, and gives `y` the old output's name. */
export function takeOver(graph: Graph, node: Node, y: Value): void {
  const old = node.output(0);
  const name = old.name;
  const wasOutput = graph.outputs.includes(old);
  y.type ??= old.type;
  graph.replaceAllUses(old, y);
  graph.removeNode(node);
  if (!wasOutput && y.name !== name) {
    old.name = graph.valueNames.fresh(`${name}_replaced`);
    y.name = name;
  }
}

/** Drops float weights and biases that nothing reads any more, from whichever graph holds them. */
export function removeUnused(model: Model, replaced: ReadonlySet<Value>): void {
  for (const g of model.graph.allGraphs()) {
    for (const v of [...g.initializers])
      if (replaced.has(v) && v.uses.length === 0 && !g.outputs.includes(v)) g.removeInitializer(v);
    for (const n of [...g.nodes]) {
      const v = n.outputs[0];
      if (n.opType === 'Constant' && v && replaced.has(v) && v.uses.length === 0 && !g.outputs.includes(v))
        g.removeNode(n);
    }
  }
}
