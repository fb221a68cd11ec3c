// quantize: dynamic INT8 quantization. Constant weights become 8-bit, bit for bit what onnxruntime's quantize_dynamic
// makes for the same settings (Conv per channel is ours: onnxruntime quantizes Conv per tensor); activations are
// quantized to uint8 at run time.
//   MatMul / Gemm -> DynamicQuantizeMatMul, or MatMulIntegerToFloat after one shared DynamicQuantizeLinear when
//                    several of them read the same input (format 'fused', the default: onnxruntime runs the same
//                    kernels after fusing the 'integer' form at load, so emitting them saves load time and does not
//                    depend on the session's optimization level); MatMulInteger + Cast + Mul (format 'integer')
//   Attention     -> QAttention          Conv -> ConvInteger graph          Gather -> uint8 table + DequantizeLinear
//   EmbedLayerNormalization -> QEmbedLayerNormalization (uint8 tables; see quantize/embed-layer-norm.ts)
//   SkipLayerNormalization with a bias -> Add, Add, LayerNormalization: faster on the CPU EP that runs quantized
//                    models (see split-skip-layer-norm.ts); --keep-skip-layer-norm leaves it
// If/Loop/Scan bodies (merged decoders) are rewritten too: a weight is quantized once, beside the float weight in
// the graph that holds it, so every body that read it can read the quantized one. A weight any other node reads (or
// reads in another layout) stays float.
import { OnnxOptError } from '../src/errors.js';
import { attr, type Attribute } from '../src/ir/attribute.js';
import type { Graph, Node, Value } from '../src/ir/graph.js';
import type { Model } from '../src/ir/model.js';
import { Scratch, Tensor } from '../src/ir/tensor.js';
import { elemTypeOf, shapeOf, tensorType } from '../src/ir/types.js';
import { definePass, option, sequence, type OptionValues, type PassResult } from '../src/pass/index.js';
import { applyRulesAt, nodeLabel, oneD, rule } from '../src/pattern/index.js';
import { DataType, dataTypeName } from '../src/tensor/dtype.js';
import { quantizeWeight, type QuantType } from '../src/tensor/quantize.js';
import { quantizeEmbedLayerNorms } from './quantize/embed-layer-norm.js';
import { quantizedTensor, type QuantizedTensor } from './quantize/weights.js';
import { splitSkipLayerNormPass } from './split-skip-layer-norm.js';
import { MS_DOMAIN } from '../src/ir/ops.js';

const QUANTIZABLE = ['MatMul', 'Gemm', 'Attention', 'Conv', 'Gather'] as const;
type QuantizableOp = (typeof QUANTIZABLE)[number];
/** Every op type --ops takes: the node-by-node plans above, and EmbedLayerNormalization (quantize/embed-layer-norm.ts). */
const OP_NAMES = [...QUANTIZABLE, 'EmbedLayerNormalization'] as const;
const DEFAULT_OPS = ['MatMul', 'Gemm', 'Attention', 'Conv', 'EmbedLayerNormalization'] as const;

const OPTIONS = {
  perChannel: option.boolean('one scale per output channel (--no-per-channel: one per weight tensor)', {
    default: true,
  }),
  reduceRange: option.boolean('7-bit weights, for CPUs without VNNI (--no-reduce-range: full 8-bit)', {
    default: true,
  }),
  weightType: option.enum('int8 (symmetric) or uint8 (asymmetric) weights', ['int8', 'uint8'], { default: 'int8' }),
  ops: option.list('op types to quantize, comma-separated', { choices: OP_NAMES, default: DEFAULT_OPS }),
  exclude: option.list('node names to leave float, comma-separated'),
  minWeightSize: option.int('leave weights with fewer elements float', { default: 0, min: 0 }),
  quantFormat: option.enum(
    'fused: DynamicQuantizeMatMul/MatMulIntegerToFloat; integer: MatMulInteger graph',
    ['fused', 'integer'],
    {
      default: 'fused',
    },
  ),
};

/** Ops found only in models that are quantized already. */
const QUANTIZED_OPS = new Set([
  'DynamicQuantizeLinear',
  'QuantizeLinear',
  'DequantizeLinear',
  'MatMulInteger',
  'ConvInteger',
  'DynamicQuantizeMatMul',
  'MatMulIntegerToFloat',
  'QAttention',
  'QEmbedLayerNormalization',
  'QGemm',
  'DynamicQuantizeLSTM',
  'MatMulNBits',
  'GatherBlockQuantized',
  'MatMulBnb4',
  'QuantizeBFP',
  'DequantizeBFP',
]);
const isQuantizedOp = (n: Node) => QUANTIZED_OPS.has(n.opType) || /^Q(Linear|Ordered)/.test(n.opType);

/** Attention attributes QAttention takes as they are. */
const QATTENTION_ATTRS = new Set([
  'num_heads',
  'unidirectional',
  'scale',
  'mask_filter_value',
  'do_rotary',
  'past_present_share_buffer',
]);
/** Conv attributes ConvInteger shares. */
const CONV_ATTRS = new Set(['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides']);

interface Settings {
  perChannel: boolean;
  reduceRange: boolean;
  weightType: QuantType;
  ops: Set<string>;
  exclude: Set<string>;
  minWeightSize: number;
  format: OptionValues<typeof OPTIONS>['quantFormat'];
}

/**
 * How a weight is laid out for its consumers: `columns` is (K, N) read by MatMul-like ops, `rows` is Gemm's
 * transB (N, K) stored transposed, `conv` is (M, C/group, k...), `table` an embedding table.
 */
type Layout = 'columns' | 'rows' | 'conv' | 'table';

interface Plan {
  node: Node;
  op: QuantizableOp;
  weight: Value;
  tensor: Tensor;
  layout: Layout;
  /**
   * The float input quantized at run time (absent for Gather), as planned: it keys the sharing of one
   * DynamicQuantizeLinear; the node's current input 0 is what gets read (an earlier rewrite may have replaced it).
   */
  activation?: Value;
}

/** A quantized weight in the graph. */
interface WeightValues {
  q: Value;
  scale: Value;
  zeroPoint: Value;
}

/** Gemm's bias: a vector of N the op takes as input, or a tensor added after it. */
interface Bias {
  kind: 'vector' | 'add';
  value: Value;
}

/** A DynamicQuantizeLinear's outputs. */
interface QuantizedActivation {
  q: Value;
  scale: Value;
  zeroPoint: Value;
}

/** The weights and the nodes that read them; `quantize` below adds the SkipLayerNormalization split. */
const quantizeNodesPass = definePass({
  name: 'quantize-nodes',
  lossy: true,
  description: 'dynamic INT8 quantization of the nodes that read constant weights',
  options: OPTIONS,
  run(model, context): PassResult {
    const settings = settingsOf(context.options);
    refuseQuantized(model);
    const graph = model.graph;
    const notes: string[] = [];
    const bytesBefore = initializerBytes(graph);
    const plans = planModel(graph, settings, notes);
    // float weights are only read once, to quantize them: from external data, through one reused buffer
    const scratch = new Scratch();
    const embeds = settings.ops.has('EmbedLayerNormalization') ? quantizeEmbedLayerNorms(graph, notes, scratch) : 0;
    if (plans.length === 0 && embeds === 0) {
      context.log('quantize: nothing to quantize');
      return { changed: false, stats: { quantizedNodes: 0, skipped: notes.length }, notes };
    }
    const opset = model.opsetVersion('') ?? 0;
    if (plans.length && opset < 11)
      throw new OnnxOptError(
        `quantization needs ai.onnx opset 11 or later (DynamicQuantizeLinear); the model imports ${opset}`,
      );
    const rewriter = new Rewriter(model, settings, plans, scratch);
    for (const plan of plans) rewriter.rewrite(plan);
    rewriter.removeReplacedConstants();
    if (rewriter.usesContribOps || embeds) model.requireOpset(MS_DOMAIN, 1);
    const stats: Record<string, number> = { quantizedNodes: plans.length + embeds };
    for (const p of plans) stats[`quantized.${p.op}`] = (stats[`quantized.${p.op}`] ?? 0) + 1;
    if (embeds) stats['quantized.EmbedLayerNormalization'] = embeds;
    if (rewriter.biasesFolded) stats.biasesFolded = rewriter.biasesFolded;
    Object.assign(stats, {
      skipped: notes.length,
      weightBytesBefore: bytesBefore,
      weightBytesAfter: initializerBytes(graph),
    });
    const record = {
      settings: context.options,
      quantized: plans.map((p) => ({ node: p.node.name, op: p.op, weight: p.weight.name })),
      skipped: notes,
      stats,
    };
    const explained = context.explain ? rewriter.biasNearMisses : [];
    return { changed: true, stats, notes: [...notes, ...explained], record };
  },
});

/**
 * MatMul + Add(constant vector of N), quantized: the fused op takes the vector as its bias input and the Add goes.
 * Rules, tried at the Add right after its MatMul is rewritten (what is quantized next reads the folded value), so the
 * driver refuses a product read elsewhere and --explain says why an Add stayed. The integer format has no fused op:
 * onnxruntime folds its Add itself.
 */
const biasRule = (opType: 'DynamicQuantizeMatMul' | 'MatMulIntegerToFloat', scalesAndZeroPoints: number) =>
  rule({
    name: `${opType} bias`,
    pattern: (p) => {
      const rest = Array.from({ length: scalesAndZeroPoints }, () => p.any());
      const fused = p.op({ domain: MS_DOMAIN, type: opType }, [p.any(), p.const('weight'), ...rest]).as('fused');
      return p.op('Add', [fused, p.const('bias')], { commutative: true });
    },
    check: (m) => {
      const bias = m.constant('bias');
      if (bias.dataType !== DataType.FLOAT)
        return `bias '${m.value('bias').name}' is ${dataTypeName(bias.dataType)}, not float32`;
      return oneD(m.constant('weight').dims[1])(bias);
    },
    rewrite: (_b, m) => {
      // The op itself takes the bias: a new op's output would take the Add's name, where the op's own stays.
      const fused = m.node('fused');
      fused.setInputs([...fused.inputs, m.value('bias')]);
      const y = fused.output(0);
      y.type = m.outputs[0]!.type; // it computes the Add's result now
      return y;
    },
  });

const BIAS_RULES = [biasRule('DynamicQuantizeMatMul', 2), biasRule('MatMulIntegerToFloat', 4)];

export const quantizePass = sequence('quantize', {
  description:
    'dynamic INT8 quantization: 8-bit weights for MatMul/Gemm/Attention/Conv/EmbedLayerNormalization (and Gather tables), uint8 activations at run time',
  options: {
    keepSkipLayerNorm: option.boolean(
      'leave SkipLayerNormalization fused (onnxruntime 1.30 runs it slower on CPU than Add + LayerNormalization)',
    ),
  },
  steps: [quantizeNodesPass, { pass: splitSkipLayerNormPass, unless: 'keepSkipLayerNorm', onlyAfterChange: true }],
});

function settingsOf(options: OptionValues<typeof OPTIONS>): Settings {
  return {
    perChannel: options.perChannel,
    reduceRange: options.reduceRange,
    weightType: options.weightType,
    ops: new Set(options.ops),
    exclude: new Set(options.exclude),
    minWeightSize: options.minWeightSize,
    format: options.quantFormat,
  };
}

function refuseQuantized(model: Model): void {
  for (const g of model.graph.allGraphs()) {
    const q = g.nodes.find(isQuantizedOp);
    if (q)
      throw new OnnxOptError(
        `model is already quantized (it has ${q.opType} node '${q.name}'); quantizing it again is refused`,
      );
  }
}

function initializerBytes(graph: Graph): number {
  return graph.initializers.reduce((n, v) => n + v.initializer!.byteLength, 0);
}

// ---- planning: which nodes, which weights ----

/**
 * Exporters pass a weight shared by several layers (ALBERT) through Identity nodes: let quantizable nodes read the
 * constant itself, so one quantized copy serves every layer, and drop the Identity nodes left unread.
 */
function readWeightsDirectly(graph: Graph, settings: Settings): void {
  for (const node of [...graph.allGraphs()].flatMap((g) => g.nodes)) {
    const op = quantizableOp(node);
    if (!op || !settings.ops.has(op) || settings.exclude.has(node.name)) continue;
    const index = op === 'Gather' ? 0 : 1;
    const read = node.inputs[index];
    const identity = read?.producer;
    if (!identity || identity.opType !== 'Identity' || identity.domain !== '' || !identity.input(0).constantTensor())
      continue;
    node.replaceInput(index, identity.input(0));
    if (read.uses.length === 0 && !identity.graph!.outputs.includes(read)) identity.graph!.removeNode(identity);
  }
}

/** Plans for the nodes of the main graph and of every If/Loop/Scan body in it. */
function planModel(graph: Graph, settings: Settings, notes: string[]): Plan[] {
  readWeightsDirectly(graph, settings);
  const plans: Plan[] = [];
  // Values a caller sees or feeds: a weight among them stays as it is.
  const pinned = new Set([...graph.inputs, ...[...graph.allGraphs()].flatMap((g) => g.outputs)]);
  for (const node of [...graph.allGraphs()].flatMap((g) => g.nodes)) {
    const op = quantizableOp(node);
    if (!op || !settings.ops.has(op) || settings.exclude.has(node.name)) continue;
    const plan = planNode(node, op, settings, pinned);
    if (typeof plan === 'string') notes.push(`${node.describe()}: ${plan}`);
    else plans.push(plan);
  }
  // A weight is replaced only when every reader is quantized here and wants it in the same layout.
  const byWeight = new Map<Value, Plan[]>();
  for (const p of plans) byWeight.set(p.weight, [...(byWeight.get(p.weight) ?? []), p]);
  const dropped = new Set<Plan>();
  for (const [weight, readers] of byWeight) {
    const planned = new Map(readers.map((p) => [p.node, p]));
    const other = weight.uses.find(
      (u) => planned.get(u.node)?.weight !== weight || u.index !== weightIndex(planned.get(u.node)!),
    );
    const layouts = new Set(readers.map((p) => p.layout));
    const why = other
      ? `weight '${weight.name}' is also read by ${other.node.describe()}, which stays float`
      : layouts.size > 1
        ? `weight '${weight.name}' is read in several layouts (${[...layouts].join(', ')})`
        : undefined;
    if (!why) continue;
    for (const p of readers) {
      dropped.add(p);
      notes.push(`${p.node.describe()}: ${why}`);
    }
  }
  return plans.filter((p) => !dropped.has(p));
}

function quantizableOp(node: Node): QuantizableOp | undefined {
  if (node.domain === MS_DOMAIN) return node.opType === 'Attention' ? 'Attention' : undefined;
  if (node.domain !== '' && node.domain !== 'ai.onnx') return undefined;
  return (QUANTIZABLE as readonly string[]).includes(node.opType) && node.opType !== 'Attention'
    ? (node.opType as QuantizableOp)
    : undefined;
}

const weightIndex = (p: Plan) => (p.op === 'Gather' ? 0 : 1);

/** The plan for one node, or why it stays float. */
function planNode(node: Node, op: QuantizableOp, settings: Settings, pinned: ReadonlySet<Value>): Plan | string {
  const weight = node.inputs[op === 'Gather' ? 0 : 1];
  const tensor = weight?.constantTensor();
  if (!weight || !tensor) return `its ${op === 'Gather' ? 'table' : 'weight'} is not a constant`;
  if (tensor.dataType !== DataType.FLOAT) return `weight '${weight.name}' is not float32`;
  if (pinned.has(weight)) return `weight '${weight.name}' is a graph input or output`;
  if (tensor.size < settings.minWeightSize)
    return `weight '${weight.name}' has ${tensor.size} elements, fewer than --min-weight-size`;
  if (op === 'Gather') return { node, op, weight, tensor, layout: 'table' };
  const activation = node.inputs[0];
  if (!activation) return 'it has no input';
  const activationType = elemTypeOf(activation.type);
  if (activationType !== undefined && activationType !== DataType.FLOAT)
    return `input '${activation.name}' is not float32`;
  const plan = { node, op, weight, tensor, activation };
  switch (op) {
    case 'MatMul':
      return tensor.rank === 2
        ? { ...plan, layout: 'columns' }
        : `weight '${weight.name}' has rank ${tensor.rank}, not 2`;
    case 'Gemm': {
      if (node.attrInt('transA', 0) !== 0) return 'transA is set';
      if (node.attrFloat('alpha', 1) !== 1) return 'alpha is not 1';
      const c = node.inputs[2];
      if (c && !c.constantTensor() && node.attrFloat('beta', 1) !== 1) return 'beta is not 1 and C is not a constant';
      return { ...plan, layout: node.attrInt('transB', 0) ? 'rows' : 'columns' };
    }
    case 'Attention': {
      if (node.attributes.has('qkv_hidden_sizes'))
        return 'qkv_hidden_sizes is set (QAttention needs equal Q, K, V sizes)';
      const extra = [...node.attributes.keys()].find((k) => !QATTENTION_ATTRS.has(k));
      if (extra) return `attribute '${extra}' has no QAttention counterpart`;
      if (node.inputs.slice(5).some((v) => v))
        return 'it uses attention_bias or past_sequence_length, which QAttention lacks';
      return tensor.rank === 2
        ? { ...plan, layout: 'columns' }
        : `weight '${weight.name}' has rank ${tensor.rank}, not 2`;
    }
    case 'Conv': {
      const bias = node.inputs[2];
      if (bias && bias.constantTensor()?.dataType !== DataType.FLOAT) return 'its bias is not a float32 constant';
      return tensor.rank >= 3 ? { ...plan, layout: 'conv' } : `weight '${weight.name}' has rank ${tensor.rank}`;
    }
  }
}

// ---- rewriting ----

class Rewriter {
  private readonly weights = new Map<Value, WeightValues>();
  /** Per graph (a body can read an outer activation, but quantizes it itself): one DynamicQuantizeLinear per input. */
  private readonly activations = new Map<Graph, Map<Value, QuantizedActivation>>();
  /** How many planned nodes of each graph read each activation: a lone MatMul reader quantizes it itself. */
  private readonly readers = new Map<Graph, Map<Value, number>>();
  /** Constants whose last readers were rewritten; removed at the end when nothing reads them. */
  private readonly replaced = new Set<Value>();
  /** The graph of the node being rewritten, where its new nodes go. */
  private graph: Graph;
  usesContribOps = false;

  /** Bias Adds folded into the fused op after a MatMul, and (for --explain) why the others stayed. */
  biasesFolded = 0;
  readonly biasNearMisses: string[] = [];
  private readonly root: Graph;

  constructor(
    private readonly model: Model,
    private readonly settings: Settings,
    plans: readonly Plan[],
    private readonly scratch: Scratch,
  ) {
    this.root = model.graph;
    this.graph = this.root;
    for (const p of plans) {
      if (!p.activation) continue;
      const counts = perGraph(this.readers, p.node.graph!);
      counts.set(p.activation, (counts.get(p.activation) ?? 0) + 1);
    }
  }

  rewrite(plan: Plan): void {
    const { node } = plan;
    this.graph = node.graph!;
    this.replaced.add(plan.weight);
    const weight = this.weightValues(plan);
    const name = `${node.name || node.opType}_quant`;
    if (plan.op === 'Gather') {
      const gathered = this.add(node, {
        opType: 'Gather',
        inputs: [weight.q, node.input(1)],
        attributes: [...node.attributes.values()],
        name,
      });
      this.finish(node, [
        this.add(node, {
          opType: 'DequantizeLinear',
          inputs: [gathered, weight.scale, weight.zeroPoint],
          name: `${name}_dequantize`,
        }),
      ]);
    } else if (plan.op === 'Attention') {
      this.rewriteAttention(plan, weight, name);
    } else if (plan.op === 'Conv') {
      this.rewriteConv(plan, weight, name);
    } else {
      this.rewriteMatMul(plan, weight, name);
    }
  }

  private rewriteMatMul(plan: Plan, weight: WeightValues, name: string): void {
    const { node } = plan;
    const bias = plan.op === 'Gemm' ? this.gemmBias(plan) : undefined;
    const vectorBias = bias?.kind === 'vector' ? bias.value : undefined;
    let y: Value;
    if (this.settings.format === 'integer') {
      const xq = this.quantizedActivation(plan);
      const product = this.add(node, {
        opType: 'MatMulInteger',
        inputs: [xq.q, weight.q, xq.zeroPoint, weight.zeroPoint],
        name,
      });
      y = this.rescale(node, product, xq.scale, weight.scale, name);
      if (vectorBias) y = this.add(node, { opType: 'Add', inputs: [y, vectorBias], name: `${name}_bias_add` });
    } else if (this.readers.get(this.graph)!.get(plan.activation!) === 1) {
      y = this.addContrib(
        node,
        'DynamicQuantizeMatMul',
        [node.input(0), weight.q, weight.scale, weight.zeroPoint, vectorBias ?? null],
        name,
      );
    } else {
      const xq = this.quantizedActivation(plan);
      y = this.addContrib(
        node,
        'MatMulIntegerToFloat',
        [xq.q, weight.q, xq.scale, weight.scale, xq.zeroPoint, weight.zeroPoint, vectorBias ?? null],
        name,
      );
    }
    if (bias?.kind === 'add') y = this.add(node, { opType: 'Add', inputs: [y, bias.value], name: `${name}_bias_add` });
    this.finish(node, [y]);
    if (plan.op === 'MatMul') this.foldBias(y);
  }

  private rewriteAttention(plan: Plan, weight: WeightValues, name: string): void {
    const { node } = plan;
    const xq = this.quantizedActivation(plan);
    const hidden = plan.tensor.dims[1]!;
    const bias =
      node.inputs[2] ??
      this.graph.addInitializer(
        `${plan.weight.name}_zero_bias`,
        Tensor.fromArray('', DataType.FLOAT, [hidden], new Float32Array(hidden)),
      );
    const inputs = [
      xq.q,
      weight.q,
      bias,
      xq.scale,
      weight.scale,
      node.inputs[3] ?? null,
      xq.zeroPoint,
      weight.zeroPoint,
      node.inputs[4] ?? null,
    ];
    const outputs = node.outputs.map((v) => (v ? this.graph.newValue(`${v.name}_quantized`, v.type) : null));
    const qattention = this.graph.createNode({
      opType: 'QAttention',
      domain: MS_DOMAIN,
      inputs,
      outputs,
      attributes: [...node.attributes.values()],
      name,
      before: node,
    });
    qattention.trimInputs();
    this.usesContribOps = true;
    this.finish(node, outputs);
  }

  private rewriteConv(plan: Plan, weight: WeightValues, name: string): void {
    const { node } = plan;
    const xq = this.quantizedActivation(plan);
    const attributes = [...node.attributes.values()].filter((a) => CONV_ATTRS.has(a.name));
    const product = this.add(node, {
      opType: 'ConvInteger',
      inputs: [xq.q, weight.q, xq.zeroPoint, weight.zeroPoint],
      attributes,
      name,
    });
    let y = this.rescale(node, product, xq.scale, weight.scale, name);
    const bias = node.inputs[2];
    if (bias) {
      // (M) -> (M, 1, ...) so it adds along the channel axis.
      const t = bias.constantTensor()!;
      const shaped = new Tensor('', DataType.FLOAT, [t.size, ...plan.tensor.dims.slice(2).map(() => 1)], t.bytes());
      y = this.add(node, {
        opType: 'Add',
        inputs: [y, this.graph.addInitializer(`${bias.name}_channels`, shaped)],
        name: `${name}_bias_add`,
      });
      this.replaced.add(bias);
    }
    this.finish(node, [y]);
  }

  /** integer result -> float, times input scale x weight scale. */
  private rescale(at: Node, product: Value, xScale: Value, wScale: Value, name: string): Value {
    const asFloat = this.add(at, {
      opType: 'Cast',
      inputs: [product],
      attributes: [attr('to', DataType.FLOAT)],
      name: `${name}_cast`,
    });
    const scales = this.add(at, { opType: 'Mul', inputs: [xScale, wScale], name: `${name}_scales_mul` });
    return this.add(at, { opType: 'Mul', inputs: [asFloat, scales], name: `${name}_output_scale_mul` });
  }

  /** Folds the Add of a bias after a quantized MatMul (BIAS_RULES) now, before the nodes that read it are rewritten. */
  private foldBias(y: Value): void {
    for (const reader of new Set(y.uses.map((u) => u.node))) {
      const site = applyRulesAt(this.model, reader, BIAS_RULES);
      if (site.applied) {
        this.biasesFolded++;
        return;
      }
      if (site.nearMiss)
        this.biasNearMisses.push(`${site.nearMiss.rule} at '${nodeLabel(reader)}': ${site.nearMiss.reason}`);
    }
  }

  /** Gemm's C times beta: a vector of N becomes the op's bias, anything else is added after it. */
  private gemmBias(plan: Plan): Bias | undefined {
    const c = plan.node.inputs[2];
    if (!c) return undefined;
    const t = c.constantTensor();
    if (!t) return { kind: 'add', value: c };
    const beta = plan.node.attrFloat('beta', 1);
    const n = plan.tensor.dims[plan.layout === 'rows' ? 0 : 1]!;
    const isVector = t.size === n && (t.rank === 1 || (t.rank === 2 && t.dims[0] === 1));
    if (isVector && t.rank === 1 && beta === 1) return { kind: 'vector', value: c };
    this.replaced.add(c);
    const values = Float32Array.from(t.toFloat32(), (v) => v * beta);
    if (isVector || t.size === 1) {
      const vector = isVector ? values : new Float32Array(n).fill(values[0]!);
      return {
        kind: 'vector',
        value: this.graph.addInitializer(`${c.name}_bias`, Tensor.fromArray('', DataType.FLOAT, [n], vector)),
      };
    }
    return {
      kind: 'add',
      value: this.graph.addInitializer(`${c.name}_scaled`, Tensor.fromArray('', DataType.FLOAT, t.dims, values)),
    };
  }

  /** Points the old outputs' readers at the new values and drops the old node. */
  private finish(last: Node, outputs: (Value | null)[]): void {
    const pairs = last.outputs.flatMap((old, i) => {
      const replacement = outputs[i];
      if (!old || !replacement) return [];
      replacement.type ??= old.type;
      return [[old, replacement] as const];
    });
    this.graph.replace({ outputs: pairs, remove: [last] });
  }

  private add(
    before: Node,
    init: { opType: string; inputs: (Value | null)[]; attributes?: Attribute[]; name: string },
  ): Value {
    return this.graph.createNode({ ...init, outputs: [this.graph.newValue(init.name)], before }).output(0);
  }

  private addContrib(before: Node, opType: string, inputs: (Value | null)[], name: string): Value {
    this.usesContribOps = true;
    const node = this.graph.createNode({
      opType,
      domain: MS_DOMAIN,
      inputs,
      outputs: [this.graph.newValue(name)],
      name,
      before,
    });
    node.trimInputs();
    return node.output(0);
  }

  /** One DynamicQuantizeLinear per input, placed before its first quantized reader. */
  private quantizedActivation(plan: Plan): QuantizedActivation {
    const made = perGraph(this.activations, this.graph);
    let q = made.get(plan.activation!);
    if (!q) {
      const [before, x] = [plan.node, plan.node.input(0)];
      const base = `${x.name}_quantized`;
      const outputs = [
        this.graph.newValue(base, tensorType(DataType.UINT8, shapeOf(x.type))),
        this.graph.newValue(`${x.name}_scale`, tensorType(DataType.FLOAT, [])),
        this.graph.newValue(`${x.name}_zero_point`, tensorType(DataType.UINT8, [])),
      ];
      this.graph.createNode({
        opType: 'DynamicQuantizeLinear',
        inputs: [x],
        outputs,
        name: `${x.name}_QuantizeLinear`,
        before,
      });
      q = { q: outputs[0]!, scale: outputs[1]!, zeroPoint: outputs[2]! };
      made.set(plan.activation!, q);
    }
    return q;
  }

  /** The weight's quantized initializers, made once however many nodes read it. */
  private weightValues(plan: Plan): WeightValues {
    const made = this.weights.get(plan.weight);
    if (made) return made;
    const owner = ownerGraph(this.root, plan.weight);
    const quantized = quantizeForLayout(plan.tensor, plan.layout, this.settings, this.scratch);
    const w = plan.weight.name;
    const dataType = quantized.type === 'int8' ? DataType.INT8 : DataType.UINT8;
    const qDims = quantized.data.dims;
    // Conv takes one zero point (onnxruntime's ConvInteger wants a scalar) and its scales shaped (M, 1, ...).
    const perChannel = quantized.axis !== undefined;
    const scaleDims = !perChannel
      ? []
      : plan.layout === 'conv'
        ? [quantized.scales.length, ...qDims.slice(2).map(() => 1)]
        : [quantized.scales.length];
    const zeroPoints = plan.layout === 'conv' ? quantized.zeroPoints.subarray(0, 1) : quantized.zeroPoints;
    const zeroDims = plan.layout === 'conv' || !perChannel ? [] : [zeroPoints.length];
    const values = {
      q: owner.addInitializer(`${w}_quantized`, quantized.data),
      scale: owner.addInitializer(`${w}_scale`, Tensor.fromArray('', DataType.FLOAT, scaleDims, quantized.scales)),
      zeroPoint: owner.addInitializer(`${w}_zero_point`, Tensor.fromArray('', dataType, zeroDims, zeroPoints)),
    };
    this.weights.set(plan.weight, values);
    return values;
  }

  /** Drops the float weights, biases and Constant nodes nothing reads any more. */
  removeReplacedConstants(): void {
    for (const v of this.replaced) {
      const owner = ownerGraph(this.root, v);
      if (!owner.isUnused(v)) continue;
      if (v.initializer) owner.removeInitializer(v);
      else if (v.producer?.opType === 'Constant') owner.removeNode(v.producer);
    }
  }
}

function perGraph<T>(maps: Map<Graph, Map<Value, T>>, graph: Graph): Map<Value, T> {
  let map = maps.get(graph);
  if (!map) maps.set(graph, (map = new Map()));
  return map;
}

/** The graph that holds a constant: its initializer's graph, or its Constant node's. */
function ownerGraph(root: Graph, constant: Value): Graph {
  if (constant.producer) return constant.producer.graph!;
  for (const g of root.allGraphs()) if (g.initializers.includes(constant)) return g;
  throw new OnnxOptError(`constant '${constant.name}' belongs to no graph of the model`);
}

/** Quantizes a weight as its layout needs: per output channel (when asked and possible) or per tensor. */
function quantizeForLayout(tensor: Tensor, layout: Layout, settings: Settings, scratch: Scratch): QuantizedTensor {
  const { weightType: type, reduceRange, perChannel } = settings;
  switch (layout) {
    case 'columns':
      return quantizedTensor(tensor, tensor.dims, { type, reduceRange, axis: perChannel ? 1 : undefined }, scratch);
    case 'rows': {
      // stored transposed: quantized as the (K, N) it is read as, so made here once
      const [n, k] = tensor.dims as [number, number];
      const values = tensor.peekFloat32(scratch);
      const transposed = new Float32Array(values.length);
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) transposed[j * n + i] = values[i * k + j]!;
      const { data, ...quantized } = quantizeWeight(transposed, [k, n], {
        type,
        reduceRange,
        axis: perChannel ? 1 : undefined,
      });
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      return { ...quantized, data: new Tensor('', type === 'int8' ? DataType.INT8 : DataType.UINT8, [k, n], bytes) };
    }
    case 'conv':
      // ConvInteger takes a single zero point: per channel only when symmetric (all zero points 0).
      return quantizedTensor(
        tensor,
        tensor.dims,
        { type, reduceRange, axis: perChannel && type === 'int8' ? 0 : undefined },
        scratch,
      );
    case 'table':
      // As onnxruntime does: embedding tables are quantized like activations, uint8 asymmetric per tensor, full range.
      return quantizedTensor(tensor, tensor.dims, { type: 'uint8', reduceRange: false }, scratch);
  }
}
