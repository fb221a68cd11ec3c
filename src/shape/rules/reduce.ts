// Reductions: Reduce* (axes as an attribute before opset 13/18, as an input after), ArgMax, ArgMin, Det, and the
// losses NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.

import { DataType } from '../../tensor/dtype.js';
import type { SymDim } from '../dims.js';
import { axesArgument, normAxes, normAxis, tensor, unknownDims, type Rule, type RuleTable } from '../rule.js';

function reduceDims(input: SymDim[], axes: number[], keepDims: boolean): SymDim[] {
  return keepDims ? input.map((d, i) => (axes.includes(i) ? 1 : d)) : input.filter((_, i) => !axes.includes(i));
}

/** A Reduce* op whose axes became an input at opset `axesInputSince`. */
function reduce(axesInputSince: number): Rule {
  return (ctx) => {
    const input = ctx.shape(0);
    const elem = ctx.elemType(0);
    const keepDims = ctx.node.attrInt('keepdims', 1) === 1;
    if (!input) return [tensor(elem, undefined)];
    const axes = axesArgument(ctx, axesInputSince, 1);
    if (axes === 'unknown') {
      const count = ctx.shape(1)?.[0];
      const rank = keepDims ? input.length : typeof count === 'number' && count > 0 ? input.length - count : undefined;
      return [tensor(elem, rank === undefined ? undefined : unknownDims(rank))];
    }
    if (!axes || axes.length === 0) {
      const noop = ctx.opset >= axesInputSince && ctx.node.attrInt('noop_with_empty_axes', 0) === 1;
      return [
        tensor(
          elem,
          noop
            ? input
            : reduceDims(
                input,
                input.map((_, i) => i),
                keepDims,
              ),
        ),
      ];
    }
    const normalized = normAxes(axes, input.length);
    return [tensor(elem, normalized ? reduceDims(input, normalized, keepDims) : undefined)];
  };
}

const argReduce: Rule = (ctx) => {
  const input = ctx.shape(0);
  if (!input) return [tensor(DataType.INT64, undefined)];
  const axis = normAxis(ctx.node.attrInt('axis', 0), input.length);
  const keepDims = ctx.node.attrInt('keepdims', 1) === 1;
  return [tensor(DataType.INT64, axis === undefined ? undefined : reduceDims(input, [axis], keepDims))];
};

/** Det: one determinant per matrix in the batch. */
const det: Rule = (ctx) => [tensor(ctx.elemType(0), ctx.shape(0)?.slice(0, -2))];

/** A loss per target element with reduction 'none', else a scalar; SoftmaxCrossEntropyLoss adds log_prob. */
const loss: Rule = (ctx) => {
  const perElement = ctx.node.attrString('reduction', 'mean') === 'none';
  return [tensor(ctx.elemType(0), perElement ? ctx.shape(1) : []), tensor(ctx.elemType(0), ctx.shape(0))];
};

const REDUCE_OPS = [
  'ReduceL1',
  'ReduceL2',
  'ReduceLogSum',
  'ReduceLogSumExp',
  'ReduceMax',
  'ReduceMean',
  'ReduceMin',
  'ReduceProd',
  'ReduceSumSquare',
];

export const reduceRules: RuleTable = {
  ...Object.fromEntries(REDUCE_OPS.map((op) => [op, reduce(18)])),
  ReduceSum: reduce(13),
  ArgMax: argReduce,
  ArgMin: argReduce,
  Det: det,
  NegativeLogLikelihoodLoss: loss,
  SoftmaxCrossEntropyLoss: loss,
};
