// Softmax and LogSoftmax. Before opset 13 the input is seen as a 2-D matrix [prod(dims < axis), prod(dims >= axis)]
// (axis defaults to 1) and each row is normalized; from 13 only the `axis` dim (default -1) is.
import { elementCount, type Tensor } from '../../ir/tensor.js';
import type { Inputs, KernelContext, OpDef } from '../kernel.js';
import { axisOf, checkType, fromNumbers, newNumbers, numbersOf, type NumberArray } from '../values.js';

function softmax(log: boolean) {
  return (inputs: Inputs, ctx: KernelContext): Tensor[] => {
    const x = ctx.input(inputs, 0);
    checkType(ctx, x.dataType, 'float');
    const legacy = ctx.opset < 13;
    const raw = ctx.int('axis', legacy ? 1 : -1);
    if (raw < 0 && ctx.opset < 11) ctx.invalid(`negative axis ${raw} before opset 11`);
    // Before 13 the axis may equal the rank, normalizing over single elements.
    const axis = legacy && raw === x.rank ? raw : axisOf(ctx, raw, Math.max(x.rank, 1));
    const outer = elementCount(x.dims.slice(0, axis));
    const length = legacy ? elementCount(x.dims.slice(axis)) : (x.dims[axis] ?? 1);
    const inner = legacy ? 1 : elementCount(x.dims.slice(axis + 1));
    const src = numbersOf(x) as NumberArray;
    const out = newNumbers(ctx, x.dataType, src.length) as Float64Array;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const at = (p: number) => (o * length + p) * inner + i;
        let max = -Infinity;
        for (let p = 0; p < length; p++) max = Math.max(max, src[at(p)]!);
        let sum = 0;
        for (let p = 0; p < length; p++) sum += Math.exp(src[at(p)]! - max);
        for (let p = 0; p < length; p++) {
          const shifted = src[at(p)]! - max;
          out[at(p)] = log ? shifted - Math.log(sum) : Math.exp(shifted) / sum;
        }
      }
    }
    return [fromNumbers(x.dataType, x.dims, out)];
  };
}

export const softmaxOps: Record<string, OpDef> = {
  Softmax: { kernel: softmax(false), attributes: ['axis'] },
  LogSoftmax: { kernel: softmax(true), attributes: ['axis'] },
};
