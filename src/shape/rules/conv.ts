// Convolutions and pooling over N, C, spatial... tensors: Conv, ConvInteger, QLinearConv, ConvTranspose, MaxPool,
// AveragePool, LpPool, the Global* pools, RoiAlign, MaxRoiPool, GridSample.

import { DataType } from '../../tensor/dtype.js';
import { addDims, ceilDivDim, floorDivDim, mulDims, subDims, type SymDim } from '../dims.js';
import { tensor, unknownDims, type Rule, type RuleContext, type RuleTable } from '../rule.js';

interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** Begin pads then end pads, one per spatial axis each. */
  pads: number[];
  autoPad: string;
}

function windowOf(ctx: RuleContext, spatialRank: number, kernel: number[] | undefined): Window | undefined {
  const n = ctx.node;
  if (!kernel || kernel.length !== spatialRank) return undefined;
  const ones = kernel.map(() => 1);
  const window = {
    kernel,
    strides: n.attrInts('strides') ?? ones,
    dilations: n.attrInts('dilations') ?? ones,
    pads: n.attrInts('pads') ?? [...kernel.map(() => 0), ...kernel.map(() => 0)],
    autoPad: n.attrString('auto_pad', 'NOTSET'),
  };
  const fits =
    window.strides.length === spatialRank &&
    window.dilations.length === spatialRank &&
    window.pads.length === 2 * spatialRank &&
    window.strides.every((s) => s > 0);
  return fits ? window : undefined;
}

/** Output size of one spatial axis of a convolution or pooling window (ceilMode for pools). */
function slidingDim(ctx: RuleContext, d: SymDim, w: Window, i: number, ceilMode: boolean): SymDim {
  if (d === undefined) return undefined;
  const s = w.strides[i]!,
    span = (w.kernel[i]! - 1) * w.dilations[i]! + 1;
  let out: SymDim;
  if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') out = ceilDivDim(d, s);
  else if (w.autoPad === 'VALID') out = ceilDivDim(subDims(d, span - 1), s);
  else {
    const padBegin = w.pads[i]!,
      padded = addDims(d, padBegin + w.pads[i + w.kernel.length]!);
    const room = subDims(padded, span);
    out = addDims(ceilMode ? ceilDivDim(room, s) : floorDivDim(room, s), 1);
    // With ceil_mode the last window must still start inside the input or its begin padding.
    if (ceilMode && typeof out === 'number' && typeof d === 'number' && (out - 1) * s >= d + padBegin) out -= 1;
  }
  if (typeof out === 'number') return out >= 0 ? out : undefined;
  return out ?? ctx.fresh();
}

function slidingShape(
  ctx: RuleContext,
  input: SymDim[] | undefined,
  channels: SymDim,
  kernel: number[] | undefined,
  ceilMode = false,
): SymDim[] | undefined {
  if (!input || input.length < 3) return undefined;
  const spatial = input.slice(2);
  const w = windowOf(ctx, spatial.length, kernel);
  if (!w) return [input[0], channels, ...unknownDims(spatial.length)];
  return [input[0], channels, ...spatial.map((d, i) => slidingDim(ctx, d, w, i, ceilMode))];
}

/** The kernel's spatial sizes: the kernel_shape attribute, else the weight's dims after the first two. */
function kernelOf(ctx: RuleContext, weight: number): number[] | undefined {
  const attr = ctx.node.attrInts('kernel_shape');
  if (attr) return attr;
  const w = ctx.shape(weight)?.slice(2);
  return w && w.every((d): d is number => typeof d === 'number') ? w : undefined;
}

/** A convolution with input x, weight w (M, C/group, k...) and the given output type. */
function convolution(x: number, w: number, elemType: (ctx: RuleContext) => number | undefined): Rule {
  return (ctx) => [tensor(elemType(ctx), slidingShape(ctx, ctx.shape(x), ctx.shape(w)?.[0], kernelOf(ctx, w)))];
}

const convTranspose: Rule = (ctx) => {
  const input = ctx.shape(0),
    weight = ctx.shape(1);
  if (!input || input.length < 3) return [tensor(ctx.elemType(0), undefined)];
  const spatial = input.slice(2);
  const channels = mulDims(weight?.[1], ctx.node.attrInt('group', 1));
  const given = ctx.node.attrInts('output_shape');
  if (given) return [tensor(ctx.elemType(0), [input[0], channels, ...given.slice(-spatial.length)])];
  const w = windowOf(ctx, spatial.length, kernelOf(ctx, 1));
  if (!w) return [tensor(ctx.elemType(0), [input[0], channels, ...unknownDims(spatial.length)])];
  const outPad = ctx.node.attrInts('output_padding') ?? spatial.map(() => 0);
  const dims = spatial.map((d, i) => {
    const s = w.strides[i]!;
    if (w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER') return mulDims(d, s);
    const span = (w.kernel[i]! - 1) * w.dilations[i]! + 1;
    const pads = w.autoPad === 'VALID' ? 0 : w.pads[i]! + w.pads[i + spatial.length]!;
    return addDims(mulDims(subDims(d, 1), s), (outPad[i] ?? 0) + span - pads);
  });
  return [tensor(ctx.elemType(0), [input[0], channels, ...dims])];
};

/** MaxPool, AveragePool, LpPool; MaxPool's second output holds int64 indices. */
const pool: Rule = (ctx) => {
  const input = ctx.shape(0);
  const ceilMode = ctx.node.attrInt('ceil_mode', 0) === 1;
  const shape = slidingShape(ctx, input, input?.[1], ctx.node.attrInts('kernel_shape'), ceilMode);
  return [tensor(ctx.elemType(0), shape), tensor(DataType.INT64, shape && [...shape])];
};

const globalPool: Rule = (ctx) => {
  const input = ctx.shape(0);
  return [
    tensor(
      ctx.elemType(0),
      input && input.length >= 2 ? [input[0], input[1], ...input.slice(2).map(() => 1)] : undefined,
    ),
  ];
};

/** MaxUnpool: the output_shape input when given, else the pooling window run backwards. */
const maxUnpool: Rule = (ctx) => {
  const input = ctx.shape(0);
  if (ctx.has(2)) return [tensor(ctx.elemType(0), ctx.values(2) ?? (input && unknownDims(input.length)))];
  if (!input || input.length < 3) return [tensor(ctx.elemType(0), undefined)];
  const spatial = input.slice(2);
  const w = windowOf(ctx, spatial.length, ctx.node.attrInts('kernel_shape'));
  if (!w) return [tensor(ctx.elemType(0), [input[0], input[1], ...unknownDims(spatial.length)])];
  const dims = spatial.map((d, i) =>
    addDims(mulDims(subDims(d, 1), w.strides[i]!), w.kernel[i]! - w.pads[i]! - w.pads[i + spatial.length]!),
  );
  return [tensor(ctx.elemType(0), [input[0], input[1], ...dims])];
};

const roiAlign: Rule = (ctx) => {
  const height = ctx.node.attrInt('output_height', 1),
    width = ctx.node.attrInt('output_width', 1);
  return [tensor(ctx.elemType(0), [ctx.shape(1)?.[0], ctx.shape(0)?.[1], height, width])];
};

const maxRoiPool: Rule = (ctx) => {
  const pooled = ctx.node.attrInts('pooled_shape');
  return [tensor(ctx.elemType(0), pooled ? [ctx.shape(1)?.[0], ctx.shape(0)?.[1], ...pooled] : undefined)];
};

const gridSample: Rule = (ctx) => {
  const input = ctx.shape(0),
    grid = ctx.shape(1);
  if (!input || !grid) return [tensor(ctx.elemType(0), undefined)];
  return [tensor(ctx.elemType(0), [input[0], input[1], ...grid.slice(1, -1)])];
};

export const convRules: RuleTable = {
  Conv: convolution(0, 1, (ctx) => ctx.elemType(0)),
  ConvInteger: convolution(0, 1, () => DataType.INT32),
  QLinearConv: convolution(0, 3, (ctx) => ctx.elemType(7)),
  ConvTranspose: convTranspose,
  MaxPool: pool,
  AveragePool: pool,
  LpPool: pool,
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  GlobalLpPool: globalPool,
  MaxUnpool: maxUnpool,
  RoiAlign: roiAlign,
  MaxRoiPool: maxRoiPool,
  GridSample: gridSample,
};
