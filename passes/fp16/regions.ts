// Which nodes stay in float32: blocked ones (and everything inside their subgraphs), plus shape computations done
// in float, which must come back as exact integers and so never go through float16.

import type { Graph, Node, Value } from '../../src/ir/graph.js';
import { DataType, isFloatType } from '../../src/tensor/dtype.js';
import type { ElemTypes } from './elem-types.js';
import { keepsFloat32Input } from './policy.js';

/** Every node of the model whose float math stays in float32. */
export function float32Nodes(root: Graph, types: ElemTypes, isBlocked: (node: Node) => boolean): Set<Node> {
  const kept = new Set<Node>();
  const visit = (graph: Graph, inherited: boolean) => {
    for (const node of graph.nodes) {
      const blocked = inherited || isBlocked(node);
      if (blocked) kept.add(node);
      for (const body of node.subgraphs()) visit(body, blocked);
    }
  };
  visit(root, false);
  for (const graph of root.allGraphs()) markShapeComputations(graph, types, kept);
  return kept;
}

/** Constants this small are sizes, scales and masks' fill values, not weights. */
const SMALL_CONSTANT = 16;

/**
 * A float node is a shape computation when its float inputs are all static (computed in float from integers, e.g.
 * a Cast of a Shape, and from small constants) and its float outputs all go back to integers or to float32-only
 * consumers (a Cast to an integer type, Resize scales, a blocked node such as Range, another shape computation).
 * Keeping these in float32 keeps integer sizes exact and needs no Cast at all.
 */
function markShapeComputations(graph: Graph, types: ElemTypes, kept: Set<Node>): void {
  const isFloat32 = (v: Value | null): v is Value => !!v && types.get(v) === DataType.FLOAT;
  const isFloat = (v: Value | null): v is Value => !!v && isFloatType(types.get(v) ?? DataType.FLOAT);
  const isSmallConstant = (v: Value) => {
    const t = v.constantTensor();
    return !!t && t.size <= SMALL_CONSTANT && !graph.inputs.includes(v);
  };
  const isStatic = new Set<Value>();
  for (const node of graph.nodes) {
    const outs = node.outputs.filter(isFloat32);
    if (!outs.length || node.opType === 'Constant' || node.subgraphs().length) continue;
    const floatIns = node.inputs.filter(isFloat);
    const fromIntegers = isCast(node) ? !floatIns.length : floatIns.every((v) => isStatic.has(v) || isSmallConstant(v));
    if (fromIntegers) outs.forEach((v) => isStatic.add(v));
  }
  const backToIntegers = (consumer: Node, slot: number) =>
    consumer.graph === graph &&
    (kept.has(consumer) ||
      keepsFloat32Input(consumer, slot) ||
      (isCast(consumer) && !isFloatType(consumer.attrInt('to', 0))));
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i]!;
    const outs = node.outputs.filter(isFloat32);
    if (!outs.length || kept.has(node) || node.opType === 'Constant' || !outs.every((v) => isStatic.has(v))) continue;
    if (outs.some((v) => graph.outputs.includes(v))) continue;
    if (outs.every((v) => v.uses.every((u) => backToIntegers(u.node, u.index)))) kept.add(node);
  }
}

function isCast(node: Node): boolean {
  return node.opType === 'Cast' && node.domain === '';
}
