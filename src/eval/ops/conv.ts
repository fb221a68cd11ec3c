// Conv over any number of spatial axes, with groups, strides, dilations and explicit or automatic padding. Float
// types only; products accumulate in double and round once, as MatMul's do. Probes meet it on the way to a value's
// shape (a vision model's patch embedding), so it is written for clarity, not speed.
import { elementCount, type Tensor } from '../../ir/tensor.js';
import { dataTypeName } from '../../tensor/dtype.js';
import type { Inputs, KernelContext, OpDef } from '../kernel.js';
import { fromNumbers, isFloat, newNumbers, numbersOf, sameType, type NumberArray } from '../values.js';

/** Begin and end padding of each spatial axis, as the attributes say. */
function padding(
  ctx: KernelContext,
  inDims: readonly number[],
  kernel: readonly number[],
  strides: number[],
  dilations: number[],
): [number[], number[]] {
  const rank = kernel.length;
  const autoPad = ctx.string('auto_pad') ?? 'NOTSET';
  if (autoPad === 'NOTSET') {
    const pads = ctx.ints('pads') ?? Array(2 * rank).fill(0);
    if (pads.length !== 2 * rank) ctx.invalid(`pads has ${pads.length} values, expected ${2 * rank}`);
    return [pads.slice(0, rank), pads.slice(rank)];
  }
  if (autoPad === 'VALID') return [Array(rank).fill(0), Array(rank).fill(0)];
  if (autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') ctx.invalid(`unknown auto_pad '${autoPad}'`);
  const begins: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < rank; i++) {
    const out = Math.ceil(inDims[i]! / strides[i]!);
    const total = Math.max(0, (out - 1) * strides[i]! + dilations[i]! * (kernel[i]! - 1) + 1 - inDims[i]!);
    const small = Math.floor(total / 2);
    begins.push(autoPad === 'SAME_UPPER' ? small : total - small);
    ends.push(autoPad === 'SAME_UPPER' ? total - small : small);
  }
  return [begins, ends];
}

function conv(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  const w = ctx.input(inputs, 1);
  const b = inputs[2];
  const type = sameType(ctx, b ? [x, w, b] : [x, w]);
  if (!isFloat(type)) ctx.unsupported(`element type ${dataTypeName(type)}`);
  if (x.rank < 3 || w.rank !== x.rank)
    ctx.invalid(`X [${x.dims}] and W [${w.dims}] must have the same rank, 3 or more`);
  const [batch, channels, ...inDims] = x.dims as number[];
  const [maps, perGroup, ...kernel] = w.dims as number[];
  const rank = kernel.length;
  const group = ctx.int('group', 1);
  if (channels !== perGroup! * group || maps! % group !== 0)
    ctx.invalid(`${channels} input channels and W [${w.dims}] do not make ${group} groups`);
  const declared = ctx.ints('kernel_shape');
  if (declared && declared.join() !== kernel.join()) ctx.invalid(`kernel_shape [${declared}] is not W's [${kernel}]`);
  const strides = ctx.ints('strides') ?? Array(rank).fill(1);
  const dilations = ctx.ints('dilations') ?? Array(rank).fill(1);
  const [begins, ends] = padding(ctx, inDims, kernel, strides, dilations);
  const outDims = inDims.map(
    (d, i) => Math.floor((d + begins[i]! + ends[i]! - dilations[i]! * (kernel[i]! - 1) - 1) / strides[i]!) + 1,
  );
  if (outDims.some((d) => d < 1)) ctx.invalid(`output dims [${outDims}] are empty`);

  const xv = numbersOf(x) as NumberArray;
  const wv = numbersOf(w) as NumberArray;
  const bv = b ? (numbersOf(b) as NumberArray) : undefined;
  const outSize = elementCount(outDims);
  const inSize = elementCount(inDims);
  const kernelSize = elementCount(kernel);
  const out = newNumbers(ctx, type, batch! * maps! * outSize) as Float64Array;
  const mapsPerGroup = maps! / group;
  // strides of the spatial axes, innermost last
  const stridesOf = (dims: readonly number[]) => dims.map((_, i) => elementCount(dims.slice(i + 1)));
  const inStrides = stridesOf(inDims);
  const outPos = new Array<number>(rank);
  const kPos = new Array<number>(rank);
  for (let n = 0; n < batch!; n++)
    for (let m = 0; m < maps!; m++) {
      const g = Math.floor(m / mapsPerGroup);
      for (let o = 0; o < outSize; o++) {
        for (let i = 0, r = o; i < rank; i++)
          ((outPos[rank - 1 - i] = r % outDims[rank - 1 - i]!), (r = Math.floor(r / outDims[rank - 1 - i]!)));
        let acc = bv ? bv[m]! : 0;
        for (let c = 0; c < perGroup!; c++) {
          const xBase = (n * channels! + g * perGroup! + c) * inSize;
          const wBase = (m * perGroup! + c) * kernelSize;
          for (let k = 0; k < kernelSize; k++) {
            for (let i = 0, r = k; i < rank; i++)
              ((kPos[rank - 1 - i] = r % kernel[rank - 1 - i]!), (r = Math.floor(r / kernel[rank - 1 - i]!)));
            let at = xBase;
            let inside = true;
            for (let i = 0; i < rank && inside; i++) {
              const p = outPos[i]! * strides[i]! - begins[i]! + kPos[i]! * dilations[i]!;
              inside = p >= 0 && p < inDims[i]!;
              at += p * inStrides[i]!;
            }
            if (inside) acc += xv[at]! * wv[wBase + k]!;
          }
        }
        out[(n * maps! + m) * outSize + o] = acc;
      }
    }
  return [fromNumbers(type, [batch!, maps!, ...outDims], out)];
}

export const convOps: Record<string, OpDef> = {
  Conv: { kernel: conv, attributes: ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides'] },
};
