// q4: weight-only 4-bit (or 8-bit) blockwise quantization, as onnxruntime's MatMulNBitsQuantizer (RTN) makes it.
//   MatMul with a constant 2-D weight -> com.microsoft::MatMulNBits, weights/scales/zero points bit for bit those of
//   onnxruntime for the same settings, nodes and initializers named as it names them (<node>_Q4, <W>_Q4,
//   <W>_scales, <W>_zero_points); the node's outputs keep their names.
//   Gemm with a constant weight too (onnxruntime's quantizer skips Gemm; GPT-2's exports are all Gemm): its bias
//   becomes MatMulNBits' bias input.
//   --ops Gather: embedding tables -> GatherBlockQuantized (see q4/gather.ts).
// Subgraphs (If/Loop bodies, e.g. merged decoders) are quantized too.
import { OnnxOptError } from '../src/errors.js';
import { attr } from '../src/ir/attribute.js';
import type { Graph, Node, Value } from '../src/ir/graph.js';
import type { Model } from '../src/ir/model.js';
import { Scratch, Tensor } from '../src/ir/tensor.js';
import { elemTypeOf } from '../src/ir/types.js';
import { definePass, option, type PassResult } from '../src/pass/index.js';
import { DataType } from '../src/tensor/dtype.js';
import { quantizeGather } from './q4/gather.js';
import { removeUnused, takeOver } from './q4/rewrite.js';
import { floatMatrix, forEachRowChunk, nbitsWeight, type NBitsWeight } from './q4/weights.js';
import { MS_DOMAIN } from '../src/ir/ops.js';

const OPS = ['MatMul', 'Gemm', 'Gather'] as const;
const BLOCK_SIZES = [16, 32, 64, 128, 256];

export interface Q4Settings {
  bits: 4 | 8;
  blockSize: number;
  symmetric: boolean;
  accuracyLevel?: number;
  ops: Set<string>;
  exclude: Set<string>;
}

const OPTIONS = {
  blockSize: option.int(`rows per block: ${BLOCK_SIZES.join(', ')} (what onnxruntime's MatMulNBits runs)`, {
    default: 32,
  }),
  symmetric: option.boolean('symmetric blocks, no zero points (--no-symmetric: with zero points)', { default: true }),
  accuracyLevel: option.int(
    'MatMulNBits accuracy_level: 0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8 activations (fastest on CPU)',
    { min: 0, max: 4 },
  ),
  bits: option.int('bits per weight: 4 or 8', { default: 4, min: 4, max: 8 }),
  ops: option.list('op types to quantize to 4 bits, comma-separated', { choices: OPS, default: ['MatMul', 'Gemm'] }),
  exclude: option.list('node names to leave float, comma-separated'),
};

export const q4Pass = definePass({
  name: 'q4',
  lossy: true,
  description:
    "weight-only 4-bit blockwise quantization: MatMul/Gemm -> MatMulNBits (as onnxruntime's MatMulNBitsQuantizer), optionally Gather -> GatherBlockQuantized",
  options: OPTIONS,
  run(model: Model, context): PassResult {
    const o = context.options;
    if (o.bits !== 4 && o.bits !== 8) throw new OnnxOptError(`--bits must be 4 or 8, not ${o.bits}`);
    if (!BLOCK_SIZES.includes(o.blockSize))
      throw new OnnxOptError(
        `--block-size must be one of ${BLOCK_SIZES.join(', ')} (what onnxruntime's MatMulNBits runs), not ${o.blockSize}`,
      );
    const settings: Q4Settings = {
      bits: o.bits,
      blockSize: o.blockSize,
      symmetric: o.symmetric,
      ...(o.accuracyLevel ? { accuracyLevel: o.accuracyLevel } : {}),
      ops: new Set(o.ops),
      exclude: new Set(o.exclude),
    };
    const notes: string[] = [];
    const scratch = new Scratch();
    const stats: Record<string, number> = {};
    const count = (key: string) => (stats[key] = (stats[key] ?? 0) + 1);
    const replaced = new Set<Value>();
    const opset = model.opsetVersion('') ?? 0;
    for (const graph of [...model.graph.allGraphs()]) {
      const made = new Map<Value, { weight: NBitsWeight; values: Value[] }>();
      for (const node of [...graph.nodes]) {
        if (node.domain !== '' && node.domain !== 'ai.onnx') continue;
        if (!settings.ops.has(node.opType) || settings.exclude.has(node.name)) continue;
        if (node.opType === 'Gather') {
          const why = quantizeGather(graph, node, settings, opset, scratch, replaced);
          if (why) notes.push(`${node.describe()}: ${why}`);
          else count('quantized.Gather');
          continue;
        }
        const why = quantizeMatMul(graph, node, settings, scratch, made, replaced);
        if (why) notes.push(`${node.describe()}: ${why}`);
        else count(`quantized.${node.opType}`);
      }
    }
    removeUnused(model, replaced);
    const quantized = Object.values(stats).reduce((a, b) => a + b, 0);
    if (quantized === 0) {
      context.log('q4: nothing to quantize');
      return { changed: false, stats: { quantizedNodes: 0, skipped: notes.length }, notes };
    }
    model.requireOpset(MS_DOMAIN, 1);
    stats.quantizedNodes = quantized;
    stats.skipped = notes.length;
    const record = {
      settings: { ...settings, ops: [...settings.ops], exclude: [...settings.exclude] },
      stats,
      skipped: notes,
    };
    return { changed: true, stats, notes, record };
  },
});

/** Rewrites one MatMul/Gemm, or says why it stays. */
function quantizeMatMul(
  graph: Graph,
  node: Node,
  settings: Q4Settings,
  scratch: Scratch,
  made: Map<Value, { weight: NBitsWeight; values: Value[] }>,
  replaced: Set<Value>,
): string | undefined {
  const matrix = floatMatrix(node.inputs[1], 'weight');
  if (typeof matrix === 'string') return matrix;
  const { value: w, tensor } = matrix;
  const a = node.inputs[0];
  if (!a) return 'it has no input';
  const aType = elemTypeOf(a.type);
  if (aType !== undefined && aType !== tensor.dataType)
    return `input '${a.name}' and weight '${w.name}' differ in type`;
  let transposed = false;
  let bias: Value | undefined;
  let addAfter: Value | undefined;
  if (node.opType === 'Gemm') {
    if (node.attrInt('transA', 0) !== 0) return 'transA is set';
    if (node.attrFloat('alpha', 1) !== 1) return 'alpha is not 1';
    transposed = node.attrInt('transB', 0) !== 0;
    const c = node.inputs[2];
    const n = tensor.dims[transposed ? 0 : 1]!;
    if (c) {
      const beta = node.attrFloat('beta', 1);
      const ct = c.constantTensor();
      if (
        ct &&
        ct.dataType === tensor.dataType &&
        beta === 1 &&
        ct.size === n &&
        (ct.rank === 1 || (ct.rank === 2 && ct.dims[0] === 1))
      ) {
        bias =
          ct.rank === 1 ? c : graph.addInitializer(`${c.name}_vector`, new Tensor('', ct.dataType, [n], ct.bytes()));
        if (bias !== c) replaced.add(c);
      } else if (beta === 1) addAfter = c;
      else if (ct && ct.dataType === DataType.FLOAT) {
        addAfter = graph.addInitializer(
          `${c.name}_scaled`,
          Tensor.fromArray(
            '',
            DataType.FLOAT,
            ct.dims,
            Float32Array.from(ct.toFloat32(), (v) => v * beta),
          ),
        );
        replaced.add(c);
      } else return 'beta is not 1 and C is not a float32 constant';
    }
  }
  const suffix = settings.bits === 4 ? '_Q4' : '_Q8';
  const key = transposed ? undefined : w;
  let entry = key && made.get(key);
  if (!entry) {
    const weight = quantizeWeight(tensor, transposed, settings, scratch);
    const values = [
      graph.addInitializer(`${w.name}${suffix}`, weight.data),
      graph.addInitializer(`${w.name}_scales`, weight.scales),
    ];
    if (weight.zeroPoints) values.push(graph.addInitializer(`${w.name}_zero_points`, weight.zeroPoints));
    entry = { weight, values };
    if (key) made.set(key, entry);
  }
  const { k, n } = entry.weight.layout;
  const inputs: (Value | null)[] = [a, entry.values[0]!, entry.values[1]!, entry.values[2] ?? null];
  if (bias) inputs.push(null, bias);
  const attributes = [attr('K', k), attr('N', n), attr('bits', settings.bits), attr('block_size', settings.blockSize)];
  if (settings.accuracyLevel) attributes.push(attr('accuracy_level', settings.accuracyLevel));
  const out = node.output(0);
  const name = node.name ? `${node.name}${suffix}` : '';
  const q = graph.createNode({
    opType: 'MatMulNBits',
    domain: MS_DOMAIN,
    inputs,
    outputs: [graph.newValue(`${out.name}${suffix}`, out.type)],
    attributes,
    name,
    before: node,
  });
  if (!node.name) q.name = '';
  q.trimInputs();
  let y = q.output(0);
  if (addAfter)
    y = graph
      .createNode({
        opType: 'Add',
        inputs: [y, addAfter],
        outputs: [graph.newValue(`${out.name}_bias`, out.type)],
        name: `${q.name}_bias_add`,
        before: node,
      })
      .output(0);
  replaced.add(w);
  if (node.inputs[2]) replaced.add(node.inputs[2]);
  takeOver(graph, node, y);
  return undefined;
}

function quantizeWeight(tensor: Tensor, transposed: boolean, settings: Q4Settings, scratch: Scratch): NBitsWeight {
  const [rows, columns] = tensor.dims as [number, number];
  const [k, n] = transposed ? [columns, rows] : [rows, columns];
  const layout = {
    k,
    n,
    bits: settings.bits,
    blockSize: settings.blockSize,
    symmetric: settings.symmetric,
    float16Scales: tensor.dataType === DataType.FLOAT16,
  };
  if (!transposed)
    return nbitsWeight(layout, (visit) => forEachRowChunk(tensor, n, settings.blockSize, scratch, visit));
  // Gemm with transB: the (N, K) weight read as the (K, N) matrix it multiplies by
  return nbitsWeight(layout, (visit) => {
    const values = tensor.peekFloat32(scratch);
    const t = new Float32Array(values.length);
    for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) t[j * n + i] = values[i * k + j]!;
    visit(t, 0);
  });
}
