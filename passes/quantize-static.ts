// quantize-static: static INT8 in the QDQ format, from calibrated activation ranges. Every quantized tensor x gets
// x -> QuantizeLinear -> DequantizeLinear -> (every reader of x); weights are stored 8-bit and read through a
// DequantizeLinear; Conv/Gemm biases are stored int32. Scales and zero points are onnxruntime's quantize_static's
// for the same ranges, bit for bit (quant_utils.compute_scale_zp, src/tensor/quantize.ts); where the
// QuantizeLinear/DequantizeLinear pairs go is in quantize-static/placement.ts.
//
// The pass itself is pure: it reads the ranges from its options (`ranges`: tensor name -> [min, max]). Calibration,
// which runs the model in onnxruntime, makes them at the edge (src/runtime/calibrate.ts; the CLI's --calibration),
// and --save-config records them so that --ranges can quantize again without calibrating.
//
// --trt: what TensorRT's explicit quantization takes: int8 everywhere, symmetric (every zero point 0), weights per
// output channel, Q/DQ on the inputs of the weighted ops only (TensorRT fuses DQ -> op -> Q around them), float
// biases, and only standard ONNX ops (a model with onnxruntime's contrib fusions is refused).
import { OnnxOptError } from '../src/errors.js';
import { attr } from '../src/ir/attribute.js';
import type { Graph, Node, Value } from '../src/ir/graph.js';
import { Value as IrValue } from '../src/ir/graph.js';
import type { Model } from '../src/ir/model.js';
import { Scratch, Tensor } from '../src/ir/tensor.js';
import { shapeOf, tensorType } from '../src/ir/types.js';
import { definePass, option, type OptionValues, type PassOptions, type PassResult } from '../src/pass/index.js';
import { CALIBRATION_METHODS, type TensorRange } from '../src/tensor/calibration.js';
import { DataType } from '../src/tensor/dtype.js';
import {
  computeScaleZeroPoint,
  quantRange,
  roundHalfToEven,
  type QuantParams,
  type QuantType,
} from '../src/tensor/quantize.js';
import { quantizedTensor } from './quantize/weights.js';
import { convertToQOperator } from './quantize-static/qoperator.js';
import {
  DEFAULT_STATIC_OPS,
  paramsSource,
  planPlacement,
  type Placement,
  type TensorRole,
} from './quantize-static/placement.js';

/** The weighted ops TensorRT fuses with the Q/DQ on their inputs. */
const TRT_OPS = ['MatMul', 'Gemm', 'Conv', 'ConvTranspose'];
const INT32_MIN = -2147483648,
  INT32_MAX = 2147483647;

export interface StaticSettings {
  activationType: QuantType;
  weightType: QuantType;
  activationSymmetric: boolean;
  /** onnxruntime's WeightSymmetric: true for int8 weights, false for uint8. */
  weightSymmetric: boolean;
  perChannel: boolean;
  ops: Set<string>;
  exclude: Set<string>;
  format: 'qdq' | 'qoperator';
  trt: boolean;
}

/**
 * Calibrated ranges as the library and the CLI's calibration hand them to the pass, under `calibratedRanges`: an
 * object or a Map of tensor name -> [min, max].
 */
export type RangesOption = Record<string, TensorRange> | ReadonlyMap<string, TensorRange>;

const OPTIONS = {
  calibration: option.string(
    'calibration inputs: .npz (arrays named after the inputs, samples on the first axis) or .json (a list of runs)',
  ),
  ranges: option.string(
    'calibrated ranges from a --save-config record (<stem>.quantize-static_config.json), instead of calibrating',
  ),
  method: option.enum('calibration method', CALIBRATION_METHODS, { default: 'minmax' }),
  percentile: option.number("the percentile method's p", { default: 99.999, min: 0, max: 100 }),
  calibrationBatch: option.int('samples per calibration run (a fixed batch dim wins)', { default: 8, min: 1 }),
  symmetricActivations: option.boolean('symmetric activation ranges (zero point 0 for int8)'),
  perChannel: option.boolean('one weight scale per output channel'),
  activationType: option.enum('activation type', ['int8', 'uint8'], { default: 'int8' }),
  weightType: option.enum('weight type (int8 symmetric, uint8 asymmetric)', ['int8', 'uint8'], { default: 'int8' }),
  ops: option.list(
    `op types to quantize, comma-separated (default onnxruntime's: ${DEFAULT_STATIC_OPS.join(',')}; --trt: ${TRT_OPS.join(',')})`,
  ),
  exclude: option.list('node names to leave float, comma-separated'),
  format: option.enum(
    'qdq: QuantizeLinear/DequantizeLinear around float ops; qoperator: QLinearMatMul/QLinearConv/QLinearAdd/QLinearMul',
    ['qdq', 'qoperator'],
    { default: 'qdq' },
  ),
  trt: option.boolean(
    'for TensorRT: int8 symmetric everywhere, weights per channel, Q/DQ on the inputs of MatMul/Gemm/Conv, standard ops only',
  ),
};

/** The pass's settings from its parsed options, with onnxruntime quantize_static's defaults. */
export function staticSettings(options: OptionValues<typeof OPTIONS>): StaticSettings {
  const { trt, activationType, weightType, format } = options;
  if (activationType === 'int8' && weightType === 'uint8') {
    throw new OnnxOptError(
      'int8 activations with uint8 weights are refused (onnxruntime refuses them too): use --weight-type int8',
    );
  }
  if (trt && (activationType !== 'int8' || weightType !== 'int8'))
    throw new OnnxOptError('--trt quantizes to int8 only (TensorRT takes no uint8)');
  if (trt && format !== 'qdq')
    throw new OnnxOptError('--trt writes the QDQ format (TensorRT reads QuantizeLinear/DequantizeLinear)');
  return {
    activationType,
    weightType,
    activationSymmetric: trt || options.symmetricActivations,
    weightSymmetric: trt || weightType === 'int8',
    perChannel: trt || options.perChannel,
    ops: new Set(options.ops.length ? options.ops : trt ? TRT_OPS : DEFAULT_STATIC_OPS),
    exclude: new Set(options.exclude),
    format,
    trt,
  };
}

/** The settings from options as a caller gives them (CLI flags camel-cased, or library values). */
export function readStaticSettings(given: PassOptions): StaticSettings {
  return staticSettings(quantizeStaticPass.settings(given));
}

/** The ranges from options, or an error saying how to get them. */
function readRanges(options: PassOptions): Map<string, TensorRange> {
  const given = options.calibratedRanges;
  if (given === undefined || typeof given !== 'object' || given === null) {
    throw new OnnxOptError(
      'quantize-static needs calibrated ranges: --calibration FILE.npz|.json (runs the model in onnxruntime) ' +
        'or --ranges FILE (a <stem>.quantize-static_config.json that --save-config wrote)',
    );
  }
  const entries = given instanceof Map ? [...given] : Object.entries(given as Record<string, TensorRange>);
  const ranges = new Map<string, TensorRange>();
  for (const [name, r] of entries) {
    // min > max is accepted as onnxruntime accepts it: percentile's clipping can give it for a constant tensor, and
    // compute_scale_zp widens every range to hold 0 anyway
    if (!Array.isArray(r) || r.length !== 2 || !r.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new OnnxOptError(`the range of '${name}' must be [min, max] of finite numbers, not ${JSON.stringify(r)}`);
    }
    ranges.set(name, [Math.fround(r[0]), Math.fround(r[1])]);
  }
  return ranges;
}

const QUANTIZED_OPS = new Set([
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'DynamicQuantizeMatMul',
  'MatMulInteger',
  'ConvInteger',
  'MatMulIntegerToFloat',
  'QAttention',
  'QEmbedLayerNormalization',
  'QGemm',
  'MatMulNBits',
  'GatherBlockQuantized',
]);

function refuseModel(model: Model, settings: StaticSettings): void {
  for (const g of model.graph.allGraphs()) {
    const q = g.nodes.find((n) => QUANTIZED_OPS.has(n.opType) || /^QLinear/.test(n.opType));
    if (q)
      throw new OnnxOptError(
        `model is already quantized (it has ${q.opType} node '${q.name}'); quantizing it again is refused`,
      );
  }
  if (settings.trt) {
    const contrib = model.graph.nodes.find((n) => n.domain !== '' && n.domain !== 'ai.onnx');
    if (contrib) {
      throw new OnnxOptError(
        `--trt needs standard ONNX ops, and node '${contrib.name}' is ${contrib.domain}::${contrib.opType}: ` +
          "quantize the model before fusing it (TensorRT cannot run onnxruntime's contrib ops)",
      );
    }
  }
}

/** The placement the settings call for: what calibration must measure and what the pass quantizes. */
export function staticPlacement(model: Model, settings: StaticSettings): Placement {
  return planPlacement(model.graph, {
    ops: settings.ops,
    exclude: settings.exclude,
    perChannel: settings.perChannel,
    quantizeBias: !settings.trt,
    noOutputOps: settings.trt ? new Set(TRT_OPS) : new Set(),
    removeActivations: !settings.activationSymmetric,
  });
}

export const quantizeStaticPass = definePass({
  name: 'quantize-static',
  lossy: true,
  description:
    "static INT8 (QDQ) from calibrated activation ranges, as onnxruntime's quantize_static; --trt for TensorRT",
  options: OPTIONS,
  run(model, context): PassResult {
    const settings = staticSettings(context.options);
    refuseModel(model, settings);
    const ranges = readRanges(context.given);
    const placement = staticPlacement(model, settings);
    if (placement.roles.size === 0) {
      context.log('quantize-static: nothing to quantize');
      return { changed: false, stats: { quantizedTensors: 0 } };
    }
    const missing = placement.calibrated.filter((v) => !ranges.has(v.name));
    if (missing.length) {
      throw new OnnxOptError(
        `no calibrated range for ${missing.length} tensor(s) to quantize: ${missing
          .slice(0, 5)
          .map((v) => `'${v.name}'`)
          .join(', ')}` + `${missing.length > 5 ? ', ...' : ''} (calibrate with the same --ops and --exclude)`,
      );
    }
    const opset = model.opsetVersion('') ?? 0;
    const perChannel = [...placement.roles.values()].some((r) => r.kind === 'weight' && r.axis !== undefined);
    if (opset < 10)
      throw new OnnxOptError(`QuantizeLinear needs ai.onnx opset 10 or later; the model imports ${opset}`);
    if (perChannel && opset < 13)
      throw new OnnxOptError(
        `per-channel DequantizeLinear needs ai.onnx opset 13 or later; the model imports ${opset}`,
      );
    // recorded under the names calibration saw: a graph output's pre-quantization tensor is renamed below
    const used = Object.fromEntries(placement.calibrated.map((v) => [v.name, ranges.get(v.name)!]));
    const stats: Record<string, number> = new QdqWriter(model.graph, settings, placement, ranges).write();
    if (settings.format === 'qoperator') {
      const { converted, usesContribOps } = convertToQOperator(model.graph);
      for (const [op, n] of Object.entries(converted)) stats[`qoperator.${op}`] = n;
      if (usesContribOps) model.requireOpset('com.microsoft', 1);
    }
    const record = {
      settings: { ...settings, ops: [...settings.ops], exclude: [...settings.exclude] },
      ranges: used,
      stats,
    };
    return { changed: true, stats, record };
  },
});

/** The scale and zero point values a quantized tensor is read with. */
interface QParams {
  params: QuantParams;
  type: QuantType;
  scale: Value;
  zeroPoint: Value;
}

class QdqWriter {
  private readonly params = new Map<Value, QParams>();
  private readonly scratch = new Scratch();
  /** Per-channel scales of quantized weights, for their biases. */
  private readonly weightScales = new Map<Value, Float32Array>();
  private readonly stats = {
    quantizedActivations: 0,
    sharedActivations: 0,
    quantizedWeights: 0,
    quantizedConstants: 0,
    quantizedBiases: 0,
    removedActivations: 0,
  };

  constructor(
    private readonly graph: Graph,
    private readonly settings: StaticSettings,
    private readonly placement: Placement,
    private readonly ranges: ReadonlyMap<string, TensorRange>,
  ) {}

  write(): Record<string, number> {
    const { roles } = this.placement;
    for (const node of this.placement.removed) this.removeActivation(node);
    const replaced: Value[] = [];
    for (const [v, role] of roles) {
      switch (role.kind) {
        case 'activation':
        case 'shared':
          this.quantizeActivation(v, role);
          break;
        case 'weight':
        case 'constant':
          this.quantizeConstant(v, role);
          replaced.push(v);
          break;
        case 'bias':
          break;
      }
    }
    // biases last: their scale is their input's times their weight's
    for (const [v, role] of roles) {
      if (role.kind !== 'bias') continue;
      this.quantizeBias(v, role);
      replaced.push(v);
    }
    for (const v of replaced)
      if (this.graph.isUnused(v) && this.graph.initializers.includes(v)) this.graph.removeInitializer(v);
    this.graph.sortTopologically();
    return { ...this.stats, quantizedNodes: this.placement.nodes.length };
  }

  /**
   * Relu(x) -> y becomes the producer writing y itself (x's name goes, as in onnxruntime), quantized with y's range:
   * the QuantizeLinear's clipping at the range's lower end does what the Relu or Clip did.
   */
  private removeActivation(node: Node): void {
    const x = node.input(0),
      y = node.output(0);
    for (const u of [...y.uses]) u.node.replaceInput(u.index, x);
    this.graph.removeNode(node);
    x.name = y.name;
    x.type = y.type ?? x.type;
    // x takes y's place in the plan, in y's position (a tensor sharing y's parameters reads them from x now)
    const roles = [...this.placement.roles].map(([v, r]): [Value, TensorRole] => [
      v === y ? x : v,
      r.kind === 'shared' && r.source === y ? { ...r, source: x } : r,
    ]);
    this.placement.roles.clear();
    for (const [v, r] of roles) this.placement.roles.set(v, r);
    this.stats.removedActivations++;
  }

  /** x -> QuantizeLinear -> DequantizeLinear -> every reader of x; a graph output keeps its name on the DequantizeLinear. */
  private quantizeActivation(x: Value, role: TensorRole): void {
    const qp = role.kind === 'shared' ? this.sharedParams(x) : this.ownParams(x);
    const graph = this.graph;
    const isOutput = graph.outputs.includes(x);
    const name = x.name;
    if (isOutput) x.name = graph.valueNames.fresh(`${name}_QuantizeLinear_Input`);
    const qType = tensorType(qp.type === 'int8' ? DataType.INT8 : DataType.UINT8, shapeOf(x.type));
    const q = graph.newValue(`${name}_QuantizeLinear_Output`, qType);
    const dq = isOutput ? new IrValue(name, x.type) : graph.newValue(`${name}_DequantizeLinear_Output`, x.type);
    const where = x.producer && x.producer.graph === graph ? { after: x.producer } : { before: graph.nodes[0] };
    const quantize = graph.createNode({
      opType: 'QuantizeLinear',
      inputs: [x, qp.scale, qp.zeroPoint],
      outputs: [q],
      name: `${name}_QuantizeLinear`,
      ...where,
    });
    graph.createNode({
      opType: 'DequantizeLinear',
      inputs: [q, qp.scale, qp.zeroPoint],
      outputs: [dq],
      name: `${name}_DequantizeLinear`,
      after: quantize,
    });
    for (const u of [...x.uses]) if (u.node !== quantize) u.node.replaceInput(u.index, dq);
    if (isOutput) graph.outputs[graph.outputs.indexOf(x)] = dq;
    this.stats[role.kind === 'shared' ? 'sharedActivations' : 'quantizedActivations']++;
  }

  private ownParams(x: Value): QParams {
    const made = this.params.get(x);
    if (made) return made;
    const { activationType: type, activationSymmetric: symmetric, ops, exclude } = this.settings;
    // onnxruntime's adjust_tensor_ranges: a quantized Softmax's output range is [0, 1], not the calibrated one
    const producer = x.producer;
    const softmax =
      producer?.opType === 'Softmax' &&
      (producer.domain === '' || producer.domain === 'ai.onnx') &&
      ops.has('Softmax') &&
      !exclude.has(producer.name);
    const [min, max] = softmax ? [0, 1] : this.ranges.get(x.name)!;
    const params = computeScaleZeroPoint(min, max, quantRange(type, { symmetric, reduceRange: false }), symmetric);
    const qp = { params, type, ...this.scalarParams(x.name, params, type) };
    this.params.set(x, qp);
    return qp;
  }

  /** A tensor sharing its source's parameters reads the source's scale and zero point initializers. */
  private sharedParams(x: Value): QParams {
    const source = paramsSource(this.placement.roles, x);
    const qp = this.params.get(source) ?? this.ownParams(source);
    this.params.set(x, qp);
    return qp;
  }

  private scalarParams(base: string, params: QuantParams, type: QuantType): { scale: Value; zeroPoint: Value } {
    const zpType = type === 'int8' ? DataType.INT8 : DataType.UINT8;
    return {
      scale: this.graph.addInitializer(`${base}_scale`, Tensor.fromArray('', DataType.FLOAT, [], [params.scale])),
      zeroPoint: this.graph.addInitializer(`${base}_zero_point`, Tensor.fromArray('', zpType, [], [params.zeroPoint])),
    };
  }

  /** A weight (weight type and symmetry) or a constant read as an activation (activation type and symmetry). */
  private quantizeConstant(w: Value, role: { kind: 'weight'; axis?: number } | { kind: 'constant' }): void {
    const tensor = w.initializer!;
    const type = role.kind === 'weight' ? this.settings.weightType : this.settings.activationType;
    const axis = role.kind === 'weight' && role.axis !== undefined && role.axis < tensor.rank ? role.axis : undefined;
    const symmetric = role.kind === 'weight' ? this.settings.weightSymmetric : this.settings.activationSymmetric;
    const q = quantizedTensor(tensor, tensor.dims, { type, symmetric, reduceRange: false, axis }, this.scratch);
    const zpType = type === 'int8' ? DataType.INT8 : DataType.UINT8;
    const dims = axis === undefined ? [] : [q.scales.length];
    const scale = this.graph.addInitializer(`${w.name}_scale`, Tensor.fromArray('', DataType.FLOAT, dims, q.scales));
    const zeroPoint = this.graph.addInitializer(
      `${w.name}_zero_point`,
      Tensor.fromArray('', zpType, dims, q.zeroPoints),
    );
    const data = this.graph.addInitializer(`${w.name}_quantized`, q.data);
    const dq = this.graph.newValue(
      `${w.name}_DequantizeLinear_Output`,
      w.type ?? tensorType(DataType.FLOAT, tensor.dims),
    );
    this.graph.createNode({
      opType: 'DequantizeLinear',
      inputs: [data, scale, zeroPoint],
      outputs: [dq],
      name: `${w.name}_DequantizeLinear`,
      attributes: axis === undefined ? [] : [attr('axis', axis)],
      before: this.graph.nodes[0],
    });
    for (const u of [...w.uses]) u.node.replaceInput(u.index, dq);
    this.weightScales.set(w, q.scales);
    this.params.set(w, { params: { scale: q.scales[0]!, zeroPoint: q.zeroPoints[0]! }, type, scale, zeroPoint });
    this.stats[role.kind === 'weight' ? 'quantizedWeights' : 'quantizedConstants']++;
  }

  /** int32 bias: round(b / (input scale x weight scale x beta)) in float32, as onnxruntime's quantize_bias_static. */
  private quantizeBias(b: Value, role: { input: Value; weight: Value; beta: number }): void {
    const inputScale = this.params.get(paramsSource(this.placement.roles, role.input))?.params.scale;
    const weightScales = this.weightScales.get(role.weight);
    if (inputScale === undefined || !weightScales) return;
    const values = b.initializer!.toFloat32();
    const perChannel = weightScales.length > 1;
    if (perChannel && weightScales.length !== values.length) return;
    const scales = Float32Array.from(perChannel ? weightScales : [weightScales[0]!], (s) =>
      Math.fround(Math.fround(inputScale * s) * role.beta),
    );
    const q = Int32Array.from(values, (v, i) => {
      const r = roundHalfToEven(Math.fround(v / scales[perChannel ? i : 0]!));
      return r < INT32_MIN ? INT32_MIN : r > INT32_MAX ? INT32_MAX : r;
    });
    const base = `${b.name}_quantized`;
    const dims = perChannel ? [scales.length] : [];
    const data = this.graph.addInitializer(base, Tensor.fromArray('', DataType.INT32, b.initializer!.dims, q));
    const scale = this.graph.addInitializer(`${base}_scale`, Tensor.fromArray('', DataType.FLOAT, dims, scales));
    const zeroPoint = this.graph.addInitializer(
      `${base}_zero_point`,
      Tensor.fromArray('', DataType.INT32, dims, new Int32Array(scales.length)),
    );
    const dq = this.graph.newValue(
      `${b.name}_DequantizeLinear_Output`,
      b.type ?? tensorType(DataType.FLOAT, b.initializer!.dims),
    );
    this.graph.createNode({
      opType: 'DequantizeLinear',
      inputs: [data, scale, zeroPoint],
      outputs: [dq],
      name: `${b.name}_DequantizeLinear`,
      attributes: perChannel ? [attr('axis', 0)] : [],
      before: this.graph.nodes[0],
    });
    for (const u of [...b.uses]) u.node.replaceInput(u.index, dq);
    this.stats.quantizedBiases++;
  }
}
