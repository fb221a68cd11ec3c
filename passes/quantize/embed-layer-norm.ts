// EmbedLayerNormalization -> QEmbedLayerNormalization: the embedding tables, gamma and beta stored as uint8 (per
// tensor, asymmetric, full range, as onnxruntime's quantizer stores them), dequantized row by row as they are read.
// It shrinks the largest weight of a BERT-like model (the word table) fourfold.
import { attr } from '../../src/ir/attribute.js';
import type { Graph, Node, Value } from '../../src/ir/graph.js';
import { Tensor, type Scratch } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';
import { quantizeWeight } from '../../src/tensor/quantize.js';

const MS = 'com.microsoft';
/** EmbedLayerNormalization inputs that QEmbedLayerNormalization takes quantized, in its order. */
const TABLES = [2, 3, 4, 5, 6] as const;

/** Why a node stays float, or undefined when it can be quantized. */
function refusal(node: Node, graph: Graph): string | undefined {
  if (node.inputs[8]) return 'it takes position_ids, which QEmbedLayerNormalization lacks';
  if (node.outputs[2] && !graph.isUnused(node.outputs[2])) return 'its embedding_sum output is read, which QEmbedLayerNormalization lacks';
  for (const i of TABLES) {
    const v = node.inputs[i];
    if (!v) continue;
    const t = v.constantTensor();
    if (!t || t.dataType !== DataType.FLOAT) return `input '${v.name}' is not a float32 constant`;
    // gamma and beta (inputs 5, 6) are small: quantized copies may sit beside floats that other norms share. A
    // table read elsewhere (tied word embeddings) would be stored twice: that stays float.
    const shared = v.uses.some((u) => u.node !== node) || graph.outputs.includes(v);
    if (shared && i < 5) return `table '${v.name}' is read elsewhere`;
  }
  return undefined;
}

/** Quantizes every EmbedLayerNormalization it can; returns how many, with a note for each one left float. */
export function quantizeEmbedLayerNorms(graph: Graph, notes: string[], scratch: Scratch): number {
  let count = 0;
  for (const node of [...graph.nodes]) {
    if (node.domain !== MS || node.opType !== 'EmbedLayerNormalization') continue;
    const why = refusal(node, graph);
    if (why) {
      notes.push(`${node.describe()}: ${why}`);
      continue;
    }
    const quantized = TABLES.map((i) => {
      const v = node.inputs[i];
      if (!v) return undefined;
      const t = v.constantTensor()!;
      const q = quantizeWeight(t.peekFloat32(scratch), t.dims, { type: 'uint8', reduceRange: false });
      const base = v.name;
      return {
        q: graph.addInitializer(`${base}_quantized`, Tensor.fromArray('', DataType.UINT8, t.dims, q.data as Uint8Array)),
        scale: graph.addInitializer(`${base}_scale`, Tensor.fromArray('', DataType.FLOAT, [], q.scales)),
        zeroPoint: graph.addInitializer(`${base}_zero_point`, Tensor.fromArray('', DataType.UINT8, [], q.zeroPoints as Uint8Array)),
      };
    });
    const [word, position, segment, gamma, beta] = quantized;
    const inputs: (Value | null)[] = [
      node.inputs[0] ?? null, node.inputs[1] ?? null,
      word!.q, position!.q, segment?.q ?? null, gamma!.q, beta!.q, node.inputs[7] ?? null,
      word!.scale, position!.scale, segment?.scale ?? null, gamma!.scale, beta!.scale,
      word!.zeroPoint, position!.zeroPoint, segment?.zeroPoint ?? null, gamma!.zeroPoint, beta!.zeroPoint,
    ];
    const q = graph.createNode({
      opType: 'QEmbedLayerNormalization', domain: MS, inputs, outputs: 2, name: `${node.name}_quant`, before: node,
      attributes: [attr('epsilon', node.attrFloat('epsilon', 1e-12), true)],
    });
    q.output(0).type = node.output(0).type;
    q.output(1).type = node.outputs[1]?.type ?? tensorType(DataType.INT32);
    graph.replaceAllUses(node.output(0), q.output(0));
    if (node.outputs[1]) graph.replaceAllUses(node.outputs[1], q.output(1));
    const tables = TABLES.map((i) => node.inputs[i]).filter((v): v is Value => !!v);
    graph.removeNode(node);
    for (const v of tables) if (graph.isUnused(v) && v.initializer) graph.removeInitializer(v);
    count++;
  }
  return count;
}
