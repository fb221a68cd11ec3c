// Matrix products and quantization: MatMul (1-D operands, batch broadcasting), Gemm, MatMulInteger,
// QLinearMatMul, QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.

import { DataType } from '../../tensor/dtype.js';
import { broadcastShapes, type SymDim } from '../dims.js';
import { tensor, type Rule, type RuleContext, type RuleTable } from '../rule.js';

/** numpy.matmul's output shape; undefined when a rank is unknown or the operands cannot multiply. */
export function matmulShape(a: SymDim[] | undefined, b: SymDim[] | undefined): SymDim[] | undefined {
  if (!a || !b || a.length === 0 || b.length === 0) return undefined;
  const left = a.length === 1 ? [1, a[0]] : a;
  const right = b.length === 1 ? [b[0], 1] : b;
  const k1 = left[left.length - 1],
    k2 = right[right.length - 2];
  if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) return undefined;
  const batch = broadcastShapes([left.slice(0, -2), right.slice(0, -2)]);
  if (!batch) return undefined;
  const out = [...batch];
  if (a.length > 1) out.push(left[left.length - 2]);
  if (b.length > 1) out.push(right[right.length - 1]);
  return out;
}

/** A MatMul-shaped op on inputs `a` and `b` whose output type is `elemType` (or input a's). */
function matmulLike(a: number, b: number, elemType?: (ctx: RuleContext) => number | undefined): Rule {
  return (ctx) => [tensor(elemType ? elemType(ctx) : ctx.elemType(a), matmulShape(ctx.shape(a), ctx.shape(b)))];
}

const gemm: Rule = (ctx) => {
  const a = ctx.shape(0),
    b = ctx.shape(1);
  if (!a || !b || a.length !== 2 || b.length !== 2) return [tensor(ctx.elemType(0), [undefined, undefined])];
  const m = ctx.node.attrInt('transA', 0) ? a[1] : a[0];
  const n = ctx.node.attrInt('transB', 0) ? b[0] : b[1];
  return [tensor(ctx.elemType(0), [m, n])];
};

const quantizeLinear: Rule = (ctx) => {
  const declared = ctx.node.attrInt('output_dtype', 0);
  const elem = ctx.has(2) ? ctx.elemType(2) : declared || DataType.UINT8;
  return [tensor(elem, ctx.shape(0))];
};

const dequantizeLinear: Rule = (ctx) => {
  const declared = ctx.node.attrInt('output_dtype', 0);
  const elem = declared || (ctx.opset >= 19 ? ctx.elemType(1) : DataType.FLOAT);
  return [tensor(elem, ctx.shape(0))];
};

const dynamicQuantizeLinear: Rule = (ctx) => [
  tensor(DataType.UINT8, ctx.shape(0)),
  tensor(DataType.FLOAT, []),
  tensor(DataType.UINT8, []),
];

export const linalgRules: RuleTable = {
  MatMul: matmulLike(0, 1),
  MatMulInteger: matmulLike(0, 1, () => DataType.INT32),
  QLinearMatMul: matmulLike(0, 3, (ctx) => ctx.elemType(7)),
  Gemm: gemm,
  QuantizeLinear: quantizeLinear,
  DequantizeLinear: dequantizeLinear,
  DynamicQuantizeLinear: dynamicQuantizeLinear,
};
