// Ops that read parts of tensors or describe them: Gather*, Slice, Shape, Size, Range, ConstantOfShape, Constant,
// NonZero, TopK, OneHot, Compress, Unique, NonMaxSuppression. Shape and Size start the symbolic value chains.

import { DataType } from '../../tensor/dtype.js';
import { addDims, ceilDivDim, productOf, subDims, type SymDim } from '../dims.js';
import { clampSliceBounds } from '../../tensor/slice.js';
import {
  INTEGER_TYPES,
  normAxes,
  normAxis,
  tensor,
  unknownDims,
  type Rule,
  type RuleContext,
  type RuleTable,
} from '../rule.js';

/** Slice bounds at or beyond this mean "to the end" (exporters write INT32_MAX or INT64_MAX). */
const FAR = 2 ** 31 - 1;

const gather: Rule = (ctx) => {
  const data = ctx.shape(0),
    indices = ctx.shape(1);
  if (!data || !indices) return [tensor(ctx.elemType(0), undefined)];
  const axis = normAxis(ctx.node.attrInt('axis', 0), data.length);
  if (axis === undefined) return [tensor(ctx.elemType(0), undefined)];
  const out = tensor(ctx.elemType(0), [...data.slice(0, axis), ...indices, ...data.slice(axis + 1)]);
  // Picking elements of a tracked 1-D shape value (Shape(x)[1]).
  if (data.length === 1 && indices.length <= 1) {
    const table = ctx.values(0),
      picks = ctx.numbers(1);
    if (table && picks) out.value = picks.map((i) => table[i < 0 ? i + table.length : i]);
  }
  return [out];
};

const gatherElements: Rule = (ctx) => [tensor(ctx.elemType(0), ctx.shape(1))];

const gatherND: Rule = (ctx) => {
  const data = ctx.shape(0),
    indices = ctx.shape(1);
  const batchDims = ctx.node.attrInt('batch_dims', 0);
  const depth = indices?.[indices.length - 1];
  if (!data || !indices || typeof depth !== 'number') return [tensor(ctx.elemType(0), undefined)];
  return [tensor(ctx.elemType(0), [...indices.slice(0, -1), ...data.slice(batchDims + depth)])];
};

/** Where a start or end index lands in a dim of size d, for a positive step. Symbols are taken as in range. */
function resolveIndex(i: SymDim, d: SymDim): SymDim {
  if (typeof i !== 'number') return i;
  if (i >= FAR) return d;
  if (i <= -FAR) return 0;
  if (i < 0) {
    const from = addDims(d, i);
    return typeof from === 'number' ? Math.max(0, from) : from;
  }
  return typeof d === 'number' ? Math.min(i, d) : i;
}

/** Elements of a dim of size d that Slice keeps. */
export function sliceLength(d: SymDim, start: SymDim, end: SymDim, step: number): SymDim {
  if (start === undefined || end === undefined || step === 0 || !Number.isInteger(step)) return undefined;
  if (typeof d === 'number' && typeof start === 'number' && typeof end === 'number') {
    const [s, e] = clampSliceBounds(d, start, end, step);
    return Math.max(0, Math.ceil((e - s) / step));
  }
  if (step > 0) {
    const len = subDims(resolveIndex(end, d), resolveIndex(start, d));
    if (typeof len === 'number') return Math.max(0, Math.ceil(len / step));
    return ceilDivDim(len, step);
  }
  // A full reversal ([::-1]) keeps every element; other negative steps on symbolic sizes are left unknown.
  const fromLast = typeof start === 'number' && (start === -1 || start >= FAR);
  return step === -1 && fromLast && typeof end === 'number' && end <= -FAR ? d : undefined;
}

interface SliceArgs {
  starts?: SymDim[];
  ends?: SymDim[];
  /** Undefined when the axes are given but unknown. */
  axes?: number[];
  /** Undefined when every step is 1. */
  steps?: number[] | 'unknown';
}

function sliceArgs(ctx: RuleContext, rank: number): SliceArgs {
  if (ctx.opset < 10) {
    const starts = ctx.node.attrInts('starts'),
      ends = ctx.node.attrInts('ends');
    if (!starts || !ends) return {};
    const axes = normAxes(ctx.node.attrInts('axes') ?? starts.map((_, i) => i), rank);
    return { starts, ends, axes };
  }
  const starts = ctx.values(1),
    ends = ctx.values(2);
  const count =
    starts?.length ??
    ends?.length ??
    (typeof ctx.shape(1)?.[0] === 'number' ? (ctx.shape(1)![0] as number) : undefined);
  let axes: number[] | undefined;
  if (ctx.has(3)) {
    const given = ctx.numbers(3);
    axes = given && normAxes(given, rank);
  } else if (count !== undefined) axes = Array.from({ length: count }, (_, i) => i);
  const steps = ctx.has(4) ? (ctx.numbers(4) ?? 'unknown') : undefined;
  return { starts, ends, axes, steps };
}

const slice: Rule = (ctx) => {
  const input = ctx.shape(0);
  if (!input) return [tensor(ctx.elemType(0), undefined)];
  const { starts, ends, axes, steps } = sliceArgs(ctx, input.length);
  if (!axes) return [tensor(ctx.elemType(0), unknownDims(input.length))];
  const stepAt = (k: number) => (steps === undefined ? 1 : steps === 'unknown' ? 0 : (steps[k] ?? 0));
  const out = [...input];
  axes.forEach((a, k) => (out[a] = sliceLength(input[a], starts?.[k], ends?.[k], stepAt(k))));
  const result = tensor(ctx.elemType(0), out);
  // A slice of a tracked 1-D shape value (Shape(x)[1:]).
  const v = ctx.values(0);
  const elem = ctx.elemType(0);
  if (input.length === 1 && v && elem !== undefined && INTEGER_TYPES.has(elem) && axes.length === 1) {
    const s = starts?.[0],
      e = ends?.[0],
      step = stepAt(0);
    if (typeof s === 'number' && typeof e === 'number' && step) {
      const [from, to] = clampSliceBounds(v.length, s, e, step);
      const picked: SymDim[] = [];
      for (let i = from; step > 0 ? i < to : i > to; i += step) picked.push(v[i]);
      result.value = picked;
    }
  }
  return [result];
};

const shapeOp: Rule = (ctx) => {
  const input = ctx.shape(0);
  if (!input) return [tensor(DataType.INT64, [undefined])];
  const rank = input.length;
  const clamp = (x: number) => Math.min(Math.max(x < 0 ? x + rank : x, 0), rank);
  const start = clamp(ctx.node.attrInt('start', 0));
  const end = clamp(ctx.node.attrInt('end', rank));
  const dims = input.slice(start, Math.max(start, end));
  return [tensor(DataType.INT64, [dims.length], dims)];
};

const size: Rule = (ctx) => {
  const input = ctx.shape(0);
  return [tensor(DataType.INT64, [], input ? [productOf(input)] : undefined)];
};

const range: Rule = (ctx) => {
  const [start] = ctx.values(0) ?? [],
    [limit] = ctx.values(1) ?? [],
    [delta] = ctx.values(2) ?? [];
  let length: SymDim;
  if (typeof start === 'number' && typeof limit === 'number' && typeof delta === 'number' && delta !== 0) {
    length = Math.max(0, Math.ceil((limit - start) / delta));
  } else if (delta === 1 && start !== undefined && limit !== undefined) length = subDims(limit, start);
  return [tensor(ctx.elemType(0), [length ?? ctx.fresh()])];
};

const constantOfShape: Rule = (ctx) => {
  const valueAttr = ctx.node.attrTensor('value');
  const elem = valueAttr?.dataType ?? DataType.FLOAT;
  const dims = ctx.values(0);
  const out = tensor(
    elem,
    dims ?? (typeof ctx.shape(0)?.[0] === 'number' ? unknownDims(ctx.shape(0)![0] as number) : undefined),
  );
  if (dims && dims.length === 1 && typeof dims[0] === 'number' && dims[0] <= 64 && INTEGER_TYPES.has(elem)) {
    const fill = valueAttr ? valueAttr.toNumbers()[0] : 0;
    out.value = Array.from({ length: dims[0] }, () => fill);
  }
  return [out];
};

const constant: Rule = (ctx) => {
  const n = ctx.node;
  const t = n.attrTensor('value');
  if (t) return [tensor(t.dataType, [...t.dims])];
  const sparse = n.attributes.get('sparse_value');
  if (sparse?.type === 'sparse_tensor') return [tensor(sparse.value.values.dataType, [...sparse.value.dims])];
  const int = n.attrInt('value_int');
  if (int !== undefined) return [tensor(DataType.INT64, [], [int])];
  const ints = n.attrInts('value_ints');
  if (ints) return [tensor(DataType.INT64, [ints.length], ints)];
  if (n.attrFloat('value_float') !== undefined) return [tensor(DataType.FLOAT, [])];
  const floats = n.attrFloats('value_floats');
  if (floats) return [tensor(DataType.FLOAT, [floats.length])];
  if (n.attrString('value_string') !== undefined) return [tensor(DataType.STRING, [])];
  const strings = n.attributes.get('value_strings');
  if (strings?.type === 'strings') return [tensor(DataType.STRING, [strings.value.length])];
  return undefined;
};

const nonZero: Rule = (ctx) => [tensor(DataType.INT64, [ctx.shape(0)?.length, ctx.fresh()])];

const topK: Rule = (ctx) => {
  const input = ctx.shape(0);
  const k = ctx.opset < 10 ? ctx.node.attrInt('k') : ctx.values(1)?.[0];
  if (!input) return [tensor(ctx.elemType(0), undefined), tensor(DataType.INT64, undefined)];
  const axis = normAxis(ctx.node.attrInt('axis', -1), input.length);
  const out = axis === undefined ? unknownDims(input.length) : input.map((d, i) => (i === axis ? k : d));
  return [tensor(ctx.elemType(0), out), tensor(DataType.INT64, [...out])];
};

const oneHot: Rule = (ctx) => {
  const indices = ctx.shape(0);
  const elem = ctx.elemType(2);
  if (!indices) return [tensor(elem, undefined)];
  const depth = ctx.values(1)?.[0];
  const axis = normAxis(ctx.node.attrInt('axis', -1), indices.length + 1);
  if (axis === undefined) return [tensor(elem, undefined)];
  const depthDim = typeof depth === 'number' ? Math.trunc(depth) : depth;
  return [tensor(elem, [...indices.slice(0, axis), depthDim, ...indices.slice(axis)])];
};

const compress: Rule = (ctx) => {
  const input = ctx.shape(0);
  const axisAttr = ctx.node.attrInt('axis');
  if (axisAttr === undefined) return [tensor(ctx.elemType(0), [ctx.fresh()])];
  if (!input) return [tensor(ctx.elemType(0), undefined)];
  const axis = normAxis(axisAttr, input.length);
  if (axis === undefined) return [tensor(ctx.elemType(0), undefined)];
  return [
    tensor(
      ctx.elemType(0),
      input.map((d, i) => (i === axis ? ctx.fresh() : d)),
    ),
  ];
};

const unique: Rule = (ctx) => {
  const input = ctx.shape(0);
  const count = ctx.fresh();
  const axisAttr = ctx.node.attrInt('axis');
  const axis = axisAttr === undefined || !input ? undefined : normAxis(axisAttr, input.length);
  const y =
    axisAttr === undefined
      ? [count]
      : input && axis !== undefined
        ? input.map((d, i) => (i === axis ? count : d))
        : undefined;
  const inverseLength =
    axisAttr === undefined ? (input ? productOf(input) : undefined) : axis === undefined ? undefined : input?.[axis];
  return [
    tensor(ctx.elemType(0), y),
    tensor(DataType.INT64, [count]),
    tensor(DataType.INT64, [inverseLength]),
    tensor(DataType.INT64, [count]),
  ];
};

const nonMaxSuppression: Rule = (ctx) => [tensor(DataType.INT64, [ctx.fresh(), 3])];

export const indexingRules: RuleTable = {
  Gather: gather,
  GatherElements: gatherElements,
  GatherND: gatherND,
  Slice: slice,
  Shape: shapeOp,
  Size: size,
  Range: range,
  ConstantOfShape: constantOfShape,
  Constant: constant,
  NonZero: nonZero,
  TopK: topK,
  OneHot: oneHot,
  Compress: compress,
  Unique: unique,
  NonMaxSuppression: nonMaxSuppression,
};
