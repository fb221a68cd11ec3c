// A tiny interpreter: runs a graph node by node with the evaluator. For tests and for checking folded values;
// graphs with subgraphs (If, Loop, Scan) are refused.
import type { Graph, Value } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { UnsupportedOp } from './kernel.js';
import { evaluateNode } from './registry.js';

/**
 * Every value the graph computes, given tensors for its inputs. Initializers (not overridden by an input) and
 * outer-scope constants are read from the IR. Nodes run in list order, so the graph must be sorted.
 */
export function runGraph(graph: Graph, feeds: ReadonlyMap<Value, Tensor>, opset: number): Map<Value, Tensor> {
  const values = new Map<Value, Tensor>(feeds);
  for (const v of graph.initializers) if (!values.has(v)) values.set(v, v.initializer!);
  const read = (v: Value): Tensor => {
    const t = values.get(v) ?? v.constantTensor();
    if (!t) throw new UnsupportedOp(`value '${v.name}' has no tensor (unfed input, or read before it is computed)`);
    return t;
  };
  for (const node of graph.nodes) {
    if (node.subgraphs().length) throw new UnsupportedOp(`${node.opType}: subgraphs are not interpreted`);
    const outputs = evaluateNode(
      node,
      node.inputs.map((v) => (v ? read(v) : undefined)),
      opset,
    );
    node.outputs.forEach((v, i) => v && values.set(v, outputs[i]!));
  }
  return values;
}
