// Index-driven ops that exporters use in mask and position computations: GatherND, GatherElements, CumSum,
// IsNaN, IsInf.
import { DataType, dataTypeName } from '../../tensor/dtype.js';
import { elementCount, type Tensor } from '../../ir/tensor.js';
import type { Inputs, KernelContext, OpDef } from '../kernel.js';
import {
  axisOf,
  checkType,
  fromNumbers,
  intsOf,
  isBig,
  newNumbers,
  numbersOf,
  scalarOf,
  stridesOf,
  take,
} from '../values.js';

function normalized(ctx: KernelContext, i: number, size: number): number {
  if (i < -size || i >= size) ctx.invalid(`index ${i} is out of range for a dim of size ${size}`);
  return i < 0 ? i + size : i;
}

/** GatherND: slices of data addressed by the last axis of indices, after `batch_dims` shared leading dims. */
function gatherND(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const data = ctx.input(inputs, 0);
  const indices = ctx.input(inputs, 1);
  const b = ctx.int('batch_dims', 0);
  const k = indices.dims.at(-1)!;
  if (indices.rank < 1 || k > data.rank - b)
    ctx.invalid(`indices of shape [${indices.dims}] do not fit data [${data.dims}]`);
  for (let i = 0; i < b; i++)
    if (data.dims[i] !== indices.dims[i]) ctx.invalid('batch dims of data and indices differ');
  const idx = intsOf(ctx, indices, 'indices');
  const strides = stridesOf(data.dims);
  const batches = elementCount(data.dims.slice(0, b));
  const perBatch = elementCount(indices.dims.slice(b, -1));
  const batchStride = elementCount(data.dims.slice(b));
  const inner = elementCount(data.dims.slice(b + k));
  const dims = [...indices.dims.slice(0, -1), ...data.dims.slice(b + k)];
  ctx.reserve(elementCount(dims));
  const positions = new Float64Array(elementCount(dims));
  let at = 0;
  for (let batch = 0; batch < batches; batch++) {
    for (let j = 0; j < perBatch; j++) {
      let offset = batch * batchStride;
      for (let t = 0; t < k; t++) {
        offset += normalized(ctx, idx[(batch * perBatch + j) * k + t]!, data.dims[b + t]!) * strides[b + t]!;
      }
      for (let e = 0; e < inner; e++) positions[at++] = offset + e;
    }
  }
  return [take(ctx, data, dims, positions)];
}

/** GatherElements: output[i] = data[i with its `axis` coordinate replaced by indices[i]]. */
function gatherElements(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const data = ctx.input(inputs, 0);
  const indices = ctx.input(inputs, 1);
  const axis = axisOf(ctx, ctx.int('axis', 0), data.rank);
  if (indices.rank !== data.rank) ctx.invalid('data and indices differ in rank');
  const idx = intsOf(ctx, indices, 'indices');
  const dataStrides = stridesOf(data.dims);
  const outStrides = stridesOf(indices.dims);
  ctx.reserve(idx.length);
  const positions = new Float64Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    let rest = i;
    let offset = 0;
    for (let d = 0; d < indices.rank; d++) {
      const coord = Math.floor(rest / outStrides[d]!);
      rest -= coord * outStrides[d]!;
      offset += (d === axis ? normalized(ctx, idx[i]!, data.dims[d]!) : coord) * dataStrides[d]!;
    }
    positions[i] = offset;
  }
  return [take(ctx, data, indices.dims, positions)];
}

const CUMSUM_TYPES: ReadonlySet<number> = new Set([
  DataType.FLOAT,
  DataType.DOUBLE,
  DataType.INT32,
  DataType.INT64,
  DataType.UINT32,
  DataType.UINT64,
]);

/** CumSum along one axis, optionally exclusive and/or reversed. */
function cumSum(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  const t = x.dataType;
  if (!CUMSUM_TYPES.has(t)) ctx.unsupported(`element type ${dataTypeName(t)}`);
  const axis = axisOf(ctx, Number(scalarOf(ctx, ctx.input(inputs, 1), 'axis')), x.rank);
  const exclusive = ctx.int('exclusive', 0) === 1;
  const reverse = ctx.int('reverse', 0) === 1;
  const values = numbersOf(x);
  const out = newNumbers(ctx, t, x.size);
  const len = x.dims[axis]!;
  const inner = elementCount(x.dims.slice(axis + 1));
  const outer = elementCount(x.dims.slice(0, axis));
  const round = t === DataType.FLOAT ? Math.fround : (v: number) => v;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc: number | bigint = isBig(values) ? 0n : 0;
      for (let step = 0; step < len; step++) {
        const j = reverse ? len - 1 - step : step;
        const at = (o * len + j) * inner + i;
        const v = values[at]!;
        if (exclusive) out[at] = acc as never;
        acc = typeof acc === 'bigint' ? acc + (v as bigint) : round(acc + (v as number));
        if (!exclusive) out[at] = acc as never;
      }
    }
  }
  return [fromNumbers(t, x.dims, out)];
}

function classify(test: (v: number, ctx: KernelContext) => boolean) {
  return (inputs: Inputs, ctx: KernelContext): Tensor[] => {
    const x = ctx.input(inputs, 0);
    checkType(ctx, x.dataType, 'float');
    const values = numbersOf(x) as ArrayLike<number>;
    return [
      fromNumbers(
        DataType.BOOL,
        x.dims,
        Float64Array.from(values, (v) => (test(v, ctx) ? 1 : 0)),
      ),
    ];
  };
}

export const indexingOps: Record<string, OpDef> = {
  GatherND: { kernel: gatherND, attributes: ['batch_dims'], since: 11 },
  GatherElements: { kernel: gatherElements, attributes: ['axis'], since: 11 },
  CumSum: { kernel: cumSum, attributes: ['exclusive', 'reverse'], since: 11 },
  IsNaN: { kernel: classify(Number.isNaN), attributes: [], since: 9 },
  IsInf: {
    kernel: classify(
      (v, ctx) =>
        (v === Infinity && ctx.int('detect_positive', 1) === 1) ||
        (v === -Infinity && ctx.int('detect_negative', 1) === 1),
    ),
    attributes: ['detect_positive', 'detect_negative'],
    since: 10,
  },
};
