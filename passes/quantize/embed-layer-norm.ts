// EmbedLayerNormalization -> QEmbedLayerNormalization: the embedding tables, gamma and beta stored as uint8 (per
// tensor, asymmetric, full range, as onnxruntime's quantizer stores them), dequantized row by row as they are read.
// It shrinks the largest weight of a BERT-like model (the word table) fourfold.
// Where QEmbedLayerNormalization cannot express the node (RoBERTa's computed position ids, GPT-2's reused embedding
// sum), the lookups are written out again around a uint8 word table: Gather -> DequantizeLinear dequantizes only the
// rows read, as onnxruntime's quantizer does for a Gather, and the word table still shrinks fourfold.
import { attr } from '../../src/ir/attribute.js';
import type { Graph, Node, Value } from '../../src/ir/graph.js';
import { Tensor, type Scratch } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';
import { quantizedTensor } from './weights.js';
import { MS_DOMAIN } from '../../src/ir/ops.js';

/** EmbedLayerNormalization inputs that QEmbedLayerNormalization takes quantized, in its order. */
const TABLES = [2, 3, 4, 5, 6] as const;

/** Why a node stays float, or undefined when it can be quantized. */
function refusal(node: Node, graph: Graph): string | undefined {
  if (node.inputs[8]) return 'it takes position_ids, which QEmbedLayerNormalization lacks';
  if (node.outputs[2] && !graph.isUnused(node.outputs[2]))
    return 'its embedding_sum output is read, which QEmbedLayerNormalization lacks';
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

interface QuantizedTable {
  q: Value;
  scale: Value;
  zeroPoint: Value;
}

/** A float constant as uint8 initializers (per tensor, asymmetric, full range). */
function quantizedTable(graph: Graph, v: Value, scratch: Scratch): QuantizedTable {
  const t = v.constantTensor()!;
  const q = quantizedTensor(t, t.dims, { type: 'uint8', reduceRange: false }, scratch);
  return {
    q: graph.addInitializer(`${v.name}_quantized`, q.data),
    scale: graph.addInitializer(`${v.name}_scale`, Tensor.fromArray('', DataType.FLOAT, [], q.scales)),
    zeroPoint: graph.addInitializer(
      `${v.name}_zero_point`,
      Tensor.fromArray('', DataType.UINT8, [], q.zeroPoints as Uint8Array),
    ),
  };
}

/** Why the node cannot be written out around a uint8 word table, or undefined when it can. */
function unfuseRefusal(node: Node, graph: Graph): string | undefined {
  if (node.outputs[1] && !graph.isUnused(node.outputs[1])) return 'its mask_index output is read';
  if (node.inputs[1] && node.inputs[4] === undefined) return 'it has segment ids but no segment table';
  for (const i of TABLES) {
    const t = node.inputs[i]?.constantTensor();
    if (node.inputs[i] && (!t || t.dataType !== DataType.FLOAT))
      return `input '${node.inputs[i]!.name}' is not a float32 constant`;
  }
  const word = node.inputs[2]!;
  if (word.uses.some((u) => u.node !== node) || graph.outputs.includes(word))
    return `table '${word.name}' is read elsewhere`;
  return undefined;
}

/**
 * LayerNormalization(DequantizeLinear(Gather(word_q, ids)) + position rows (+ segment rows)), with the sum as the
 * embedding_sum output. Position rows come from position_ids, or else are the first S rows of the table.
 */
function unfuse(node: Node, graph: Graph, scratch: Scratch): void {
  const [ids, segmentIds, word, position, segment, gamma, beta, , positionIds] = node.inputs;
  const op = (opType: string, inputs: Value[], name: string) =>
    graph.createNode({ opType, inputs, name: `${node.name}/${name}`, before: node }).output(0);
  const int64 = (name: string, value: number) =>
    graph.addInitializer(`${node.name}_${name}`, Tensor.fromArray('', DataType.INT64, [], [value]));
  const w = quantizedTable(graph, word!, scratch);
  let sum = op(
    'DequantizeLinear',
    [op('Gather', [w.q, ids!], 'word_rows_quantized'), w.scale, w.zeroPoint],
    'word_rows',
  );
  let positions = positionIds;
  if (!positions) {
    const length = op('Gather', [op('Shape', [ids!], 'ids_shape'), int64('sequence_axis', 1)], 'sequence_length');
    positions = op('Range', [int64('first_position', 0), length, int64('position_step', 1)], 'positions');
  }
  sum = op('Add', [sum, op('Gather', [position!, positions], 'position_rows')], 'word_position_sum');
  if (segment && segmentIds)
    sum = op('Add', [sum, op('Gather', [segment, segmentIds], 'segment_rows')], 'embedding_sum');
  const norm = graph.createNode({
    opType: 'LayerNormalization',
    inputs: [sum, gamma!, beta!],
    name: `${node.name}/norm`,
    before: node,
    attributes: [attr('axis', -1), attr('epsilon', node.attrFloat('epsilon', 1e-12), true)],
  });
  norm.output(0).type = node.output(0).type;
  sum.type = node.output(0).type;
  const replaced: [Value, Value][] = [[node.output(0), norm.output(0)]];
  if (node.outputs[2]) replaced.push([node.outputs[2], sum]);
  graph.replace({ outputs: replaced, remove: [node] });
  if (graph.isUnused(word!) && word!.initializer) graph.removeInitializer(word!);
}

/**
 * Quantizes the tables of every EmbedLayerNormalization it can, as QEmbedLayerNormalization or else around a uint8
 * word table; returns how many, with a note for each one changed that way or left float.
 */
export function quantizeEmbedLayerNorms(graph: Graph, notes: string[], scratch: Scratch): number {
  let count = 0;
  for (const node of [...graph.nodes]) {
    if (node.domain !== MS_DOMAIN || node.opType !== 'EmbedLayerNormalization') continue;
    const why = refusal(node, graph);
    if (why) {
      const unfuseWhy = unfuseRefusal(node, graph);
      if (unfuseWhy) notes.push(`${node.describe()}: ${why}; stays float: ${unfuseWhy}`);
      else {
        notes.push(
          `${node.describe()}: ${why}; written out as Gather + DequantizeLinear of a uint8 word table, Add, LayerNormalization`,
        );
        unfuse(node, graph, scratch);
        count++;
      }
      continue;
    }
    const quantized = TABLES.map((i) => {
      const v = node.inputs[i];
      return v ? quantizedTable(graph, v, scratch) : undefined;
    });
    // QEmbedLayerNormalization takes the tables' quantized data, then their scales, then their zero points
    const each = (part: keyof QuantizedTable) => quantized.map((t) => t?.[part] ?? null);
    const inputs: (Value | null)[] = [
      node.inputs[0] ?? null,
      node.inputs[1] ?? null,
      ...each('q'),
      node.inputs[7] ?? null,
      ...each('scale'),
      ...each('zeroPoint'),
    ];
    const q = graph.createNode({
      opType: 'QEmbedLayerNormalization',
      domain: MS_DOMAIN,
      inputs,
      outputs: 2,
      name: `${node.name}_quant`,
      before: node,
      attributes: [attr('epsilon', node.attrFloat('epsilon', 1e-12), true)],
    });
    q.output(0).type = node.output(0).type;
    q.output(1).type = node.outputs[1]?.type ?? tensorType(DataType.INT32);
    const tables = TABLES.map((i) => node.inputs[i]).filter((v): v is Value => !!v);
    const replaced: [Value, Value][] = [[node.output(0), q.output(0)]];
    if (node.outputs[1]) replaced.push([node.outputs[1], q.output(1)]);
    graph.replace({ outputs: replaced, remove: [node] });
    for (const v of tables) if (graph.isUnused(v) && v.initializer) graph.removeInitializer(v);
    count++;
  }
  return count;
}
