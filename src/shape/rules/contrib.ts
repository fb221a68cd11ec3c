// onnxruntime's com.microsoft ops that onnx-opt's passes emit (and a few that its optimizer emits), following the
// shapes in onnxruntime's operator docs: B batch, S sequence, P past sequence, N heads, H head size, D hidden.

import { DataType } from '../../tensor/dtype.js';
import { addDims, divDimsExact, mulDims, type SymDim } from '../dims.js';
import { sameAsInput, tensor, type Rule, type RuleContext, type RuleTable } from '../rule.js';
import { convRules } from './conv.js';
import { linalgRules, matmulShape } from './linalg.js';
import { statsShape } from './norm.js';

/**
 * Attention and QAttention: output (B, S, Dv) with Dv from qkv_hidden_sizes or a third of the bias (or weight)
 * width; present (2, B, N, P+S, H) when asked for.
 */
function packedAttention(pastIndex: number, fallbackElem: (ctx: RuleContext) => number | undefined): Rule {
  return (ctx) => {
    const input = ctx.shape(0);
    const elem = ctx.elemType(2) ?? fallbackElem(ctx);
    const qkv = ctx.node.attrInts('qkv_hidden_sizes');
    const width = ctx.shape(2)?.[0] ?? ctx.shape(1)?.[1];
    const hidden = qkv?.length === 3 ? qkv[2] : divDimsExact(width, 3);
    if (!input || input.length !== 3) return [tensor(elem, undefined), tensor(elem, undefined)];
    const [batch, sequence] = input;
    const output = tensor(elem, [batch, sequence, hidden]);
    const heads = ctx.node.attrInt('num_heads');
    const past = ctx.has(pastIndex) ? ctx.shape(pastIndex) : undefined;
    if (past && ctx.node.attrInt('past_present_share_buffer', 0) === 1) return [output, tensor(elem, [...past])];
    const headSize = heads ? divDimsExact(hidden, heads) : undefined;
    const total = ctx.has(pastIndex) ? addDims(past?.[3], sequence) : sequence;
    return [output, tensor(elem, [2, batch, heads, total, headSize])];
  };
}

/**
 * MultiHeadAttention: query (B, S, D) or packed QKV (B, S, N, 3, H); key/value (B, L, D) or (B, N, L, H).
 * Output (B, S, Dv); present_key/value (B, N, P+L, H).
 */
const multiHeadAttention: Rule = (ctx) => {
  const query = ctx.shape(0),
    key = ctx.has(1) ? ctx.shape(1) : undefined,
    value = ctx.has(2) ? ctx.shape(2) : undefined;
  const elem = ctx.elemType(0);
  const heads = ctx.node.attrInt('num_heads');
  if (!query) return [tensor(elem, undefined)];
  let outHidden: SymDim;
  let kvLength: SymDim;
  let headSize: SymDim;
  if (query.length === 5) {
    outHidden = mulDims(query[2], query[4]);
    kvLength = query[1];
    headSize = query[4];
  } else if (query.length === 3) {
    headSize = heads ? divDimsExact(query[2], heads) : undefined;
    if (value?.length === 3) outHidden = value[2];
    else if (value?.length === 4) outHidden = mulDims(value[1], value[3]);
    else if (key?.length === 5) outHidden = query[2];
    kvLength =
      key?.length === 3 || key?.length === 5 ? key[1] : key?.length === 4 ? key[2] : ctx.has(1) ? undefined : query[1];
  } else return [tensor(elem, undefined)];
  const output = tensor(elem, [query[0], query[1], outHidden]);
  if (ctx.node.outputs.length < 2) return [output];
  // Keys already in (B, N, L, H) are used as they are; otherwise the past is extended by the new keys.
  const alreadyHeads = key?.length === 4;
  const pastLength = ctx.has(6) ? ctx.shape(6)?.[2] : 0;
  const total = alreadyHeads ? key[2] : addDims(pastLength, kvLength);
  const present = [query[0], heads, total, headSize];
  return [output, tensor(elem, present), tensor(elem, [...present])];
};

/** Skip(Simplified)LayerNormalization: output, mean, inv_std_var, input+skip+bias sum. */
const skipLayerNorm: Rule = (ctx) => {
  const stats = () => tensor(DataType.FLOAT, statsShape(ctx.shape(0), -1));
  return [sameAsInput(ctx), stats(), stats(), sameAsInput(ctx)];
};

/** EmbedLayerNormalization: (B, S, D) from input_ids and the word embedding; mask_index (B) int32; the sum. */
const embedLayerNorm: Rule = (ctx) => {
  const ids = ctx.shape(0);
  const hidden = ctx.shape(2)?.[1];
  const elem = ctx.elemType(2);
  const shape = ids && ids.length === 2 ? [ids[0], ids[1], hidden] : undefined;
  return [
    tensor(elem, shape),
    tensor(DataType.INT32, ids && ids.length === 2 ? [ids[0]] : undefined),
    tensor(elem, shape && [...shape]),
  ];
};

/** FusedMatMul: MatMul with the last two dims of A and/or B swapped. */
const fusedMatMul: Rule = (ctx) => {
  const swapLast = (s: SymDim[] | undefined, flag: string) =>
    s && s.length >= 2 && ctx.node.attrInt(flag, 0) === 1 ? [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]] : s;
  if (ctx.node.attrInt('transBatchA', 0) || ctx.node.attrInt('transBatchB', 0))
    return [tensor(ctx.elemType(0), undefined)];
  return [tensor(ctx.elemType(0), matmulShape(swapLast(ctx.shape(0), 'transA'), swapLast(ctx.shape(1), 'transB')))];
};

/** A MatMul of inputs 0 and 1 producing the element type of input `elemFrom`. */
function matmulTo(elemFrom: (ctx: RuleContext) => number | undefined): Rule {
  return (ctx) => [tensor(elemFrom(ctx), matmulShape(ctx.shape(0), ctx.shape(1)))];
}

const same: Rule = (ctx) => [sameAsInput(ctx)];

export const contribRules: RuleTable = {
  Attention: packedAttention(4, (ctx) => ctx.elemType(0)),
  // QAttention's input is quantized; its output has the float type of the bias and the scales.
  QAttention: packedAttention(8, (ctx) => ctx.elemType(3) ?? DataType.FLOAT),
  MultiHeadAttention: multiHeadAttention,
  SkipLayerNormalization: skipLayerNorm,
  SkipSimplifiedLayerNormalization: skipLayerNorm,
  EmbedLayerNormalization: embedLayerNorm,
  Gelu: same,
  FastGelu: same,
  QuickGelu: same,
  BiasGelu: same,
  BiasAdd: same,
  RotaryEmbedding: same,
  FusedMatMul: fusedMatMul,
  DynamicQuantizeMatMul: matmulTo((ctx) => ctx.elemType(0)),
  MatMulIntegerToFloat: matmulTo((ctx) => ctx.elemType(2) ?? DataType.FLOAT),
  FusedConv: convRules.Conv!,
  FusedGemm: linalgRules.Gemm!,
};
