// Elementwise ops: unary maps, numpy-broadcasting binary and variadic ops, comparisons, Where, casts. Integer
// arithmetic on small shape values (Shape(x)[0] * Shape(x)[1]) is carried out symbolically.

import { DataType } from '../../tensor/dtype.js';
import { addDims, broadcastShapes, dimsEqual, divDimsExact, mulDims, negDim, subDims, type SymDim } from '../dims.js';
import {
  INTEGER_TYPES,
  sameAsInput,
  tensor,
  type Rule,
  type RuleContext,
  type RuleTable,
  type TensorFacts,
} from '../rule.js';

const same: Rule = (ctx) => [sameAsInput(ctx)];

/** Same shape as the input, boolean elements. */
const boolOfSameShape: Rule = (ctx) => [tensor(DataType.BOOL, ctx.shape(0))];

const UNARY = [
  'Acos',
  'Acosh',
  'Asin',
  'Asinh',
  'Atan',
  'Atanh',
  'BitwiseNot',
  'Ceil',
  'Celu',
  'Cos',
  'Cosh',
  'CumSum',
  'Elu',
  'Erf',
  'Exp',
  'Floor',
  'Gelu',
  'HardSigmoid',
  'HardSwish',
  'Hardmax',
  'InstanceNormalization',
  'LeakyRelu',
  'Log',
  'LogSoftmax',
  'LpNormalization',
  'LRN',
  'MeanVarianceNormalization',
  'Mish',
  'Reciprocal',
  'Relu',
  'ReverseSequence',
  'Round',
  'Selu',
  'Shrink',
  'Sigmoid',
  'Sign',
  'Sin',
  'Sinh',
  'Softmax',
  'Softplus',
  'Softsign',
  'Sqrt',
  'Tan',
  'Tanh',
  'ThresholdedRelu',
  'Trilu',
  'Clip',
  'Not',
  'GroupNormalization',
  'Scatter',
  'ScatterElements',
  'ScatterND',
  'Swish',
];

/** A unary op that also maps tracked shape values (Neg of an axis list turns up in expanded LayerNorm). */
function unaryWithValues(op: (a: SymDim) => SymDim): Rule {
  return (ctx) => {
    const out = sameAsInput(ctx);
    const v = ctx.values(0);
    const elem = ctx.elemType(0);
    if (v && elem !== undefined && INTEGER_TYPES.has(elem) && (out.shape?.length ?? 2) <= 1) out.value = v.map(op);
    return [out];
  };
}

/** Applies integer arithmetic to tracked shape values, broadcasting a single element. */
function combineValues(ctx: RuleContext, op: (a: SymDim, b: SymDim) => SymDim): SymDim[] | undefined {
  const elem = ctx.elemType(0);
  if (elem === undefined || !INTEGER_TYPES.has(elem)) return undefined;
  const a = ctx.values(0),
    b = ctx.values(1);
  const ra = ctx.shape(0)?.length,
    rb = ctx.shape(1)?.length;
  if (!a || !b || ra === undefined || rb === undefined || ra > 1 || rb > 1) return undefined;
  if (a.length !== b.length && a.length !== 1 && b.length !== 1) return undefined;
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => op(a[a.length === 1 ? 0 : i], b[b.length === 1 ? 0 : i]));
}

function numericOp(f: (a: number, b: number) => number | undefined): (a: SymDim, b: SymDim) => SymDim {
  return (a, b) => (typeof a === 'number' && typeof b === 'number' ? f(a, b) : undefined);
}

/** Equal on shape values: a symbol is a size, so it never equals a negative number (Reshape's -1 markers). */
function equalSizes(a: SymDim, b: SymDim): SymDim {
  if (typeof a === 'number' && typeof b === 'number') return Number(a === b);
  if (a !== undefined && b !== undefined && dimsEqual(a, b)) return 1;
  if ((typeof a === 'number' && a < 0 && b !== undefined) || (typeof b === 'number' && b < 0 && a !== undefined))
    return 0;
  return undefined;
}

/** A broadcasting binary op whose output has input 0's element type (or `elemType`), with optional value math. */
function binary(valueOp?: (a: SymDim, b: SymDim) => SymDim, elemType?: number): Rule {
  return (ctx) => {
    const shape = broadcastShapes([ctx.shape(0), ctx.shape(1)]);
    const value = valueOp && shape && shape.length <= 1 ? combineValues(ctx, valueOp) : undefined;
    return [tensor(elemType ?? ctx.elemType(0) ?? ctx.elemType(1), shape, value)];
  };
}

/** Sum, Mean, Min, Max: any number of broadcasting inputs. */
const variadic: Rule = (ctx) => {
  const present = Array.from({ length: ctx.inputCount }, (_, i) => i).filter((i) => ctx.has(i));
  const shape = broadcastShapes(present.map((i) => ctx.shape(i)));
  return [
    tensor(
      present.map((i) => ctx.elemType(i)).find((t) => t !== undefined),
      shape,
    ),
  ];
};

/** Min and Max of two shape values too (Max(Shape(x)[0], 1) turns up in exported masks). */
function extremum(pick: (a: number, b: number) => number): Rule {
  return (ctx) => {
    const [out] = variadic(ctx) as [TensorFacts];
    if (ctx.inputCount === 2 && out.shape && out.shape.length <= 1) {
      const value = combineValues(ctx, numericOp(pick));
      if (value) out.value = value;
    }
    return [out];
  };
}

const where: Rule = (ctx) => {
  const shape = broadcastShapes([ctx.shape(0), ctx.shape(1), ctx.shape(2)]);
  const out = tensor(ctx.elemType(1) ?? ctx.elemType(2), shape);
  const cond = ctx.values(0),
    x = ctx.values(1),
    y = ctx.values(2);
  if (shape && shape.length <= 1 && cond && x && y && out.elemType !== undefined && INTEGER_TYPES.has(out.elemType)) {
    const n = Math.max(cond.length, x.length, y.length);
    const at = (v: SymDim[], i: number) => v[v.length === 1 ? 0 : i];
    if ([cond, x, y].every((v) => v.length === 1 || v.length === n)) {
      out.value = Array.from({ length: n }, (_, i) => {
        const c = at(cond, i);
        return c === undefined || typeof c !== 'number' ? undefined : c ? at(x, i) : at(y, i);
      });
    }
  }
  return [out];
};

const cast: Rule = (ctx) => {
  const to = ctx.node.attrInt('to');
  const out = tensor(to, ctx.shape(0));
  const v = ctx.values(0);
  if (v && to !== undefined && INTEGER_TYPES.has(to) && (ctx.shape(0)?.length ?? 2) <= 1) {
    out.value = v.map((d) => (typeof d === 'number' ? Math.trunc(d) : d));
  }
  return [out];
};

const castLike: Rule = (ctx) => [tensor(ctx.elemType(1), ctx.shape(0))];

const identity: Rule = (ctx) => {
  const other = ctx.otherType(0);
  if (other) return [{ copyType: other }];
  return [tensor(ctx.elemType(0), ctx.shape(0), ctx.values(0))];
};

/** Dropout: the output, and a boolean mask of the same shape. */
const dropout: Rule = (ctx) => [sameAsInput(ctx), tensor(DataType.BOOL, ctx.shape(0))];

/** Ops whose output type comes from a `dtype` attribute (else from input 0), shape from input 0. */
const likeWithDtype: Rule = (ctx) => [tensor(ctx.node.attrInt('dtype') ?? ctx.elemType(0), ctx.shape(0))];

const COMPARISONS = ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual'];
const LOGICAL = ['And', 'Or', 'Xor'];

function build(): RuleTable {
  const table: RuleTable = {};
  for (const op of UNARY) table[op] = same;
  for (const op of ['IsNaN', 'IsInf']) table[op] = boolOfSameShape;
  for (const op of [...COMPARISONS, ...LOGICAL]) table[op] = binary(undefined, DataType.BOOL);
  table.Equal = binary(equalSizes, DataType.BOOL);
  Object.assign(table, {
    Add: binary(addDims),
    Sub: binary(subDims),
    Mul: binary(mulDims),
    // Shape arithmetic divides sizes that divide exactly; integer Div of non-negative sizes is floor division.
    Div: binary((a, b) =>
      typeof a === 'number' && typeof b === 'number' ? (b === 0 ? undefined : Math.trunc(a / b)) : divDimsExact(a, b),
    ),
    Mod: binary(numericOp((a, b) => (b === 0 ? undefined : a - Math.floor(a / b) * b))),
    Pow: binary(),
    PRelu: binary(),
    BitShift: binary(),
    BitwiseAnd: binary(),
    BitwiseOr: binary(),
    BitwiseXor: binary(),
    Neg: unaryWithValues(negDim),
    Abs: unaryWithValues((a) => (typeof a === 'number' ? Math.abs(a) : undefined)),
    Sum: variadic,
    Mean: variadic,
    Min: extremum(Math.min),
    Max: extremum(Math.max),
    Where: where,
    Cast: cast,
    CastLike: castLike,
    Identity: identity,
    Dropout: dropout,
    Bernoulli: likeWithDtype,
    RandomNormalLike: likeWithDtype,
    RandomUniformLike: likeWithDtype,
    EyeLike: likeWithDtype,
  });
  return table;
}

export const elementwiseRules: RuleTable = build();
