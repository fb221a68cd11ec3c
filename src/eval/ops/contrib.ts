// onnxruntime's own ops that the fusions emit (SimplifiedLayerNormalization, SkipSimplifiedLayerNormalization,
// com.microsoft RotaryEmbedding) and ONNX's RotaryEmbedding (opset 23), so that probes evaluating the graph in
// front of an attention site get through what earlier fusions made. Each follows onnxruntime 1.30's CPU kernel:
// the norms accumulate in float (in double for double tensors) in the kernel's order, the rotary computes each
// element in double and rounds once; both agree with onnxruntime to an ulp or so (test/eval/contrib-ops.test.ts).
// Inputs the kernels reject are refused.
import { DataType } from '../../tensor/dtype.js';
import type { Tensor } from '../../ir/tensor.js';
import type { Inputs, KernelContext, OpDef } from '../kernel.js';
import { checkType, fromNumbers, intsOf, numbersOf, type NumberArray } from '../values.js';

/** Rounding to the type the kernel computes in: float for float, float16 and bfloat16 tensors. */
function arithmeticOf(t: Tensor): (x: number) => number {
  return t.dataType === DataType.DOUBLE ? (x) => x : Math.fround;
}

/**
 * The RMS normalization of `rows` rows of `width` values, as onnxruntime's LayerNorm and SkipLayerNorm kernels
 * compute it with `simplified`: rms = sqrt(Σx² / width + ε), y = x / rms · γ. Returns 1 / rms per row too.
 */
function rmsNormalize(
  values: Float64Array,
  rows: number,
  width: number,
  gamma: NumberArray,
  epsilon: number,
  r: (x: number) => number,
): Float64Array {
  const invRms = new Float64Array(rows);
  const eps = Math.fround(epsilon);
  for (let row = 0; row < rows; row++) {
    const base = row * width;
    let sumSquares = 0;
    for (let h = 0; h < width; h++) sumSquares = r(sumSquares + r(values[base + h]! * values[base + h]!));
    const rms = r(Math.sqrt(r(r(sumSquares / width) + eps)));
    for (let h = 0; h < width; h++) values[base + h] = r(r(values[base + h]! / rms) * gamma[h]!);
    invRms[row] = r(1 / rms);
  }
  return invRms;
}

/** onnxruntime's SimplifiedLayerNormalization (ONNX domain, version 1): Y and InvStdVar over the dims from `axis`. */
function simplifiedLayerNormalization(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  const scale = ctx.input(inputs, 1);
  checkType(ctx, x.dataType, 'float');
  if (scale.dataType !== x.dataType) ctx.unsupported('scale of another type than X');
  const raw = ctx.int('axis', -1);
  const axis = raw < 0 ? raw + x.rank : raw;
  if (axis < 0 || axis >= x.rank) ctx.invalid(`axis ${raw} out of range for rank ${x.rank}`);
  const normalized = x.dims.slice(axis);
  const width = normalized.reduce((a, b) => a * b, 1);
  // onnxruntime takes a scale shaped like the normalized dims (leading ones aside) or broadcast to them; the
  // broadcast forms are not what fusions emit
  const withoutLeadingOnes = (dims: readonly number[]) => {
    const first = dims.findIndex((d) => d !== 1);
    return first < 0 ? [] : dims.slice(first);
  };
  if (withoutLeadingOnes(scale.dims).join() !== withoutLeadingOnes(normalized).join()) {
    ctx.unsupported(`scale shaped [${scale.dims}] for normalized dims [${normalized}]`);
  }
  if (ctx.int('stash_type', 1) !== 1) ctx.unsupported('stash_type other than float');
  const values = Float64Array.from(numbersOf(x) as NumberArray);
  const rows = width ? values.length / width : 0;
  const invRms = rmsNormalize(
    values,
    rows,
    width,
    numbersOf(scale) as NumberArray,
    ctx.float('epsilon', 1e-5),
    arithmeticOf(x),
  );
  const statsDims = x.dims.map((d, i) => (i < axis ? d : 1));
  return [fromNumbers(x.dataType, x.dims, values), fromNumbers(DataType.FLOAT, statsDims, invRms)];
}

/**
 * com.microsoft SkipSimplifiedLayerNormalization: s = input + skip, y = rmsnorm(s) · γ; outputs y, mean, inv_std_var
 * and s. The CPU kernel writes only y and s; the statistics are computed as the schema describes them. skip repeats
 * over the input as the kernel reads it (the same shape, or one batch of it). A bias is refused: the CPU kernel
 * reads input 3 as SkipLayerNormalization's beta, which the simplified form ignores.
 */
function skipSimplifiedLayerNormalization(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  const skip = ctx.input(inputs, 1);
  const gamma = ctx.input(inputs, 2);
  if (inputs[3] || inputs[4]) ctx.unsupported('a bias input');
  checkType(ctx, x.dataType, 'float');
  if (skip.dataType !== x.dataType || gamma.dataType !== x.dataType) ctx.invalid('inputs of different types');
  if (x.rank !== 2 && x.rank !== 3) ctx.invalid(`input is ${x.rank}-D, not 2-D or 3-D`);
  const width = x.dims.at(-1)!;
  if (gamma.rank !== 1 || gamma.dims[0] !== width) ctx.invalid(`gamma is shaped [${gamma.dims}], not [${width}]`);
  const sameShape = skip.dims.join() === x.dims.join();
  const oneBatch =
    x.rank === 3 &&
    skip.dims.slice(-2).join() === x.dims.slice(1).join() &&
    (skip.rank === 2 || (skip.rank === 3 && skip.dims[0] === 1));
  if (!sameShape && !oneBatch) ctx.invalid(`skip is shaped [${skip.dims}], which does not fit the input [${x.dims}]`);
  const r = arithmeticOf(x);
  const a = numbersOf(x) as NumberArray;
  const b = numbersOf(skip) as NumberArray;
  const sums = Float64Array.from({ length: a.length }, (_, i) => r(a[i]! + b[i % b.length]!));
  const values = Float64Array.from(sums);
  const rows = width ? values.length / width : 0;
  const invRms = rmsNormalize(values, rows, width, numbersOf(gamma) as NumberArray, ctx.float('epsilon', 1e-5), r);
  const means = Float64Array.from({ length: rows }, (_, row) => {
    let total = 0;
    for (let h = 0; h < width; h++) total = r(total + sums[row * width + h]!);
    return r(total / width);
  });
  const statsDims = x.dims.map((d, i) => (i < x.rank - 1 ? d : 1));
  return [
    fromNumbers(x.dataType, x.dims, values),
    fromNumbers(DataType.FLOAT, statsDims, means),
    fromNumbers(DataType.FLOAT, statsDims, invRms),
    fromNumbers(x.dataType, x.dims, sums),
  ];
}

/**
 * Rotary embedding of x, 3-D (B, S, N·H) or 4-D (B, N, S, H), at positions `positionAt(b, s)`, with caches
 * (max positions, rotary dim / 2): the first `rotaryDim` values of each head rotate (rotate-half pairs i and
 * i + rotaryDim/2, or interleaved pairs 2i and 2i + 1), the rest are copied.
 */
function rotate(
  ctx: KernelContext,
  x: Tensor,
  cos: Tensor,
  sin: Tensor,
  positionAt: (b: number, s: number) => number,
  heads: { numHeads: number; rotaryDim: number; interleaved: boolean },
): Tensor {
  checkType(ctx, x.dataType, 'float');
  if (cos.rank !== 2 || cos.dims.join() !== sin.dims.join())
    ctx.invalid(`cos/sin caches are shaped [${cos.dims}] and [${sin.dims}], not one (positions, dim / 2)`);
  if (cos.dataType !== x.dataType || sin.dataType !== x.dataType) ctx.invalid('caches of another type than the input');
  const [maxPositions, half] = cos.dims as [number, number];
  const { numHeads } = heads;
  let B: number, S: number, N: number, H: number;
  if (x.rank === 4) {
    [B, N, S, H] = x.dims as [number, number, number, number];
    if (numHeads && numHeads !== N) ctx.invalid(`num_heads ${numHeads} for an input of ${N} heads`);
  } else if (x.rank === 3) {
    [B, S] = x.dims as [number, number];
    N = numHeads || (half ? x.dims[2]! / (2 * half) : 0);
    if (!N || x.dims[2]! % N) ctx.invalid(`cannot split ${x.dims[2]} values into heads`);
    H = x.dims[2]! / N;
  } else ctx.invalid(`input is ${x.rank}-D, not 3-D or 4-D`);
  const rotaryDim = heads.rotaryDim || H;
  if (rotaryDim > H || rotaryDim % 2 || half !== rotaryDim / 2)
    ctx.invalid(`caches ${half} wide for rotary dim ${rotaryDim} and head size ${H}`);
  const src = numbersOf(x) as NumberArray;
  const c = numbersOf(cos) as NumberArray;
  const s_ = numbersOf(sin) as NumberArray;
  const out = Float64Array.from(src);
  const [seqStride, headStride] = x.rank === 4 ? [H, S * H] : [N * H, H];
  for (let b = 0; b < B; b++)
    for (let s = 0; s < S; s++) {
      const p = positionAt(b, s);
      if (!(p >= 0 && p < maxPositions)) ctx.invalid(`position ${p} outside the caches' ${maxPositions}`);
      for (let n = 0; n < N; n++) {
        const base = b * N * S * H + s * seqStride + n * headStride;
        for (let i = 0; i < half; i++) {
          const [ia, ib] = heads.interleaved ? [2 * i, 2 * i + 1] : [i, i + half];
          const [u, v] = [src[base + ia]!, src[base + ib]!];
          const [cc, ss] = [c[p * half + i]!, s_[p * half + i]!];
          out[base + ia] = u * cc - v * ss;
          out[base + ib] = v * cc + u * ss;
        }
      }
    }
  return fromNumbers(x.dataType, x.dims, out);
}

/** Positions as the kernels read them: (B, S) ids, or one start offset (the position of s is start + s). */
function positionReader(ctx: KernelContext, ids: Tensor, B: number, S: number): (b: number, s: number) => number {
  const values = intsOf(ctx, ids, 'position_ids');
  if (ids.size === 1 && ids.rank <= 1) return (_, s) => values[0]! + s;
  if (ids.rank !== 2 || ids.dims[0] !== B || ids.dims[1] !== S)
    ctx.invalid(`position_ids are shaped [${ids.dims}], not (${B}, ${S})`);
  return (b, s) => values[b * S + s]!;
}

function batchAndSequence(x: Tensor): [number, number] {
  return [x.dims[0] ?? 0, (x.rank === 4 ? x.dims[2] : x.dims[1]) ?? 0];
}

/** com.microsoft RotaryEmbedding(input, position_ids, cos_cache, sin_cache). */
function msRotaryEmbedding(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  if (ctx.int('is_packed_batching', 0)) ctx.unsupported('packed batching');
  // the CPU kernel uses scale only to extend the caches, which it does not implement
  if (ctx.float('scale', 1) !== 1) ctx.unsupported('a scale other than 1');
  const rotaryDim = ctx.int('rotary_embedding_dim', 0);
  const numHeads = ctx.int('num_heads', 0);
  if (rotaryDim > 0 && !numHeads) ctx.invalid('rotary_embedding_dim without num_heads');
  const [B, S] = batchAndSequence(x);
  const positions = positionReader(ctx, ctx.input(inputs, 1), B, S);
  return [
    rotate(ctx, x, ctx.input(inputs, 2), ctx.input(inputs, 3), positions, {
      numHeads,
      rotaryDim,
      interleaved: ctx.int('interleaved', 0) === 1,
    }),
  ];
}

/** ONNX RotaryEmbedding (opset 23)(X, cos_cache, sin_cache, position_ids?), with position_ids: the same math. */
function onnxRotaryEmbedding(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  const ids = inputs[3];
  // without position_ids the caches are already gathered per token (B, S, dim / 2): not a form fusions emit
  if (!ids) ctx.unsupported('caches without position_ids');
  const [B, S] = batchAndSequence(x);
  const numHeads = ctx.int('num_heads', 0);
  if (x.rank === 3 && !numHeads) ctx.invalid('a 3-D input without num_heads');
  const heads = {
    numHeads,
    rotaryDim: ctx.int('rotary_embedding_dim', 0),
    interleaved: ctx.int('interleaved', 0) === 1,
  };
  return [rotate(ctx, x, ctx.input(inputs, 1), ctx.input(inputs, 2), positionReader(ctx, ids, B, S), heads)];
}

/** Kernels by domain-qualified name (the ONNX domain's without a prefix), for the registry. */
export const contribOps: Record<string, OpDef> = {
  SimplifiedLayerNormalization: { kernel: simplifiedLayerNormalization, attributes: ['axis', 'epsilon', 'stash_type'] },
  'com.microsoft::SkipSimplifiedLayerNormalization': {
    kernel: skipSimplifiedLayerNormalization,
    attributes: ['epsilon'],
  },
  'com.microsoft::RotaryEmbedding': {
    kernel: msRotaryEmbedding,
    attributes: ['interleaved', 'is_packed_batching', 'num_heads', 'rotary_embedding_dim', 'scale'],
  },
};

/** ONNX's own RotaryEmbedding, a standard op from opset 23. */
export const rotaryOps: Record<string, OpDef> = {
  RotaryEmbedding: {
    kernel: onnxRotaryEmbedding,
    attributes: ['interleaved', 'num_heads', 'rotary_embedding_dim'],
    since: 23,
  },
};
