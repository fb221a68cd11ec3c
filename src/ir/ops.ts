// Small facts and edits about operators that several passes need: one definition each.
import { DataType } from '../tensor/dtype.js';
import type { Graph, Node, Value } from './graph.js';
import { tensorType } from './types.js';

/** onnxruntime's contrib-op domain. */
export const MS_DOMAIN = 'com.microsoft';

/** The default ONNX domain, by either of its names. */
export const isStandardDomain = (domain: string): boolean => domain === '' || domain === 'ai.onnx';

/** A node of the default ONNX domain. */
export function isStandardNode(n: Node | null | undefined): n is Node {
  return !!n && isStandardDomain(n.domain);
}

/** The nodes `target` is computed from, back to (not past) the `stop` values, in visiting order. */
export function backwardSlice(target: Value, stop: ReadonlySet<Value> = new Set()): Node[] {
  const nodes = new Set<Node>();
  const pending = [target];
  while (pending.length) {
    const n = pending.pop()!.producer;
    if (!n || nodes.has(n)) continue;
    nodes.add(n);
    for (const v of n.inputs) if (v && !stop.has(v)) pending.push(v);
  }
  return [...nodes];
}

/**
 * One int32 Cast of `v`, shared by every caller through `casts`: right after its producer, or at the start of the
 * graph for a graph input (contrib ops take masks and token ids as int32).
 */
export function int32Of(graph: Graph, v: Value, casts: Map<Value, Value>): Value {
  let out = casts.get(v);
  if (!out) {
    const producer = v.producer;
    const first = graph.nodes[0];
    const node = graph.createNode({
      opType: 'Cast',
      inputs: [v],
      name: `${v.name}_int32`,
      attributes: [{ name: 'to', type: 'int', value: DataType.INT32 }],
      ...(producer ? { after: producer } : first ? { before: first } : {}),
    });
    out = node.output(0);
    out.type = tensorType(
      DataType.INT32,
      v.type?.kind === 'tensor' ? v.type.shape?.map((d) => d.value ?? d.param) : undefined,
    );
    casts.set(v, out);
  }
  return out;
}
