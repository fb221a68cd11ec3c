// Reduce* over a set of axes. Axes come from the attribute, or from the second input from opset 13 (ReduceSum)
// or 18 (the others); empty axes reduce everything unless noop_with_empty_axes. Floats accumulate in double and
// round once; integers accumulate exactly (bigint for 64-bit) and wrap like the output type.
import { elementCount, type Tensor } from '../../ir/tensor.js';
import type { Inputs, KernelContext, OpDef } from '../kernel.js';
import {
  axisOf,
  checkType,
  fromNumbers,
  intsOf,
  isBig,
  isFloat,
  newNumbers,
  numbersOf,
  stridedPositions,
  stridesOf,
  type BigArray,
  type TypeClass,
} from '../values.js';

interface Reducer {
  types: TypeClass;
  /** Result over an empty set, where the op defines one. */
  empty?: number;
  init: number;
  step: (acc: number, x: number) => number;
  /** Integer step on numbers when it differs (products need exact low 32 bits). */
  intStep?: (acc: number, x: number) => number;
  bigInit?: bigint;
  bigStep?: (acc: bigint, x: bigint) => bigint;
  finish?: (acc: number, n: number, isInteger: boolean) => number;
  bigFinish?: (acc: bigint, n: number) => bigint;
  /** Subtracts the maximum first for a stable log-sum-exp. */
  shiftByMax?: boolean;
}

const reducers: Record<string, Reducer> = {
  ReduceSum: { types: 'numeric', empty: 0, init: 0, step: (a, x) => a + x, bigInit: 0n, bigStep: (a, x) => a + x },
  ReduceMean: {
    types: 'numeric',
    init: 0,
    step: (a, x) => a + x,
    bigInit: 0n,
    bigStep: (a, x) => a + x,
    finish: (a, n, isInteger) => (isInteger ? Math.trunc(a / n) : a / n),
    bigFinish: (a, n) => a / BigInt(n),
  },
  ReduceMax: {
    types: 'numeric',
    init: -Infinity,
    step: (a, x) => (x > a || Number.isNaN(x) ? x : a),
    bigStep: (a, x) => (x > a ? x : a),
  },
  ReduceMin: {
    types: 'numeric',
    init: Infinity,
    step: (a, x) => (x < a || Number.isNaN(x) ? x : a),
    bigStep: (a, x) => (x < a ? x : a),
  },
  // Products keep only their low 64 bits at each step, which is all the output keeps.
  ReduceProd: {
    types: 'numeric',
    empty: 1,
    init: 1,
    step: (a, x) => a * x,
    intStep: Math.imul,
    bigInit: 1n,
    bigStep: (a, x) => BigInt.asIntN(64, a * x),
  },
  ReduceSumSquare: {
    types: 'numeric',
    empty: 0,
    init: 0,
    step: (a, x) => a + x * x,
    intStep: (a, x) => a + Math.imul(x, x),
    bigInit: 0n,
    bigStep: (a, x) => BigInt.asIntN(64, a + x * x),
  },
  ReduceL1: {
    types: 'numeric',
    empty: 0,
    init: 0,
    step: (a, x) => a + Math.abs(x),
    bigInit: 0n,
    bigStep: (a, x) => a + (x < 0n ? -x : x),
  },
  ReduceL2: { types: 'float', empty: 0, init: 0, step: (a, x) => a + x * x, finish: (a) => Math.sqrt(a) },
  ReduceLogSum: { types: 'float', init: 0, step: (a, x) => a + x, finish: (a) => Math.log(a) },
  ReduceLogSumExp: {
    types: 'float',
    init: 0,
    step: (a, x) => a + Math.exp(x),
    finish: (a) => Math.log(a),
    shiftByMax: true,
  },
};

/** The axes to reduce, or undefined for "leave the input as it is". */
function reducedAxes(ctx: KernelContext, inputs: Inputs, rank: number, axesAsInput: boolean): number[] | undefined {
  let axes: number[] | undefined;
  if (axesAsInput) {
    if (ctx.has('axes')) ctx.invalid(`axes is an input from opset ${ctx.opType === 'ReduceSum' ? 13 : 18}`);
    axes = inputs[1] && intsOf(ctx, inputs[1], 'axes');
  } else {
    ctx.maxInputs(inputs, 1);
    axes = ctx.ints('axes');
  }
  if (!axes || axes.length === 0) {
    return axesAsInput && ctx.int('noop_with_empty_axes', 0) ? undefined : [...Array(rank).keys()];
  }
  const out = axes.map((a) => axisOf(ctx, a, rank));
  if (new Set(out).size !== out.length) ctx.invalid(`repeated axes [${axes.join(',')}]`);
  return out;
}

function reduce(op: string, r: Reducer) {
  return (inputs: Inputs, ctx: KernelContext): Tensor[] => {
    const x = ctx.input(inputs, 0);
    checkType(ctx, x.dataType, r.types);
    const axesAsInput = ctx.opset >= (op === 'ReduceSum' ? 13 : 18);
    if (!axesAsInput && ctx.has('noop_with_empty_axes')) ctx.invalid('noop_with_empty_axes needs axes as an input');
    const axes = reducedAxes(ctx, inputs, x.rank, axesAsInput);
    if (!axes) return [x.withName('')];
    const keep = ctx.int('keepdims', 1) === 1;
    const keptDims = x.dims.map((d, k) => (axes.includes(k) ? 1 : d));
    const dims = keep ? keptDims : x.dims.filter((_, k) => !axes.includes(k));
    const n = elementCount(axes.map((a) => x.dims[a]!));
    const outCount = elementCount(keptDims);
    if (n === 0 && r.empty === undefined) ctx.unsupported('reduction over an empty set');
    // For every input element, the output element it folds into.
    const own = stridesOf(keptDims);
    const target = stridedPositions(
      ctx,
      x.dims,
      own.map((s, k) => (axes.includes(k) ? 0 : s)),
    );
    const src = numbersOf(x);
    const out = newNumbers(ctx, x.dataType, outCount);
    if (isBig(src)) {
      if (!r.bigStep) return ctx.unsupported(`64-bit integer ${op}`);
      // Without an initial value (Max, Min) the first element starts the accumulation.
      const acc = new Array<bigint | undefined>(outCount).fill(r.bigInit);
      for (let i = 0; i < src.length; i++) {
        const t = target[i]!;
        const a = acc[t];
        acc[t] = a === undefined ? src[i]! : r.bigStep(a, src[i]!);
      }
      const big = out as BigArray;
      for (let t = 0; t < outCount; t++) {
        big[t] = n === 0 ? BigInt(r.empty!) : r.bigFinish ? r.bigFinish(acc[t]!, n) : acc[t]!;
      }
      return [fromNumbers(x.dataType, dims, big)];
    }
    const isInteger = !isFloat(x.dataType);
    const step = isInteger ? (r.intStep ?? r.step) : r.step;
    const acc = out as Float64Array;
    const shift = new Float64Array(outCount);
    if (r.shiftByMax) {
      shift.fill(-Infinity);
      for (let i = 0; i < src.length; i++) shift[target[i]!] = Math.max(shift[target[i]!]!, src[i] as number);
      for (let t = 0; t < outCount; t++) if (!Number.isFinite(shift[t]!)) shift[t] = 0;
    }
    acc.fill(r.init);
    for (let i = 0; i < src.length; i++) {
      const t = target[i]!;
      acc[t] = step(acc[t]!, (src[i] as number) - shift[t]!);
    }
    if (n === 0) acc.fill(r.empty!);
    else if (r.finish) for (let t = 0; t < outCount; t++) acc[t] = r.finish(acc[t]!, n, isInteger) + shift[t]!;
    return [fromNumbers(x.dataType, dims, acc)];
  };
}

export const reduceOps: Record<string, OpDef> = Object.fromEntries(
  Object.entries(reducers).map(([op, r]) => [
    op,
    { kernel: reduce(op, r), attributes: ['axes', 'keepdims', 'noop_with_empty_axes'] },
  ]),
);
