// --format qoperator: the QDQ graph's DequantizeLinear -> op -> QuantizeLinear groups become onnxruntime's
// integer operators, which read and write 8-bit tensors (the QOperator format of quantize_static):
//   MatMul -> QLinearMatMul, Conv -> QLinearConv (ai.onnx); Add, Mul -> QLinearAdd, QLinearMul (com.microsoft);
//   data movement whose output shares its input's scale and zero point (Reshape, Transpose, ...) runs on the
//   8-bit tensor itself.
// A group converts only when every float input comes from a DequantizeLinear and the output's only reader is its
// QuantizeLinear (a graph output keeps its float form); other ops stay between their Q/DQ pairs, which onnxruntime
// runs as they are. DequantizeLinear nodes left unread go.
import type { Graph, Node, Value } from '../../src/ir/graph.js';
import { MS_DOMAIN } from '../../src/ir/ops.js';
import { MOVES_QUANTIZED } from './placement.js';

/** A DequantizeLinear's quantized input, scale and zero point. */
interface Dequantized {
  q: Value;
  scale: Value;
  zeroPoint: Value;
}

function dequantized(v: Value | null | undefined): Dequantized | undefined {
  const p = v?.producer;
  if (!p || p.opType !== 'DequantizeLinear' || p.domain !== '' || !p.inputs[2]) return undefined;
  return { q: p.input(0), scale: p.input(1), zeroPoint: p.input(2) };
}

/** The QuantizeLinear that is the only reader of `y`, unless y is a graph output. */
function soleQuantize(graph: Graph, y: Value): Node | undefined {
  if (graph.outputs.includes(y) || y.uses.length !== 1) return undefined;
  const q = y.uses[0]!.node;
  return q.opType === 'QuantizeLinear' && q.domain === '' && q.inputs[2] ? q : undefined;
}

/** Converts what it can in place; returns how many ops of each type became integer ops. */
export function convertToQOperator(graph: Graph): { converted: Record<string, number>; usesContribOps: boolean } {
  const converted: Record<string, number> = {};
  let usesContribOps = false;
  for (const node of [...graph.nodes]) {
    if (node.domain !== '' || !node.graph) continue;
    const y = node.outputs[0];
    const quantize = y ? soleQuantize(graph, y) : undefined;
    if (!y || !quantize || node.outputs.length !== 1) continue;
    const out = quantize.output(0);
    const [outScale, outZeroPoint] = [quantize.input(1), quantize.input(2)];
    let replacement: { opType: string; domain: string; inputs: (Value | null)[] } | undefined;
    if (node.opType === 'MatMul' || node.opType === 'Add' || node.opType === 'Mul') {
      const a = dequantized(node.inputs[0]),
        b = dequantized(node.inputs[1]);
      if (!a || !b) continue;
      replacement =
        node.opType === 'MatMul'
          ? {
              opType: 'QLinearMatMul',
              domain: '',
              inputs: [a.q, a.scale, a.zeroPoint, b.q, b.scale, b.zeroPoint, outScale, outZeroPoint],
            }
          : {
              opType: `QLinear${node.opType}`,
              domain: MS_DOMAIN,
              inputs: [a.q, a.scale, a.zeroPoint, b.q, b.scale, b.zeroPoint, outScale, outZeroPoint],
            };
    } else if (node.opType === 'Conv') {
      const x = dequantized(node.inputs[0]),
        w = dequantized(node.inputs[1]);
      const bias = node.inputs[2] ? dequantized(node.inputs[2]) : undefined;
      if (!x || !w || (node.inputs[2] && !bias)) continue;
      replacement = {
        opType: 'QLinearConv',
        domain: '',
        inputs: [x.q, x.scale, x.zeroPoint, w.q, w.scale, w.zeroPoint, outScale, outZeroPoint, bias?.q ?? null],
      };
    } else if (MOVES_QUANTIZED.has(node.opType)) {
      const x = dequantized(node.inputs[0]);
      if (!x || x.scale !== outScale || x.zeroPoint !== outZeroPoint) continue;
      // the op moves 8-bit values: it reads the quantized input and its output is the quantized tensor
      node.replaceInput(0, x.q);
      y.type = out.type;
      graph.replace({ outputs: [[out, y]], remove: [quantize] });
      converted[node.opType] = (converted[node.opType] ?? 0) + 1;
      continue;
    }
    if (!replacement) continue;
    const integer = graph.createNode({
      ...replacement,
      outputs: [graph.newValue(`${y.name}_quantized`, out.type)],
      attributes: [...node.attributes.values()],
      name: `${node.name}_quant`,
      before: node,
    });
    integer.trimInputs();
    graph.replace({ outputs: [[out, integer.output(0)]], remove: [quantize, node] });
    if (replacement.domain === MS_DOMAIN) usesContribOps = true;
    converted[replacement.opType] = (converted[replacement.opType] ?? 0) + 1;
  }
  removeUnreadDequantize(graph);
  return { converted, usesContribOps };
}

function removeUnreadDequantize(graph: Graph): void {
  for (const node of [...graph.nodes]) {
    if (node.opType !== 'DequantizeLinear' || !graph.isUnused(node.output(0))) continue;
    const inputs = node.inputs.filter((v): v is Value => !!v);
    graph.removeNode(node);
    for (const v of inputs) if (graph.isUnused(v) && graph.initializers.includes(v)) graph.removeInitializer(v);
  }
}
