// split-bias-gelu: com.microsoft BiasGelu(A, B) -> Gelu(A + B). onnxruntime-web's WebGPU provider has kernels for
// Gelu, FastGelu and QuickGelu but none for BiasGelu (onnxruntime's contrib_ops/js/js_contrib_kernels.cc), so a
// BiasGelu there runs on the CPU with a copy out of and back into the GPU around it.
import { definePass, type PassResult } from '../src/pass/index.js';
import { MS_DOMAIN } from '../src/ir/ops.js';

export const splitBiasGeluPass = definePass({
  name: 'split-bias-gelu',
  description: "BiasGelu -> Add + Gelu: the form onnxruntime-web's WebGPU provider runs on the GPU",
  run(model): PassResult {
    const graph = model.graph;
    let count = 0;
    for (const node of [...graph.nodes]) {
      if (node.domain !== MS_DOMAIN || node.opType !== 'BiasGelu') continue;
      const [input, bias] = node.inputs;
      const sum = graph
        .createNode({ opType: 'Add', inputs: [input!, bias!], name: `${node.name}/bias`, before: node })
        .output(0);
      sum.type = node.output(0).type;
      const gelu = graph
        .createNode({ opType: 'Gelu', domain: MS_DOMAIN, inputs: [sum], name: `${node.name}/gelu`, before: node })
        .output(0);
      gelu.type = node.output(0).type;
      graph.replace({ outputs: [[node.output(0), gelu]], remove: [node] });
      count++;
    }
    return { changed: count > 0, stats: count ? { splitBiasGelu: count } : {} };
  },
});
