// Cast->Cast chains between float types collapse into one Cast, and Casts to the float type their input already
// has disappear. Chains through an integer or bool type change values (truncation) and stay.

import type { Graph, Node, Value } from '../../src/ir/graph.js';
import { isFloatType } from '../../src/tensor/dtype.js';
import { inferElemTypes } from './elem-types.js';

const isCast = (n: Node | null): n is Node => !!n && n.opType === 'Cast' && n.domain === '';

/** Folds float Cast chains and drops identity Casts in the graph and its subgraphs; returns how many Casts went. */
export function foldCastChains(root: Graph): number {
  let removed = 0;
  for (let changed = true; changed;) {
    changed = false;
    const types = inferElemTypes(root);
    const outputs = new Set<Value>([...root.allGraphs()].flatMap((g) => g.outputs));
    const unread = (v: Value) => v.uses.length === 0 && !outputs.has(v);
    for (const graph of [...root.allGraphs()]) {
      for (const cast of [...graph.nodes]) {
        if (!isCast(cast) || cast.graph !== graph) continue;
        const to = cast.attrInt('to');
        const middle = cast.inputs[0];
        const inner = middle?.producer ?? null;
        if (middle && isCast(inner) && inner.inputs[0] && isFloatType(types.get(middle) ?? 0) && isFloatType(to ?? 0)) {
          cast.replaceInput(0, inner.inputs[0]);
          if (unread(middle)) {
            inner.graph!.removeNodes(new Set([inner]));
            removed++;
          }
          changed = true;
        }
        const source = cast.inputs[0];
        const out = cast.outputs[0];
        if (source && out && isFloatType(to ?? 0) && types.get(source) === to && !outputs.has(out)) {
          graph.replace({ outputs: [[out, source]], remove: [cast] });
          removed++;
          changed = true;
        }
      }
    }
  }
  return removed;
}
