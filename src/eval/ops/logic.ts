// Comparisons, boolean logic and Where, with numpy broadcasting.
import type { Tensor } from '../../ir/tensor.js';
import { DataType, dataTypeName } from '../../tensor/dtype.js';
import type { Inputs, KernelContext, OpDef } from '../kernel.js';
import {
  broadcastDims,
  broadcastPositions,
  checkType,
  elementsOf,
  fromElements,
  newElements,
  sameType,
} from '../values.js';
import { broadcastBinary, checkLegacyBroadcast } from './elementwise.js';

type Compare = (a: number | bigint, b: number | bigint) => boolean;

const comparisons: Record<string, { compare: Compare; since: number }> = {
  Equal: { compare: (a, b) => a === b, since: 1 },
  Less: { compare: (a, b) => a < b, since: 1 },
  Greater: { compare: (a, b) => a > b, since: 1 },
  LessOrEqual: { compare: (a, b) => a <= b, since: 12 },
  GreaterOrEqual: { compare: (a, b) => a >= b, since: 12 },
};

function comparison(op: string, compare: Compare) {
  return (inputs: Inputs, ctx: KernelContext): Tensor[] => {
    const a = ctx.input(inputs, 0);
    const b = ctx.input(inputs, 1);
    const type = sameType(ctx, [a, b]);
    checkType(ctx, type, op === 'Equal' && type === DataType.BOOL ? 'bool' : 'numeric');
    checkLegacyBroadcast(ctx, [a, b]);
    const f = (x: number | bigint, y: number | bigint) => (compare(x, y) ? 1 : 0);
    return [broadcastBinary(ctx, a, b, DataType.BOOL, f, f)];
  };
}

const logical: Record<string, (a: boolean, b: boolean) => boolean> = {
  And: (a, b) => a && b,
  Or: (a, b) => a || b,
  Xor: (a, b) => a !== b,
};

function logic(f: (a: boolean, b: boolean) => boolean) {
  return (inputs: Inputs, ctx: KernelContext): Tensor[] => {
    const a = ctx.input(inputs, 0);
    const b = ctx.input(inputs, 1);
    for (const t of [a, b]) checkType(ctx, t.dataType, 'bool');
    checkLegacyBroadcast(ctx, [a, b]);
    return [broadcastBinary(ctx, a, b, DataType.BOOL, (x, y) => (f(x !== 0, y !== 0) ? 1 : 0), undefined)];
  };
}

function not(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const x = ctx.input(inputs, 0);
  checkType(ctx, x.dataType, 'bool');
  return [broadcastBinary(ctx, x, x, DataType.BOOL, (v) => (v ? 0 : 1), undefined)];
}

/** Where(cond, x, y): x where cond holds, else y; any element type, strings included. */
function where(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const cond = ctx.input(inputs, 0);
  const x = ctx.input(inputs, 1);
  const y = ctx.input(inputs, 2);
  if (cond.dataType !== DataType.BOOL) ctx.invalid(`condition is ${dataTypeName(cond.dataType)}, expected bool`);
  const type = sameType(ctx, [x, y]);
  checkType(ctx, type, 'any');
  const dims = broadcastDims(ctx, [cond.dims, x.dims, y.dims]);
  const [pc, px, py] = [cond, x, y].map((t) => broadcastPositions(ctx, t.dims, dims)) as [
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  const c = cond.typed() as Uint8Array;
  const vx = elementsOf(ctx, x) as unknown as { [i: number]: unknown };
  const vy = elementsOf(ctx, y) as unknown as { [i: number]: unknown };
  const out = newElements(ctx, type, pc.length);
  const slots = out as unknown as { [i: number]: unknown };
  for (let i = 0; i < pc.length; i++) slots[i] = c[pc[i]!] ? vx[px[i]!] : vy[py[i]!];
  return [fromElements(type, dims, out)];
}

export const logicOps: Record<string, OpDef> = {
  ...Object.fromEntries(
    Object.entries(comparisons).map(([op, { compare, since }]) => [
      op,
      { kernel: comparison(op, compare), attributes: ['broadcast', 'axis'], since },
    ]),
  ),
  ...Object.fromEntries(
    Object.entries(logical).map(([op, f]) => [op, { kernel: logic(f), attributes: ['broadcast', 'axis'] }]),
  ),
  Not: { kernel: not, attributes: [] },
  Where: { kernel: where, attributes: [], since: 9 },
};
