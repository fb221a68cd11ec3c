// Ops that move elements without computing on them: Gather, Slice, Concat, Split, Transpose, Tile, Expand.
// Each works out, for every output element, the position of the input element it copies.
import { elementCount, type Tensor } from '../../ir/tensor.js';
import { clampSliceBounds } from '../../tensor/slice.js';
import type { Inputs, KernelContext, OpDef } from '../kernel.js';
import {
  axisOf,
  broadcastDims,
  broadcastPositions,
  elementsOf,
  fromElements,
  intsOf,
  newElements,
  numbersOf,
  sameType,
  stridedPositions,
  stridesOf,
  take,
} from '../values.js';

function gather(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const data = ctx.input(inputs, 0);
  const indicesTensor = ctx.input(inputs, 1);
  const axis = axisOf(ctx, ctx.int('axis', 0), data.rank);
  const size = data.dims[axis]!;
  const indices = intsOf(ctx, indicesTensor, 'indices').map((i) => {
    if (i < -size || i >= size) ctx.invalid(`index ${i} is out of range for axis ${axis} of size ${size}`);
    return i < 0 ? i + size : i;
  });
  const outer = elementCount(data.dims.slice(0, axis));
  const inner = elementCount(data.dims.slice(axis + 1));
  const dims = [...data.dims.slice(0, axis), ...indicesTensor.dims, ...data.dims.slice(axis + 1)];
  ctx.reserve(elementCount(dims));
  const positions = new Float64Array(elementCount(dims));
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (const index of indices) {
      const base = (o * size + index) * inner;
      for (let k = 0; k < inner; k++) positions[i++] = base + k;
    }
  }
  return [take(ctx, data, dims, positions)];
}

/** Start, count and step of one sliced axis, clamped the way ONNX Slice clamps. */
function sliceRange(ctx: KernelContext, dim: number, start: number, end: number, step: number) {
  if (step === 0) ctx.invalid('step is 0');
  [start, end] = clampSliceBounds(dim, start, end, step);
  const count = Math.max(0, Math.ceil((end - start) / step));
  return { start, count, step };
}

function slice(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  let starts: number[] | undefined, ends: number[] | undefined, axes: number[] | undefined, steps: number[] | undefined;
  if (ctx.opset >= 10 && (ctx.has('starts') || ctx.has('ends') || ctx.has('axes')))
    ctx.invalid('starts, ends and axes are inputs from opset 10');
  if (ctx.opset < 10) {
    ctx.maxInputs(inputs, 1);
    [starts, ends, axes] = [ctx.ints('starts'), ctx.ints('ends'), ctx.ints('axes')];
  } else {
    const read = (i: number, what: string) => (inputs[i] ? intsOf(ctx, inputs[i], what) : undefined);
    [starts, ends, axes, steps] = [read(1, 'starts'), read(2, 'ends'), read(3, 'axes'), read(4, 'steps')];
  }
  if (!starts || !ends) return ctx.invalid('starts and ends are required');
  axes ??= starts.map((_, i) => i);
  steps ??= starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
    ctx.invalid('starts, ends, axes and steps differ in length');
  }
  // onnxruntime reads an end of exactly INT32_MAX or INT64_MAX with a negative step as "down to the first
  // element", where the spec clamps it (an empty slice): refuse rather than pick one. (Before opset 10 steps are 1.)
  const exactEnds = ctx.opset >= 10 && inputs[2] ? numbersOf(inputs[2]) : undefined;
  const isIntMax = (v: number | bigint | undefined) =>
    v !== undefined && (BigInt(v) === 2n ** 63n - 1n || BigInt(v) === 2n ** 31n - 1n);
  if (steps.some((step, i) => step < 0 && isIntMax(exactEnds?.[i])))
    ctx.unsupported('a negative step with an INT_MAX end');
  const strides = stridesOf(x.dims);
  const dims = [...x.dims];
  const walk = [...strides];
  let offset = 0;
  const seen = new Set<number>();
  axes.forEach((a, i) => {
    const axis = axisOf(ctx, a, x.rank);
    if (seen.has(axis)) ctx.invalid(`axis ${a} is repeated`);
    seen.add(axis);
    const r = sliceRange(ctx, x.dims[axis]!, starts[i]!, ends[i]!, steps[i]!);
    dims[axis] = r.count;
    walk[axis] = strides[axis]! * r.step;
    if (r.count) offset += r.start * strides[axis]!;
  });
  return [take(ctx, x, dims, stridedPositions(ctx, dims, walk, offset))];
}

function concat(inputs: Inputs, ctx: KernelContext): Tensor[] {
  if (inputs.length === 0) ctx.invalid('needs at least one input');
  const xs = inputs.map((_, i) => ctx.input(inputs, i));
  const type = sameType(ctx, xs);
  const first = xs[0]!;
  if (!ctx.has('axis') && ctx.opset >= 4) ctx.invalid('axis is required');
  const raw = ctx.int('axis', 1);
  if (raw < 0 && ctx.opset < 11) ctx.invalid(`negative axis ${raw} before opset 11`);
  const axis = axisOf(ctx, raw, first.rank);
  for (const x of xs) {
    if (x.rank !== first.rank || x.dims.some((d, k) => k !== axis && d !== first.dims[k])) {
      ctx.invalid(`cannot concatenate [${first.dims.join(',')}] and [${x.dims.join(',')}] on axis ${axis}`);
    }
  }
  const dims = [...first.dims];
  dims[axis] = xs.reduce((n, x) => n + x.dims[axis]!, 0);
  const outer = elementCount(first.dims.slice(0, axis));
  const out = newElements(ctx, type, elementCount(dims));
  const slots = out as unknown as { [i: number]: unknown };
  const sources = xs.map((x) => ({
    elements: elementsOf(ctx, x) as unknown as { [i: number]: unknown },
    block: elementCount(x.dims.slice(axis)),
  }));
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (const { elements, block } of sources) {
      if (!Array.isArray(out)) {
        // typed storage (one element type throughout, so one array type): whole blocks at once
        (out as Float64Array).set((elements as unknown as Float64Array).subarray(o * block, (o + 1) * block), i);
        i += block;
      } else for (let k = 0, from = o * block; k < block; k++) slots[i++] = elements[from + k];
    }
  }
  return [fromElements(type, dims, out)];
}

/** Split sizes: the `split` input (opset 13+) or attribute, num_outputs (opset 18+), or equal parts. */
function splitSizes(ctx: KernelContext, inputs: Inputs, dim: number): number[] {
  const n = ctx.outputCount;
  let sizes: number[] | undefined;
  if (ctx.opset >= 13 && ctx.has('split')) ctx.invalid('split is an input from opset 13');
  if (ctx.opset >= 13 || (ctx.opset === 1 && inputs[1])) sizes = inputs[1] && intsOf(ctx, inputs[1], 'split');
  else {
    ctx.maxInputs(inputs, 1);
    sizes = ctx.ints('split');
  }
  if (sizes) {
    if (sizes.length !== n) ctx.invalid(`${sizes.length} split sizes for ${n} outputs`);
    if (sizes.some((s) => s < 0) || sizes.reduce((a, b) => a + b, 0) !== dim)
      ctx.invalid(`split sizes [${sizes.join(',')}] do not add up to ${dim}`);
    return sizes;
  }
  if (ctx.has('num_outputs')) {
    if (ctx.opset < 18) ctx.invalid('num_outputs came with opset 18');
    const parts = ctx.int('num_outputs', 0);
    if (parts !== n) ctx.invalid(`num_outputs ${parts} but ${n} outputs`);
    // Uneven splits give every part ceil(dim/n) and the last one what is left.
    const chunk = Math.ceil(dim / n);
    const last = dim - chunk * (n - 1);
    if (last < 0) ctx.unsupported(`cannot split ${dim} into ${n} parts of ${chunk}`);
    return [...new Array<number>(n - 1).fill(chunk), last];
  }
  if (dim % n !== 0) ctx.invalid(`cannot split ${dim} into ${n} equal parts`);
  return new Array<number>(n).fill(dim / n);
}

function split(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  const axis = axisOf(ctx, ctx.int('axis', 0), x.rank);
  const sizes = splitSizes(ctx, inputs, x.dims[axis]!);
  const strides = stridesOf(x.dims);
  let start = 0;
  return sizes.map((size) => {
    const dims = [...x.dims];
    dims[axis] = size;
    const part = take(ctx, x, dims, stridedPositions(ctx, dims, strides, start * strides[axis]!));
    start += size;
    return part;
  });
}

function transpose(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  const perm = ctx.ints('perm') ?? x.dims.map((_, i) => x.rank - 1 - i);
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    ctx.invalid(`perm [${perm.join(',')}] is not a permutation of rank ${x.rank}`);
  }
  const strides = stridesOf(x.dims);
  const dims = perm.map((p) => x.dims[p]!);
  return [
    take(
      ctx,
      x,
      dims,
      stridedPositions(
        ctx,
        dims,
        perm.map((p) => strides[p]!),
      ),
    ),
  ];
}

function tile(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  const repeats = intsOf(ctx, ctx.input(inputs, 1), 'repeats');
  if (repeats.length !== x.rank || repeats.some((r) => r < 0))
    ctx.invalid(`bad repeats [${repeats.join(',')}] for rank ${x.rank}`);
  const dims = x.dims.map((d, k) => d * repeats[k]!);
  const count = elementCount(dims);
  ctx.reserve(count);
  const strides = stridesOf(x.dims);
  const positions = new Float64Array(count);
  const index = new Array<number>(x.rank).fill(0);
  for (let i = 0; i < count; i++) {
    let pos = 0;
    for (let k = 0; k < x.rank; k++) pos += (index[k]! % x.dims[k]!) * strides[k]!;
    positions[i] = pos;
    for (let k = x.rank - 1; k >= 0 && ++index[k]! === dims[k]; k--) index[k] = 0;
  }
  return [take(ctx, x, dims, positions)];
}

function expand(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  const shape = intsOf(ctx, ctx.input(inputs, 1), 'shape');
  if (shape.some((d) => d < 0)) ctx.invalid(`bad shape [${shape.join(',')}]`);
  const dims = broadcastDims(ctx, [x.dims, shape]);
  return [take(ctx, x, dims, broadcastPositions(ctx, x.dims, dims))];
}

/** Where output index `i` of a padded axis reads from: an input index, or -1 for the constant. */
function paddedSource(i: number, begin: number, size: number, mode: string): number {
  const j = i - begin;
  if (j >= 0 && j < size) return j;
  if (mode === 'constant') return -1;
  if (mode === 'edge') return j < 0 ? 0 : size - 1;
  if (mode === 'wrap') return ((j % size) + size) % size;
  // reflect: mirrored about the edge elements, which are not repeated
  const period = 2 * (size - 1);
  const r = ((j % period) + period) % period;
  return r < size ? r : period - r;
}

/** Pad: constant, edge, reflect and wrap; negative pads crop. Pads and value are attributes before opset 11. */
function pad(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  const mode = ctx.string('mode') ?? 'constant';
  if (!['constant', 'edge', 'reflect', 'wrap'].includes(mode)) ctx.invalid(`unknown mode '${mode}'`);
  const rank = x.rank;
  let pads: number[];
  let axes = Array.from({ length: rank }, (_, k) => k);
  let fill: Tensor | number | undefined;
  if (ctx.opset < 11) {
    pads = ctx.ints('pads') ?? ctx.ints('paddings') ?? ctx.invalid('missing pads');
    fill = ctx.float('value', 0);
  } else {
    pads = intsOf(ctx, ctx.input(inputs, 1), 'pads');
    fill = inputs[2] ?? undefined;
    if (inputs[3]) axes = intsOf(ctx, inputs[3], 'axes').map((a) => axisOf(ctx, a, rank));
  }
  if (pads.length !== 2 * axes.length) ctx.invalid(`pads has ${pads.length} values for ${axes.length} axes`);
  const begins = new Array<number>(rank).fill(0);
  const ends = new Array<number>(rank).fill(0);
  axes.forEach((a, i) => ((begins[a] = pads[i]!), (ends[a] = pads[i + axes.length]!)));
  const dims = x.dims.map((d, k) => d + begins[k]! + ends[k]!);
  if (dims.some((d) => d < 0)) ctx.invalid(`pads [${pads}] crop [${x.dims}] below nothing`);
  for (let k = 0; k < rank; k++) {
    const padded = begins[k]! > 0 || ends[k]! > 0;
    if (padded && mode !== 'constant' && x.dims[k] === 0) ctx.invalid(`cannot ${mode}-pad an empty axis`);
    if (padded && mode === 'reflect' && x.dims[k] === 1) ctx.unsupported('reflect-padding an axis of one element');
  }
  const count = elementCount(dims);
  ctx.reserve(count);
  const strides = stridesOf(x.dims);
  const positions = new Float64Array(count);
  const index = new Array<number>(rank).fill(0);
  let constants = 0;
  for (let i = 0; i < count; i++) {
    let pos = 0;
    for (let k = 0; k < rank && pos >= 0; k++) {
      const src = paddedSource(index[k]!, begins[k]!, x.dims[k]!, mode);
      pos = src < 0 ? -1 : pos + src * strides[k]!;
    }
    positions[i] = pos;
    if (pos < 0) constants++;
    for (let k = rank - 1; k >= 0 && ++index[k]! === dims[k]; k--) index[k] = 0;
  }
  if (!constants) return [take(ctx, x, dims, positions)];
  // the constant, in x's own element type: an input tensor (opset 11+), or the float attribute before
  if (x.strings) ctx.unsupported('constant-padding strings');
  const from = elementsOf(ctx, x) as unknown as ArrayLike<number | bigint>;
  const raw = fill === undefined ? 0 : typeof fill === 'number' ? fill : (elementsOf(ctx, fill)[0] as number | bigint);
  const value = from instanceof BigInt64Array || from instanceof BigUint64Array ? BigInt(raw) : Number(raw);
  const out = newElements(ctx, x.dataType, count) as unknown as (number | bigint)[];
  for (let i = 0; i < count; i++) out[i] = positions[i]! < 0 ? value : from[positions[i]!]!;
  return [fromElements(x.dataType, dims, out as unknown as Parameters<typeof fromElements>[2])];
}

export const movementOps: Record<string, OpDef> = {
  Pad: { kernel: pad, attributes: ['mode', 'pads', 'paddings', 'value'] },
  Gather: { kernel: gather, attributes: ['axis'] },
  Slice: { kernel: slice, attributes: ['starts', 'ends', 'axes'] },
  Concat: { kernel: concat, attributes: ['axis'] },
  Split: { kernel: split, attributes: ['axis', 'split', 'num_outputs'] },
  Transpose: { kernel: transpose, attributes: ['perm'] },
  Tile: { kernel: tile, attributes: [], since: 6 },
  Expand: { kernel: expand, attributes: [], since: 8 },
};
