// Normalizations with statistics outputs (BatchNormalization, LayerNormalization and onnxruntime's
// SimplifiedLayerNormalization) and the recurrent ops (RNN, GRU, LSTM).

import { DataType } from '../../tensor/dtype.js';
import type { SymDim } from '../dims.js';
import { normAxis, sameAsInput, tensor, type Rule, type RuleContext, type RuleTable } from '../rule.js';

const batchNormalization: Rule = (ctx) => {
  const channels = ctx.shape(0)?.[1];
  const stats = tensor(ctx.elemType(3) ?? ctx.elemType(0), [channels]);
  // Training mode (and opsets before 9) add running/saved mean and variance, one value per channel.
  return [sameAsInput(ctx), ...ctx.node.outputs.slice(1).map(() => ({ ...stats, shape: [channels] }))];
};

/** Statistics kept per normalized row: the input's dims before `axis`, then ones. */
export function statsShape(input: SymDim[] | undefined, axisAttr: number): SymDim[] | undefined {
  if (!input) return undefined;
  const axis = normAxis(axisAttr, input.length);
  return axis === undefined ? undefined : input.map((d, i) => (i < axis ? d : 1));
}

/** LayerNormalization (Y, Mean, InvStdDev) and SimplifiedLayerNormalization (Y, InvStdVar). */
function layerNorm(ctx: RuleContext) {
  const stats = tensor(
    ctx.node.attrInt('stash_type', DataType.FLOAT),
    statsShape(ctx.shape(0), ctx.node.attrInt('axis', -1)),
  );
  return [
    sameAsInput(ctx),
    ...ctx.node.outputs.slice(1).map(() => ({ ...stats, shape: stats.shape && [...stats.shape] })),
  ];
}

/** RNN, GRU, LSTM: Y, Y_h and (LSTM) Y_c, laid out by `layout`. */
const recurrent: Rule = (ctx) => {
  const x = ctx.shape(0);
  const hidden = ctx.node.attrInt('hidden_size');
  const directions = ctx.node.attrString('direction', 'forward') === 'bidirectional' ? 2 : 1;
  const batchFirst = ctx.node.attrInt('layout', 0) === 1;
  const elem = ctx.elemType(0);
  if (!x || x.length !== 3) return [tensor(elem, undefined), tensor(elem, undefined), tensor(elem, undefined)];
  const [seq, batch] = batchFirst ? [x[1], x[0]] : [x[0], x[1]];
  const y = batchFirst ? [batch, seq, directions, hidden] : [seq, directions, batch, hidden];
  const state = batchFirst ? [batch, directions, hidden] : [directions, batch, hidden];
  return [tensor(elem, y), tensor(elem, state), tensor(elem, [...state])];
};

export const normRules: RuleTable = {
  BatchNormalization: batchNormalization,
  LayerNormalization: layerNorm,
  SimplifiedLayerNormalization: layerNorm,
  RNN: recurrent,
  GRU: recurrent,
  LSTM: recurrent,
};
