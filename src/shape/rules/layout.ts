// Ops that rearrange a tensor's dims: Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Concat, Split, Expand,
// Tile, Pad, DepthToSpace, SpaceToDepth, Resize, Upsample, CenterCropPad.

import { addDims, broadcastShapes, divDimsExact, mulDims, productOf, type SymDim } from '../dims.js';
import {
  INTEGER_TYPES,
  axesArgument,
  normAxes,
  normAxis,
  tensor,
  unknownDims,
  type Rule,
  type RuleContext,
  type RuleTable,
  type TensorFacts,
} from '../rule.js';

/** The elements of a shape-like input: tracked values, or as many unknowns as a static 1-D shape says. */
function shapeArgument(ctx: RuleContext, i: number): SymDim[] | undefined {
  const v = ctx.values(i);
  if (v) return v;
  const s = ctx.shape(i);
  return s && s.length === 1 && typeof s[0] === 'number' ? unknownDims(s[0]) : undefined;
}

/** Passes a tracked value through ops that only change a rank-0/1 tensor's rank. */
function keepValue(ctx: RuleContext, out: TensorFacts): TensorFacts {
  const v = ctx.values(0);
  const elem = ctx.elemType(0);
  if (v && out.shape && out.shape.length <= 1 && elem !== undefined && INTEGER_TYPES.has(elem)) out.value = v;
  return out;
}

const reshape: Rule = (ctx) => {
  const input = ctx.shape(0);
  const target = ctx.opset < 5 ? ctx.node.attrInts('shape') : shapeArgument(ctx, 1);
  if (!target) return [tensor(ctx.elemType(0), undefined)];
  const allowZero = ctx.opset >= 14 && ctx.node.attrInt('allowzero', 0) === 1;
  let inferIndex = -1;
  const out: SymDim[] = [];
  for (let i = 0; i < target.length; i++) {
    const t = target[i];
    if (t === 0 && !allowZero) out.push(input?.[i]);
    else if (t === -1) {
      if (inferIndex >= 0) return [tensor(ctx.elemType(0), undefined)];
      inferIndex = i;
      out.push(undefined);
    } else if (typeof t === 'number' && t < 0) return [tensor(ctx.elemType(0), undefined)];
    else out.push(t);
  }
  if (inferIndex >= 0 && input) {
    const total = productOf(input);
    const known = productOf(out.filter((_, i) => i !== inferIndex));
    const inferred = divDimsExact(total, known);
    // Both sides known but not divisible as polynomials (a*b / c): a size only known at run time.
    const symbolic = typeof total !== 'number' || typeof known !== 'number';
    out[inferIndex] = inferred ?? (total !== undefined && known !== undefined && symbolic ? ctx.fresh() : undefined);
  }
  return [keepValue(ctx, tensor(ctx.elemType(0), out))];
};

const flatten: Rule = (ctx) => {
  const input = ctx.shape(0);
  if (!input) return [tensor(ctx.elemType(0), [undefined, undefined])];
  const axisAttr = ctx.node.attrInt('axis', 1);
  const axis = axisAttr < 0 ? axisAttr + input.length : axisAttr;
  if (axis < 0 || axis > input.length) return [tensor(ctx.elemType(0), undefined)];
  return [tensor(ctx.elemType(0), [productOf(input.slice(0, axis)), productOf(input.slice(axis))])];
};

const transpose: Rule = (ctx) => {
  const input = ctx.shape(0);
  const perm = ctx.node.attrInts('perm');
  if (!input) return [tensor(ctx.elemType(0), perm ? unknownDims(perm.length) : undefined)];
  const order = perm ?? input.map((_, i) => input.length - 1 - i);
  const valid =
    order.length === input.length &&
    new Set(order).size === order.length &&
    order.every((p) => p >= 0 && p < input.length);
  return [tensor(ctx.elemType(0), valid ? order.map((p) => input[p]) : undefined)];
};

/** Unknown dims for Squeeze (sign -1) or Unsqueeze (+1) when only the number of axes (input 1's length) is known. */
function rankAfterAxes(ctx: RuleContext, rank: number, sign: 1 | -1): SymDim[] | undefined {
  const count = ctx.shape(1)?.[0];
  return typeof count === 'number' && rank + sign * count >= 0 ? unknownDims(rank + sign * count) : undefined;
}

const squeeze: Rule = (ctx) => {
  const input = ctx.shape(0);
  const axes = axesArgument(ctx, 13, 1);
  if (!input) return [tensor(ctx.elemType(0), undefined)];
  if (axes === 'unknown') return [tensor(ctx.elemType(0), rankAfterAxes(ctx, input.length, -1))];
  if (!axes || axes.length === 0) {
    // Without axes every size-1 dim goes, which we can only tell when all sizes are known.
    if (!input.every((d) => typeof d === 'number')) return [tensor(ctx.elemType(0), undefined)];
    return [
      keepValue(
        ctx,
        tensor(
          ctx.elemType(0),
          input.filter((d) => d !== 1),
        ),
      ),
    ];
  }
  const drop = normAxes(axes, input.length);
  if (!drop || drop.some((a) => typeof input[a] === 'number' && input[a] !== 1))
    return [tensor(ctx.elemType(0), undefined)];
  return [
    keepValue(
      ctx,
      tensor(
        ctx.elemType(0),
        input.filter((_, i) => !drop.includes(i)),
      ),
    ),
  ];
};

const unsqueeze: Rule = (ctx) => {
  const input = ctx.shape(0);
  const axes = axesArgument(ctx, 13, 1);
  if (!input || !axes) return [tensor(ctx.elemType(0), undefined)];
  if (axes === 'unknown') return [tensor(ctx.elemType(0), rankAfterAxes(ctx, input.length, 1))];
  const rank = input.length + axes.length;
  const at = normAxes(axes, rank);
  if (!at) return [tensor(ctx.elemType(0), undefined)];
  const out: SymDim[] = [];
  let next = 0;
  for (let i = 0; i < rank; i++) out.push(at.includes(i) ? 1 : input[next++]);
  return [keepValue(ctx, tensor(ctx.elemType(0), out))];
};

/** Two dims that must be equal: the more precise one (a size over a symbol), or null when sizes clash. */
function unify(a: SymDim, b: SymDim): SymDim | null {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (typeof a === 'number' && typeof b === 'number') return a === b ? a : null;
  return typeof b === 'number' ? b : a;
}

const concat: Rule = (ctx) => {
  const present = Array.from({ length: ctx.inputCount }, (_, i) => i).filter((i) => ctx.has(i));
  const elemType = present.map((i) => ctx.elemType(i)).find((t) => t !== undefined);
  const shapes = present.map((i) => ctx.shape(i));
  const known = shapes.filter((s): s is SymDim[] => s !== undefined);
  if (known.length === 0) return [tensor(elemType, undefined)];
  const rank = known[0]!.length;
  const axis = normAxis(ctx.node.attrInt('axis', 0), rank);
  if (axis === undefined || known.some((s) => s.length !== rank)) return [tensor(elemType, undefined)];
  const out: SymDim[] = [];
  for (let d = 0; d < rank; d++) {
    if (d === axis) {
      out.push(shapes.reduce<SymDim>((acc, s) => addDims(acc, s?.[d]), 0));
      continue;
    }
    let dim: SymDim | null = undefined;
    for (const s of known) dim = dim === null ? null : unify(dim, s[d]);
    if (dim === null) return [tensor(elemType, undefined)];
    out.push(dim);
  }
  const result = tensor(elemType, out);
  if (rank === 1 && elemType !== undefined && INTEGER_TYPES.has(elemType)) {
    const parts = present.map((i) => shapeArgument(ctx, i));
    if (parts.every((p) => p !== undefined)) result.value = parts.flat();
  }
  return [result];
};

const split: Rule = (ctx) => {
  const input = ctx.shape(0);
  const count = ctx.node.outputs.length;
  const elem = ctx.elemType(0);
  if (!input) return Array.from({ length: count }, () => tensor(elem, undefined));
  const axis = normAxis(ctx.node.attrInt('axis', 0), input.length);
  if (axis === undefined) return undefined;
  const sizes = ctx.opset >= 13 ? (ctx.has(1) ? ctx.values(1) : undefined) : ctx.node.attrInts('split');
  const withDim = (d: SymDim) => input.map((x, i) => (i === axis ? d : x));
  if (sizes && sizes.length === count) return sizes.map((d) => tensor(elem, withDim(d)));
  if (ctx.has(1) && ctx.opset >= 13) return Array.from({ length: count }, () => tensor(elem, withDim(undefined)));
  const whole = input[axis];
  const numOutputs = ctx.node.attrInt('num_outputs');
  if (numOutputs !== undefined && typeof whole === 'number') {
    // opset 18: chunks of ceil(d/n), the last one takes what is left.
    const chunk = Math.ceil(whole / count);
    return Array.from({ length: count }, (_, i) =>
      tensor(elem, withDim(i < count - 1 ? chunk : whole - chunk * (count - 1))),
    );
  }
  // Equal parts; a symbolic size that does not divide as a polynomial gets one fresh symbol for every part.
  const exact = divDimsExact(whole, count);
  const part =
    exact ?? (whole !== undefined && typeof whole !== 'number' && numOutputs === undefined ? ctx.fresh() : undefined);
  return Array.from({ length: count }, () => tensor(elem, withDim(part)));
};

const expand: Rule = (ctx) => {
  const target = shapeArgument(ctx, 1);
  const input = ctx.shape(0);
  return [tensor(ctx.elemType(0), target && input ? broadcastShapes([input, target]) : undefined)];
};

const tile: Rule = (ctx) => {
  const input = ctx.shape(0);
  const repeats = ctx.values(1);
  if (!input) return [tensor(ctx.elemType(0), undefined)];
  if (!repeats || repeats.length !== input.length) return [tensor(ctx.elemType(0), unknownDims(input.length))];
  return [
    tensor(
      ctx.elemType(0),
      input.map((d, i) => mulDims(d, repeats[i])),
    ),
  ];
};

const pad: Rule = (ctx) => {
  const input = ctx.shape(0);
  if (!input) return [tensor(ctx.elemType(0), undefined)];
  const pads = ctx.opset < 11 ? ctx.node.attrInts(ctx.opset < 2 ? 'paddings' : 'pads') : ctx.values(1);
  let axes = input.map((_, i) => i);
  if (ctx.opset >= 18 && ctx.has(3)) {
    const given = ctx.numbers(3);
    const normalized = given && normAxes(given, input.length);
    if (!normalized) return [tensor(ctx.elemType(0), unknownDims(input.length))];
    axes = normalized;
  }
  if (!pads || pads.length !== 2 * axes.length) return [tensor(ctx.elemType(0), unknownDims(input.length))];
  const out = [...input];
  axes.forEach((a, k) => (out[a] = addDims(addDims(input[a], pads[k]), pads[k + axes.length])));
  return [tensor(ctx.elemType(0), out)];
};

/** DepthToSpace (toSpace) and SpaceToDepth: channels traded for blocksize × blocksize tiles of height and width. */
const blocksRule =
  (toSpace: boolean): Rule =>
  (ctx) => {
    const input = ctx.shape(0);
    const b = ctx.node.attrInt('blocksize');
    if (!input || input.length !== 4 || !b)
      return [tensor(ctx.elemType(0), input ? unknownDims(input.length) : undefined)];
    const [n, c, h, w] = input;
    const [channels, space] = toSpace ? [divDimsExact, mulDims] : [mulDims, divDimsExact];
    return [tensor(ctx.elemType(0), [n, channels(c, b * b), space(h, b), space(w, b)])];
  };

/** A dim scaled by a float factor, floored (Resize's rule); symbolic dims only by whole factors. */
function scaleDim(d: SymDim, scale: number): SymDim {
  if (scale === 1) return d;
  if (typeof d === 'number') return Math.floor(d * scale);
  return Number.isInteger(scale) ? mulDims(d, scale) : undefined;
}

/** Resize's output from `sizes` (with opset 18's axes and keep_aspect_ratio_policy) or from `scales`. */
function resized(
  ctx: RuleContext,
  input: SymDim[],
  scales: number[] | undefined,
  sizes: SymDim[] | undefined,
): SymDim[] {
  const axesAttr = ctx.node.attrInts('axes');
  const axes = axesAttr ? normAxes(axesAttr, input.length) : input.map((_, i) => i);
  if (!axes) return unknownDims(input.length);
  const out = [...input];
  if (sizes && sizes.length === axes.length) {
    const policy = ctx.node.attrString('keep_aspect_ratio_policy', 'stretch');
    if (policy === 'stretch') {
      axes.forEach((a, k) => (out[a] = sizes[k]));
      return out;
    }
    const ratios = axes.map((a, k) => {
      const s = sizes[k],
        d = input[a];
      return typeof s === 'number' && typeof d === 'number' && d > 0 ? s / d : undefined;
    });
    if (ratios.some((r) => r === undefined)) return axes.reduce((o, a) => ((o[a] = undefined), o), out);
    const r = (policy === 'not_larger' ? Math.min : Math.max)(...(ratios as number[]));
    axes.forEach((a) => (out[a] = Math.round(r * (input[a] as number))));
    return out;
  }
  if (scales && scales.length === axes.length) {
    axes.forEach((a, k) => (out[a] = scaleDim(input[a], scales[k]!)));
    return out;
  }
  return unknownDims(input.length);
}

const resize: Rule = (ctx) => {
  const input = ctx.shape(0);
  if (!input) return [tensor(ctx.elemType(0), undefined)];
  let scales: number[] | undefined;
  let sizes: SymDim[] | undefined;
  if (ctx.opset < 11) scales = ctx.numbers(1);
  else {
    const s = ctx.has(2) ? ctx.numbers(2) : undefined;
    scales = s && s.length > 0 ? s : undefined;
    const z = ctx.has(3) ? ctx.values(3) : undefined;
    sizes = z && z.length > 0 ? z : undefined;
  }
  return [tensor(ctx.elemType(0), resized(ctx, input, scales, sizes))];
};

const upsample: Rule = (ctx) => {
  const input = ctx.shape(0);
  if (!input) return [tensor(ctx.elemType(0), undefined)];
  const scales = ctx.opset < 9 ? ctx.node.attrFloats('scales') : ctx.numbers(1);
  if (!scales || scales.length !== input.length) return [tensor(ctx.elemType(0), unknownDims(input.length))];
  return [
    tensor(
      ctx.elemType(0),
      input.map((d, i) => scaleDim(d, scales[i]!)),
    ),
  ];
};

const centerCropPad: Rule = (ctx) => {
  const input = ctx.shape(0);
  const sizes = ctx.values(1);
  if (!input) return [tensor(ctx.elemType(0), undefined)];
  const axesAttr = ctx.node.attrInts('axes');
  const axes = axesAttr ? normAxes(axesAttr, input.length) : input.map((_, i) => i);
  if (!axes || !sizes || sizes.length !== axes.length) return [tensor(ctx.elemType(0), unknownDims(input.length))];
  const out = [...input];
  axes.forEach((a, k) => (out[a] = sizes[k]));
  return [tensor(ctx.elemType(0), out)];
};

export const layoutRules: RuleTable = {
  Reshape: reshape,
  Flatten: flatten,
  Transpose: transpose,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Concat: concat,
  Split: split,
  Expand: expand,
  Tile: tile,
  Pad: pad,
  DepthToSpace: blocksRule(true),
  SpaceToDepth: blocksRule(false),
  Resize: resize,
  Upsample: upsample,
  CenterCropPad: centerCropPad,
};
