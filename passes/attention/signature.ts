// Layers of one model repeat the same attention, only with other weights. A site's signature writes down everything
// its output is computed from but those weights: the ops from the input x to the output candidates with their
// attributes, every other constant by value, and the values it reads that do not depend on x (a mask, a position
// bias) by identity. Two sites with one signature compute the same function of x and their weights, so the first
// one's verified meaning holds for the second: its Attention is made without probing again.
import type { Node, Value } from '../../src/ir/graph.js';
import { BY_VALUE_ELEMENTS, attributeText, tensorText } from '../../src/ir/signature.js';
import type { Tensor } from '../../src/ir/tensor.js';
import type { AttentionSite } from './site.js';

/** The site's signature; sites with equal signatures differ only in their projection weights. */
export function siteSignature(site: AttentionSite): string {
  const x = site.q.x;
  const weights = new Map<Tensor, string>();
  for (const [name, p] of [
    ['q', site.q],
    ['k', site.k],
    ['v', site.v],
  ] as const) {
    weights.set(p.weight, `${name}.W[${p.weight.dims}]${p.transposed ? 'T' : ''}${p.columns}`);
    if (p.bias) weights.set(p.bias, `${name}.b[${p.bias.dims}]`);
  }
  const externalIds = new Map<Value, number>();
  const dependsOnX = new Map<Value, boolean>();
  const readsX = (v: Value): boolean => {
    if (v === x) return true;
    let known = dependsOnX.get(v);
    if (known === undefined) {
      dependsOnX.set(v, false); // graphs are acyclic; this only guards the recursion
      known = (v.producer?.inputs ?? []).some((i) => !!i && readsX(i));
      dependsOnX.set(v, known);
    }
    return known;
  };
  const nodeIds = new Map<Node, number>();
  const lines: string[] = [];
  const describe = (v: Value): string => {
    if (v === x) return 'x';
    const t = v.constantTensor();
    if (t) {
      const weight = weights.get(t);
      if (weight) return weight;
      if (t.size <= BY_VALUE_ELEMENTS && t.isLoaded) return `const ${tensorText(t)}`;
    }
    if (!readsX(v)) {
      // a mask, a position bias, a large constant: the same value or not
      if (!externalIds.has(v)) externalIds.set(v, externalIds.size);
      return `ext${externalIds.get(v)}`;
    }
    const node = v.producer!;
    if (!nodeIds.has(node)) {
      const inputs = node.inputs.map((i) => (i ? describe(i) : '-'));
      nodeIds.set(node, nodeIds.size);
      const attributes = [...node.attributes.values()].map(attributeText).sort();
      lines.push(`${nodeIds.get(node)}=${node.domain}::${node.opType}(${inputs.join(' ')})[${attributes.join(',')}]`);
    }
    return `n${nodeIds.get(node)}.${v.outputIndex}`;
  };
  const outputs = site.outputCandidates.map(describe);
  const addends = site.addends.map(describe);
  return `${lines.join('\n')}\nout ${outputs.join(' ')}\nadd ${addends.join(' ')}`;
}
