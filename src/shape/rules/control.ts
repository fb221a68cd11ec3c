// Control flow: If (both branches), Loop and Scan (opset 9+). Bodies are inferred first; loop-carried values may
// change shape between iterations, so a body sees only their element type and rank.

import { DataType } from '../../tensor/dtype.js';
import type { Graph } from '../../ir/graph.js';
import { dimsEqual, type SymDim } from '../dims.js';
import {
  normAxis,
  tensor,
  unknownDims,
  type Rule,
  type RuleContext,
  type RuleTable,
  type TensorFacts,
} from '../rule.js';

function graphAttr(ctx: RuleContext, name: string): Graph | undefined {
  const a = ctx.node.attributes.get(name);
  return a?.type === 'graph' ? a.value : undefined;
}

/** What holds for both of two values: the shared element type, and the dims on which they agree. */
function common(a: TensorFacts | undefined, b: TensorFacts | undefined): TensorFacts {
  const elem = a?.elemType !== undefined && a.elemType === b?.elemType ? a.elemType : undefined;
  const sa = a?.shape,
    sb = b?.shape;
  const shape =
    sa && sb && sa.length === sb.length ? sa.map((d, i) => (dimsEqual(d, sb[i]) ? d : undefined)) : undefined;
  return tensor(elem, shape);
}

/** Element type and rank only. */
function rankOnly(f: TensorFacts | undefined): TensorFacts {
  return tensor(f?.elemType, f?.shape ? unknownDims(f.shape.length) : undefined);
}

const ifOp: Rule = (ctx) => {
  const thenBranch = graphAttr(ctx, 'then_branch'),
    elseBranch = graphAttr(ctx, 'else_branch');
  if (!thenBranch || !elseBranch) return undefined;
  const a = ctx.inferBody(thenBranch, []),
    b = ctx.inferBody(elseBranch, []);
  return ctx.node.outputs.map((_, i) => common(a[i], b[i]));
};

/** Outputs of loop-carried state: the body's result where it agrees with the initial value. */
function finalStates(initial: (TensorFacts | undefined)[], body: (TensorFacts | undefined)[]): TensorFacts[] {
  return initial.map((init, i) => {
    const out = body[i];
    const merged = common(init, out);
    return tensor(out?.elemType ?? init?.elemType, merged.shape);
  });
}

const loop: Rule = (ctx) => {
  const body = graphAttr(ctx, 'body');
  if (!body) return undefined;
  const carried = ctx.node.inputs.slice(2).map((_, i) => ctx.facts(i + 2));
  const outs = ctx.inferBody(body, [tensor(DataType.INT64, []), tensor(DataType.BOOL, []), ...carried.map(rankOnly)]);
  const states = finalStates(carried, outs.slice(1, 1 + carried.length));
  // Scan outputs stack one slice per iteration; the count is known only for a fixed trip count and no condition.
  const maxTrips = ctx.has(0) ? ctx.numbers(0)?.[0] : undefined;
  const trips: SymDim = !ctx.has(1) ? maxTrips : undefined;
  const stacked = outs
    .slice(1 + carried.length)
    .map((f) => tensor(f?.elemType, f?.shape ? [trips, ...f.shape] : undefined));
  return [...states, ...stacked];
};

const scan: Rule = (ctx) => {
  const body = graphAttr(ctx, 'body');
  const scanCount = ctx.node.attrInt('num_scan_inputs');
  if (!body || scanCount === undefined || ctx.opset < 9) return undefined;
  const stateCount = ctx.inputCount - scanCount;
  const states = Array.from({ length: stateCount }, (_, i) => ctx.facts(i));
  const inputAxes = ctx.node.attrInts('scan_input_axes') ?? Array.from({ length: scanCount }, () => 0);
  let length: SymDim;
  const slices = Array.from({ length: scanCount }, (_, k) => {
    const f = ctx.facts(stateCount + k);
    const shape = f?.shape;
    const axis = shape ? normAxis(inputAxes[k] ?? 0, shape.length) : undefined;
    if (!shape || axis === undefined) return tensor(f?.elemType, undefined);
    if (k === 0) length = shape[axis];
    return tensor(
      f?.elemType,
      shape.filter((_, i) => i !== axis),
    );
  });
  const outs = ctx.inferBody(body, [...states.map(rankOnly), ...slices]);
  const outputAxes = ctx.node.attrInts('scan_output_axes') ?? [];
  const stacked = outs.slice(stateCount).map((f, k) => {
    if (!f?.shape) return tensor(f?.elemType, undefined);
    const axis = normAxis(outputAxes[k] ?? 0, f.shape.length + 1);
    if (axis === undefined) return tensor(f.elemType, undefined);
    return tensor(f.elemType, [...f.shape.slice(0, axis), length, ...f.shape.slice(axis)]);
  });
  return [...finalStates(states, outs.slice(0, stateCount)), ...stacked];
};

export const controlRules: RuleTable = { If: ifOp, Loop: loop, Scan: scan };
