// Graph edits shared by the 4-bit passes (q4, bnb4).
import type { Graph, Node, Value } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';

/** Points `node`'s readers at `y` (made by the rewrite, so it takes the old output's name), and drops the node. */
export function takeOver(graph: Graph, node: Node, y: Value): void {
  graph.replace({ outputs: [[node.output(0), y]], created: y.producer ? [y.producer] : [], remove: [node] });
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
