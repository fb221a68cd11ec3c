// split-skip-layer-norm: SkipLayerNormalization with a bias -> LayerNormalization((input + skip) + bias), the faster
// form on onnxruntime's CPU EP. Its SkipLayerNormalization kernel (1.30) sums and normalizes each row in scalar loops
// with a division per element: on bert-base at sequence 512 its 24 calls take about 25 ms, the Adds and
// LayerNormalization that replace them about 7 ms. The bias is added last because onnxruntime's optimizer folds only
// a bias added before the residual: in this order it leaves the three ops apart. `quantize` runs this itself
// (quantized models run on the CPU EP); after a float `fuse` it is a choice for CPU deployments.
import type { Graph, Node } from '../src/ir/graph.js';
import { definePass } from '../src/pass/index.js';

const MS = 'com.microsoft';
/** SkipLayerNormalization's epsilon when the attribute is absent. */
const SKIP_DEFAULT_EPSILON = 1e-12;

/** Why a SkipLayerNormalization stays, or undefined when it can be split. */
function refusal(node: Node, graph: Graph): string | undefined {
  if (!node.inputs[4]) return 'has no bias, and onnxruntime would fuse a plain residual Add back';
  const [, mean, invStd] = node.outputs;
  if ((mean && !graph.isUnused(mean)) || (invStd && !graph.isUnused(invStd))) return 'its mean or inverse deviation is read';
  return undefined;
}

/** Splits every SkipLayerNormalization with a bias; returns how many, with a note for each one left. */
export function splitSkipLayerNorms(graph: Graph, notes: string[]): number {
  let count = 0;
  for (const node of [...graph.nodes]) {
    if (node.domain !== MS || node.opType !== 'SkipLayerNormalization') continue;
    const why = refusal(node, graph);
    if (why) {
      notes.push(`${node.describe()}: ${why}`);
      continue;
    }
    const [input, skip, gamma, beta, bias] = node.inputs;
    const [out, , , sumOut] = node.outputs;
    const add = (name: string, a: typeof input, b: typeof input) =>
      graph.createNode({ opType: 'Add', inputs: [a, b], name: `${node.name}/${name}`, before: node }).output(0);
    const sum = add('residual', input!, skip!);
    const biased = add('bias', sum, bias!);
    const epsilon = node.attrFloat('epsilon', SKIP_DEFAULT_EPSILON);
    const norm = graph.createNode({
      opType: 'LayerNormalization', inputs: beta ? [biased, gamma!, beta] : [biased, gamma!], name: `${node.name}/norm`, before: node,
      attributes: [{ name: 'axis', type: 'int', value: -1 }, { name: 'epsilon', type: 'float', value: epsilon }],
    });
    for (const v of [sum, biased, norm.output(0)]) v.type = out!.type;
    graph.replace({ outputs: sumOut ? [[out!, norm.output(0)], [sumOut, biased]] : [[out!, norm.output(0)]], remove: [node] });
    count++;
  }
  return count;
}

export const splitSkipLayerNormPass = definePass({
  name: 'split-skip-layer-norm',
  description: 'SkipLayerNormalization with a bias -> Add, Add, LayerNormalization: faster on onnxruntime\'s CPU EP (run by quantize)',
  run(model) {
    const notes: string[] = [];
    const split = splitSkipLayerNorms(model.graph, notes);
    const stats: Record<string, number> = split ? { splitSkipLayerNorm: split } : {};
    return { changed: split > 0, stats, notes };
  },
});
