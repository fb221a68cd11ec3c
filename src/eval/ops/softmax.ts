// Softmax and LogSoftmax. Before opset 13 the input is seen as a 2-D matrix [prod(dims < axis), prod(dims >= axis)]
// (axis defaults to 1) and each row is normalized; from 13 only the `axis` dim (default -1) is.
// LayerNormalization (opset 17) normalizes each row of the dims from `axis` on, computed in double.
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

function layerNormalization(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  const scale = ctx.input(inputs, 1);
  const bias = inputs[2];
  checkType(ctx, x.dataType, 'float');
  const axis = axisOf(ctx, ctx.int('axis', -1), x.rank);
  const outer = elementCount(x.dims.slice(0, axis));
  const inner = elementCount(x.dims.slice(axis));
  // Scale and B broadcast over the normalized dims; the forms models use are the whole of them or one value.
  for (const t of bias ? [scale, bias] : [scale]) {
    if (t.size !== inner && t.size !== 1)
      ctx.unsupported(`scale or bias of ${t.size} values over ${inner} normalized ones`);
  }
  const epsilon = ctx.float('epsilon', 1e-5);
  const src = numbersOf(x) as NumberArray;
  const g = numbersOf(scale) as NumberArray;
  const b = bias ? (numbersOf(bias) as NumberArray) : undefined;
  const out = newNumbers(ctx, x.dataType, src.length) as Float64Array;
  const means = newNumbers(ctx, x.dataType, outer) as Float64Array;
  const invStd = newNumbers(ctx, x.dataType, outer) as Float64Array;
  for (let o = 0; o < outer; o++) {
    const base = o * inner;
    let mean = 0;
    for (let j = 0; j < inner; j++) mean += src[base + j]!;
    mean /= inner;
    let variance = 0;
    for (let j = 0; j < inner; j++) variance += (src[base + j]! - mean) ** 2;
    const inv = 1 / Math.sqrt(variance / inner + epsilon);
    for (let j = 0; j < inner; j++) {
      out[base + j] = (src[base + j]! - mean) * inv * g[g.length === 1 ? 0 : j]! + (b ? b[b.length === 1 ? 0 : j]! : 0);
    }
    means[o] = mean;
    invStd[o] = inv;
  }
  const statsDims = x.dims.map((d, i) => (i < axis ? d : 1));
  return [
    fromNumbers(x.dataType, x.dims, out),
    fromNumbers(x.dataType, statsDims, means),
    fromNumbers(x.dataType, statsDims, invStd),
  ];
}

export const softmaxOps: Record<string, OpDef> = {
  LayerNormalization: { kernel: layerNormalization, attributes: ['axis', 'epsilon', 'stash_type'] },
  Softmax: { kernel: softmax(false), attributes: ['axis'] },
  LogSoftmax: { kernel: softmax(true), attributes: ['axis'] },
};
