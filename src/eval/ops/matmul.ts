// MatMul (numpy matmul: batched, broadcasting, 1-D operands) and Gemm. Float products accumulate in double and
// round once; int32/uint32 accumulate modulo 2^32 and int64/uint64 as bigints.
import { DataType, dataTypeName } from '../../tensor/dtype.js';
import { elementCount, type Tensor } from '../../ir/tensor.js';
import type { Inputs, KernelContext, OpDef } from '../kernel.js';
import {
  broadcastDims,
  broadcastPositions,
  fromNumbers,
  isBig,
  isFloat,
  newNumbers,
  numbersOf,
  sameType,
  type BigArray,
  type NumberArray,
} from '../values.js';

const matmulTypes: ReadonlySet<number> = new Set([
  DataType.FLOAT,
  DataType.DOUBLE,
  DataType.FLOAT16,
  DataType.BFLOAT16,
  DataType.INT32,
  DataType.INT64,
  DataType.UINT32,
  DataType.UINT64,
]);

/** Multiplies one MxK block by one KxN block into `out` at `at`, reading with the given element strides. */
type BlockProduct = (aBase: number, bBase: number, at: number) => void;

function matmul(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const a = ctx.input(inputs, 0);
  const b = ctx.input(inputs, 1);
  const type = sameType(ctx, [a, b]);
  if (!matmulTypes.has(type)) ctx.unsupported(`element type ${dataTypeName(type)}`);
  if (a.rank === 0 || b.rank === 0) ctx.invalid('operands must have rank 1 or more');
  // 1-D operands become a row (left) or column (right) matrix whose extra dim is dropped afterwards.
  const aDims = a.rank === 1 ? [1, a.dims[0]!] : [...a.dims];
  const bDims = b.rank === 1 ? [b.dims[0]!, 1] : [...b.dims];
  const [m, k] = aDims.slice(-2) as [number, number];
  const [k2, n] = bDims.slice(-2) as [number, number];
  if (k !== k2) ctx.invalid(`inner dims differ: [${a.dims.join(',')}] x [${b.dims.join(',')}]`);
  const batch = broadcastDims(ctx, [aDims.slice(0, -2), bDims.slice(0, -2)]);
  const aBatch = broadcastPositions(ctx, aDims.slice(0, -2), batch);
  const bBatch = broadcastPositions(ctx, bDims.slice(0, -2), batch);
  const dims = [...batch, ...(a.rank === 1 ? [] : [m]), ...(b.rank === 1 ? [] : [n])];
  const out = newNumbers(ctx, type, elementCount(dims));
  if (bDims.length === 2) {
    // One matrix b for every batch (a weight): a's batches are consecutive rows of one (batch·m, k) product,
    // so b is streamed once rather than once per batch.
    const rows = aBatch.length * m;
    blockProduct(type, numbersOf(a), numbersOf(b), out, rows, k, n, [k, 1], [n, 1], 1, undefined)(0, 0, 0);
    return [fromNumbers(type, dims, out)];
  }
  const product = blockProduct(type, numbersOf(a), numbersOf(b), out, m, k, n, [k, 1], [n, 1], 1, undefined);
  for (let i = 0; i < aBatch.length; i++) product(aBatch[i]! * m * k, bBatch[i]! * k * n, i * m * n);
  return [fromNumbers(type, dims, out)];
}

/**
 * The product of an MxK and a KxN block, where a[i][p] is at aBase + i*aStride[0] + p*aStride[1] (likewise b),
 * scaled by alpha and added to `bias(i, j)` when given (Gemm).
 */
function blockProduct(
  type: number,
  va: NumberArray | BigArray,
  vb: NumberArray | BigArray,
  out: Float64Array | BigArray,
  m: number,
  k: number,
  n: number,
  aStride: readonly number[],
  bStride: readonly number[],
  alpha: number,
  bias: ((i: number, j: number) => number) | undefined,
): BlockProduct {
  const [ai, ap] = aStride as [number, number];
  const [bp, bj] = bStride as [number, number];
  if (isBig(va) && isBig(vb)) {
    const o = out as BigArray;
    return (aBase, bBase, at) => {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let acc = 0n;
          for (let p = 0; p < k; p++) acc += va[aBase + i * ai + p * ap]! * vb[bBase + p * bp + j * bj]!;
          o[at + i * n + j] = BigInt.asIntN(64, acc);
        }
      }
    };
  }
  const x = va as NumberArray;
  const y = vb as NumberArray;
  const o = out as Float64Array;
  const float = isFloat(type);
  if (float && ap === 1 && bj === 1 && !bias && alpha === 1) {
    // Row-major operands: walk b by rows (i, p, j order) so the inner loop reads memory in sequence, four rows of a
    // at a time so each row of b is read once for all four (b is the large weight when probes evaluate a model).
    // Every output still sums its products in p order.
    return (aBase, bBase, at) => {
      o.fill(0, at, at + m * n);
      let i = 0;
      for (; i + 4 <= m; i += 4) {
        const r0 = at + i * n,
          r1 = r0 + n,
          r2 = r1 + n,
          r3 = r2 + n;
        const a0 = aBase + i * ai,
          a1 = a0 + ai,
          a2 = a1 + ai,
          a3 = a2 + ai;
        for (let p = 0; p < k; p++) {
          const v0 = x[a0 + p]!,
            v1 = x[a1 + p]!,
            v2 = x[a2 + p]!,
            v3 = x[a3 + p]!;
          const bRow = bBase + p * bp;
          for (let j = 0; j < n; j++) {
            const bv = y[bRow + j]!;
            o[r0 + j]! += v0 * bv;
            o[r1 + j]! += v1 * bv;
            o[r2 + j]! += v2 * bv;
            o[r3 + j]! += v3 * bv;
          }
        }
      }
      for (; i < m; i++) {
        const row = at + i * n;
        for (let p = 0; p < k; p++) {
          const av = x[aBase + i * ai + p]!;
          const bRow = bBase + p * bp;
          for (let j = 0; j < n; j++) o[row + j]! += av * y[bRow + j]!;
        }
      }
    };
  }
  return (aBase, bBase, at) => {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        if (float) for (let p = 0; p < k; p++) acc += x[aBase + i * ai + p * ap]! * y[bBase + p * bp + j * bj]!;
        else
          for (let p = 0; p < k; p++)
            acc = (acc + Math.imul(x[aBase + i * ai + p * ap]!, y[bBase + p * bp + j * bj]!)) | 0;
        o[at + i * n + j] = bias ? alpha * acc + bias(i, j) : acc;
      }
    }
  };
}

/** Gemm: Y = alpha * A' B' + beta * C, with A' and B' optionally transposed and C broadcast to (M, N). Floats only. */
function gemm(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const a = ctx.input(inputs, 0);
  const b = ctx.input(inputs, 1);
  const c = ctx.opset < 11 ? ctx.input(inputs, 2) : inputs[2];
  const type = sameType(ctx, c ? [a, b, c] : [a, b]);
  if (!isFloat(type)) ctx.unsupported(`element type ${dataTypeName(type)}`);
  if (a.rank !== 2 || b.rank !== 2) ctx.invalid('A and B must be matrices');
  const transA = ctx.int('transA', 0) === 1;
  const transB = ctx.int('transB', 0) === 1;
  const [m, k] = transA ? [a.dims[1]!, a.dims[0]!] : [a.dims[0]!, a.dims[1]!];
  const [k2, n] = transB ? [b.dims[1]!, b.dims[0]!] : [b.dims[0]!, b.dims[1]!];
  if (k !== k2) ctx.invalid(`inner dims differ: A' is ${m}x${k}, B' is ${k2}x${n}`);
  const alpha = ctx.float('alpha', 1);
  const beta = ctx.float('beta', 1);
  let bias = (_i: number, _j: number): number => 0;
  if (c) {
    if (broadcastDims(ctx, [c.dims, [m, n]]).join(',') !== `${m},${n}`)
      ctx.invalid(`C [${c.dims.join(',')}] does not broadcast to ${m}x${n}`);
    const positions = broadcastPositions(ctx, c.dims, [m, n]);
    const vc = numbersOf(c) as NumberArray;
    bias = (i, j) => beta * vc[positions[i * n + j]!]!;
  }
  const out = newNumbers(ctx, type, m * n);
  const aStride = transA ? [1, m] : [k, 1];
  const bStride = transB ? [1, k] : [n, 1];
  blockProduct(type, numbersOf(a), numbersOf(b), out, m, k, n, aStride, bStride, alpha, bias)(0, 0, 0);
  return [fromNumbers(type, [m, n], out)];
}

export const matmulOps: Record<string, OpDef> = {
  MatMul: { kernel: matmul, attributes: [] },
  Gemm: { kernel: gemm, attributes: ['alpha', 'beta', 'transA', 'transB', 'broadcast'] },
};
