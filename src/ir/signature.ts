// A computation's signature: what two sites must share to compute the same function of their inputs. Layers of a
// model repeat one computation on their own tensors, so a fusion that proves what a site means by evaluating it
// proves it once per signature and carries the meaning to the other sites (fuse-rotary does).
import type { Attribute } from './attribute.js';
import type { Node, Value } from './graph.js';
import type { Tensor } from './tensor.js';

/** Constants up to this many elements are compared by value, larger ones by identity. */
export const BY_VALUE_ELEMENTS = 4096;

/** Subgraph attributes are never compared: each gets a text of its own, so no two signatures holding one are equal. */
let subgraphs = 0;

/** An attribute as text for a signature (a subgraph as a text of its own). */
export function attributeText(a: Attribute): string {
  if (a.type === 'graph' || a.type === 'graphs') return `${a.name}=graph${subgraphs++}`;
  if (a.type === 'tensor') return `${a.name}=${tensorText(a.value)}`;
  if (a.type === 'tensors') return `${a.name}=${a.value.map(tensorText).join(';')}`;
  if (a.type === 'ref') return `${a.name}=ref:${a.refAttrName}`;
  return `${a.name}=${JSON.stringify(a.value, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))}`;
}

/** A tensor's type, dims and bytes as text for a signature. */
export function tensorText(t: Tensor): string {
  const elements = t.strings ? t.strings.map((s) => Array.from(s).join('.')) : Array.from(t.bytes());
  return `${t.dataType}[${t.dims}](${elements.join(',')})`;
}

/** The values among `from`'s ancestors (and `from` itself) that are computed from one of `inputs`. */
function computedFrom(from: readonly Value[], inputs: ReadonlyMap<Value, string>): Set<Value> {
  const reads = new Map<Value, boolean>();
  // depth-first, children before parents, with a stack: ancestries run as deep as the model
  const stack: { v: Value; expanded: boolean }[] = from.map((v) => ({ v, expanded: false }));
  while (stack.length) {
    const top = stack.pop()!;
    if (reads.has(top.v) && !top.expanded) continue;
    const producerInputs = top.v.producer?.inputs ?? [];
    if (top.expanded) {
      reads.set(
        top.v,
        producerInputs.some((i) => !!i && reads.get(i) === true),
      );
      continue;
    }
    if (inputs.has(top.v) || !top.v.producer) {
      reads.set(top.v, inputs.has(top.v));
      continue;
    }
    reads.set(top.v, false); // acyclic; marks it as on the way
    stack.push({ v: top.v, expanded: true });
    for (const i of producerInputs) if (i && !reads.has(i)) stack.push({ v: i, expanded: false });
  }
  return new Set([...reads].filter(([, r]) => r).map(([v]) => v));
}

/**
 * The signature of `outputs` as a function of `inputs` (each written as its given name): the nodes from the inputs
 * to the outputs with their ops and attributes, small constants by value, and every other value they read (one not
 * computed from the inputs: a table, a mask, positions) by identity, numbered in `identities`, which callers share
 * so that one value gets one number in every signature. Equal signatures mean the same function of the inputs,
 * reading the same other values. `byValue` may describe such a value instead (by what it holds wherever the
 * caller evaluates the sites, e.g. a shape each layer computes from its own hidden state); undefined keeps identity.
 */
export function computationSignature(
  outputs: readonly Value[],
  inputs: ReadonlyMap<Value, string>,
  identities: Map<Value, number>,
  byValue: (v: Value) => string | undefined = () => undefined,
): string {
  const dependent = computedFrom(outputs, inputs);
  const nodeIds = new Map<Node, number>();
  const lines: string[] = [];
  const named = new Map<Value, string>();
  const describe = (v: Value): string => {
    const input = inputs.get(v);
    if (input !== undefined) return input;
    const t = v.constantTensor();
    if (t && t.size <= BY_VALUE_ELEMENTS && t.isLoaded) return `const ${tensorText(t)}`;
    if (!dependent.has(v)) {
      const held = byValue(v);
      if (held !== undefined) return `value ${held}`;
      if (!identities.has(v)) identities.set(v, identities.size);
      return `ext${identities.get(v)}`;
    }
    return named.get(v)!;
  };
  // nodes in dependency order (inputs described before the node that reads them), with a stack
  const stack: { node: Node; expanded: boolean }[] = [];
  const visit = (v: Value) => {
    const node = v.producer;
    if (dependent.has(v) && !inputs.has(v) && node && !nodeIds.has(node)) stack.push({ node, expanded: false });
  };
  for (const out of outputs) {
    visit(out);
    while (stack.length) {
      const { node, expanded } = stack.pop()!;
      if (nodeIds.has(node)) continue;
      if (!expanded) {
        stack.push({ node, expanded: true });
        for (let k = node.inputs.length - 1; k >= 0; k--) if (node.inputs[k]) visit(node.inputs[k]!);
        continue;
      }
      const operands = node.inputs.map((i) => (i ? describe(i) : '-'));
      const id = nodeIds.size;
      nodeIds.set(node, id);
      node.outputs.forEach((o, k) => o && named.set(o, `n${id}.${k}`));
      const attributes = [...node.attributes.values()].map(attributeText).sort();
      lines.push(`n${id}=${node.domain}::${node.opType}(${operands.join(' ')})[${attributes.join(',')}]`);
    }
  }
  return `${lines.join('\n')}\nout ${outputs.map(describe).join(' ')}`;
}
