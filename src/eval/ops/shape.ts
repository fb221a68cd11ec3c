// Ops that read or change only a tensor's dims: Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Identity.
// The reshaping ones share the input's bytes, so they work for every element type, packed ones included.
import { Tensor, elementCount } from '../../ir/tensor.js';
import { DataType } from '../../tensor/dtype.js';
import type { Inputs, KernelContext, OpDef } from '../kernel.js';
import { axisOf, fromNumbers, intsOf, withDims } from '../values.js';

/** Shape's output for input dims: dims[start:end] (opset 15 attributes), clamped like a Python slice. */
export function shapeFromDims(ctx: KernelContext, dims: readonly number[]): Tensor {
  const rank = dims.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const start = clamp(ctx.int('start', 0));
  const end = clamp(ctx.int('end', rank));
  const part = dims.slice(start, Math.max(start, end));
  return fromNumbers(DataType.INT64, [part.length], BigInt64Array.from(part, BigInt));
}

function shape(inputs: Inputs, ctx: KernelContext): Tensor[] {
  return [shapeFromDims(ctx, ctx.input(inputs, 0).dims)];
}

export function sizeFromDims(dims: readonly number[]): Tensor {
  return fromNumbers(DataType.INT64, [], BigInt64Array.of(BigInt(elementCount(dims))));
}

function size(inputs: Inputs, ctx: KernelContext): Tensor[] {
  return [sizeFromDims(ctx.input(inputs, 0).dims)];
}

function identity(inputs: Inputs, ctx: KernelContext): Tensor[] {
  return [ctx.input(inputs, 0).withName('')];
}

/** Reshape: 0 copies the input dim (unless allowzero), -1 takes what is left. */
function reshape(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  if (ctx.opset >= 5 && ctx.has('shape')) ctx.invalid('shape is an input from opset 5');
  if (ctx.opset < 5) ctx.maxInputs(inputs, 1);
  const requested = ctx.opset < 5 ? ctx.ints('shape') : intsOf(ctx, ctx.input(inputs, 1), 'shape');
  if (!requested) return ctx.invalid('no shape');
  const allowZero = ctx.int('allowzero', 0) === 1;
  const dims = requested.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= x.rank) ctx.invalid(`shape entry ${i} is 0 but the input has rank ${x.rank}`);
      return x.dims[i]!;
    }
    return d;
  });
  const unknown = dims.filter((d) => d === -1).length;
  if (unknown > 1 || dims.some((d) => d < -1)) ctx.invalid(`bad shape [${requested.join(',')}]`);
  if (allowZero && unknown && dims.includes(0)) ctx.invalid('allowzero shape has both 0 and -1');
  if (unknown) {
    const known = elementCount(dims.filter((d) => d !== -1));
    if (known === 0 || x.size % known !== 0)
      ctx.invalid(`cannot reshape ${x.size} elements to [${requested.join(',')}]`);
    dims[dims.indexOf(-1)] = x.size / known;
  }
  if (elementCount(dims) !== x.size) ctx.invalid(`cannot reshape [${x.dims.join(',')}] to [${requested.join(',')}]`);
  return [withDims(x, dims)];
}

function flatten(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  const raw = ctx.int('axis', 1);
  // axis may equal the rank (everything in the first dim); negative axes came with opset 11.
  if (raw < 0 && ctx.opset < 11) ctx.invalid(`negative axis ${raw} before opset 11`);
  const axis = raw === x.rank ? raw : axisOf(ctx, raw, x.rank);
  return [withDims(x, [elementCount(x.dims.slice(0, axis)), elementCount(x.dims.slice(axis))])];
}

/** Axes from the attribute (before opset 13) or the optional second input. */
function axesOf(ctx: KernelContext, inputs: Inputs): number[] | undefined {
  if (ctx.opset < 13) {
    ctx.maxInputs(inputs, 1);
    return ctx.ints('axes');
  }
  if (ctx.has('axes')) ctx.invalid('axes is an input from opset 13');
  const t = inputs[1];
  return t && intsOf(ctx, t, 'axes');
}

function normalizeAxes(ctx: KernelContext, axes: number[], rank: number): number[] {
  const out = axes.map((a) => axisOf(ctx, a, rank));
  if (new Set(out).size !== out.length) ctx.invalid(`repeated axes [${axes.join(',')}]`);
  return out;
}

function squeeze(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  const given = axesOf(ctx, inputs);
  const axes = given ? normalizeAxes(ctx, given, x.rank) : x.dims.flatMap((d, i) => (d === 1 ? [i] : []));
  for (const a of axes) if (x.dims[a] !== 1) ctx.invalid(`cannot squeeze axis ${a} of size ${x.dims[a]}`);
  return [
    withDims(
      x,
      x.dims.filter((_, i) => !axes.includes(i)),
    ),
  ];
}

function unsqueeze(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  const given = axesOf(ctx, inputs);
  if (!given) return ctx.invalid('no axes');
  const rank = x.rank + given.length;
  const axes = normalizeAxes(ctx, given, rank);
  const dims: number[] = [];
  let next = 0;
  for (let i = 0; i < rank; i++) dims.push(axes.includes(i) ? 1 : x.dims[next++]!);
  return [withDims(x, dims)];
}

export const shapeOps: Record<string, OpDef> = {
  Shape: { kernel: shape, attributes: ['start', 'end'] },
  Size: { kernel: size, attributes: [] },
  Identity: { kernel: identity, attributes: [] },
  Reshape: { kernel: reshape, attributes: ['shape', 'allowzero', 'consumed_inputs'] },
  Flatten: { kernel: flatten, attributes: ['axis'] },
  Squeeze: { kernel: squeeze, attributes: ['axes'] },
  Unsqueeze: { kernel: unsqueeze, attributes: ['axes'] },
};
