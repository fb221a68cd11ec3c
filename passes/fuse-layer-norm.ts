// fuse-layer-norm: LayerNormalization and SimplifiedLayerNormalization (RMSNorm) from the decomposed forms exporters
// write. Both go to the default domain, where onnxruntime has CPU kernels at every opset (LayerNormalization for
// versions 1-16 besides ONNX's own from 17; SimplifiedLayerNormalization only there), so the opset import stays.
//
//   LayerNorm: d = x - ReduceMean(x); d / Sqrt(ReduceMean(d^2) + eps) * gamma (+ beta)
//   RMSNorm:   x / Sqrt(ReduceMean(x^2) + eps) * gamma
// Division is Div, or Mul by Reciprocal or by 1 / (T5's RMSNorm); the square is Pow(v, 2) or Mul(v, v); Casts to a float type may sit before
// the square and after the Sqrt (exporters compute the variance in float32 for float16 models), and a Cast that
// keeps the element type may sit before the Mul by gamma. beta is added by a second rule, so LayerNormalization
// nodes already in the model (dynamo exports) can take a following bias Add too.
import type { Node, Value } from '../src/ir/graph.js';
import { elemTypeOf, shapeOf } from '../src/ir/types.js';
import {
  constantOf,
  float,
  rule,
  rulePass,
  scalarNear,
  type ConstantView,
  type Match,
  type PatternBuilder,
  type ValuePattern,
  type Verdict,
} from '../src/pattern/index.js';
import { DataType } from '../src/tensor/dtype.js';

/** Larger epsilons change the result noticeably: such a graph is some other normalization. */
const MAX_EPSILON = 1e-3;
const FLOAT_TYPES: readonly number[] = [DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE];

type Division = 'Div' | 'Reciprocal' | 'OneOver';

/** The one constant axis a ReduceMean reduces while keeping it (attribute before opset 18, input 1 after), or why not. */
function reducedAxis(node: Node): number | string {
  if (node.attrInt('keepdims', 1) !== 1) return 'ReduceMean drops the reduced axis (keepdims=0)';
  const axes = node.attrInts('axes') ?? (node.inputs[1] ? constantOf(node.inputs[1])?.values() : undefined);
  if (!axes) return 'ReduceMean has no constant axes';
  return axes.length === 1 ? axes[0]! : `ReduceMean reduces axes [${axes}]`;
}

const reducesOneAxis = (node: Node): Verdict => {
  const axis = reducedAxis(node);
  return typeof axis === 'number' || axis;
};

/** The captured ReduceMeans reduce the last axis of x: -1, or rank - 1 when x's rank is known. */
function meansOverLastAxis(m: Match): Verdict {
  const rank = shapeOf(m.value('x').type)?.length;
  for (const name of ['mean', 'variance'].filter((n) => m.has(n))) {
    const axis = reducedAxis(m.node(name)) as number;
    if (axis !== -1 && (rank === undefined || axis !== rank - 1))
      return `ReduceMean reduces axis ${axis}, not the last of x (rank ${rank ?? 'unknown'})`;
  }
  return true;
}

const castToFloat = { attrs: { to: (to: unknown) => FLOAT_TYPES.includes(Number(to)) || 'Cast to a non-float type' } };

/** `v * v` or `v ^ 2`. */
function isSquare(node: Node): Verdict {
  if (node.opType === 'Mul') return node.inputs[0] === node.inputs[1] || 'Mul is not a square';
  const exponent = constantOf(node.input(1));
  return (exponent?.isScalar() === true && exponent.value() === 2) || 'Pow exponent is not 2';
}

/** `numerator / Sqrt(ReduceMean(numerator^2) + eps)`, divided as `division` says. */
function normalized(p: PatternBuilder, numerator: ValuePattern, division: Division) {
  const square = p.op(['Pow', 'Mul'], [p.optional('Cast', numerator, castToFloat), p.any()], { where: isSquare });
  const variance = p.op('ReduceMean', [square], { moreInputs: true, where: reducesOneAxis }).as('variance');
  const root = p.optional(
    'Cast',
    p.op('Sqrt', [p.op('Add', [variance, p.const('epsilon')], { commutative: true })]),
    castToFloat,
  );
  if (division === 'Div') return p.op('Div', [numerator, root]);
  const reciprocal =
    division === 'Reciprocal' ? p.op('Reciprocal', [root]) : p.op('Div', [p.const(scalarNear(1, 0)), root]);
  return p.op('Mul', [numerator, reciprocal], { commutative: true });
}

/** `normalized * gamma`, with a Cast that must keep the element type in between. */
function scaled(p: PatternBuilder, normalizedValue: ValuePattern) {
  return p.op('Mul', [p.optional('Cast', normalizedValue).as('outputCast'), p.const('gamma')], { commutative: true });
}

/** The element type of a value: its declared type, else what the Cast producing it converts to. */
function elemType(v: Value): number | undefined {
  return elemTypeOf(v.type) ?? (v.producer?.opType === 'Cast' ? v.producer.attrInt('to') : undefined);
}

/** Means over the last axis, a 1-D scale along it (its length when the shape is known), a small epsilon. */
function normalizesLastAxis(m: Match): Verdict {
  const axes = meansOverLastAxis(m);
  if (axes !== true) return axes;
  const epsilon = m.constant('epsilon');
  if (!epsilon.isScalar()) return `epsilon is a ${epsilon.describe()}, expected a scalar`;
  if (!(epsilon.value() >= 0 && epsilon.value() <= MAX_EPSILON))
    return `epsilon ${epsilon.value()} is not a small non-negative number`;
  const gamma = m.constant('gamma');
  const lastDim = shapeOf(m.value('x').type)?.at(-1);
  if (gamma.rank !== 1) return `gamma has dims [${gamma.dims}], expected 1-D`;
  if (typeof lastDim === 'number' ? gamma.dims[0] !== lastDim : gamma.dims[0] === 1) {
    return `gamma of length ${gamma.dims[0]} does not cover the last axis (${lastDim ?? 'unknown'})`;
  }
  // Without a Cast before gamma, x, the normalized value and gamma share one type; with one, x must be gamma's type.
  const xType = elemType(m.value('x'));
  return !m.has('outputCast') || xType === gamma.dataType || 'a Cast before gamma changes the element type';
}

function layerNormRule(division: Division) {
  return rule({
    name: `LayerNormalization (${division})`,
    pattern: (p) => {
      const x = p.var('x');
      const centered = p.op('Sub', [
        x,
        p.op('ReduceMean', [x], { moreInputs: true, where: reducesOneAxis }).as('mean'),
      ]);
      return scaled(p, normalized(p, centered, division));
    },
    check: normalizesLastAxis,
    rewrite: (b, m) =>
      b.op('', 'LayerNormalization', [m.value('x'), m.value('gamma')], {
        axis: -1,
        epsilon: float(m.scalar('epsilon')),
      }),
  });
}

function rmsNormRule(division: Division) {
  return rule({
    name: `SimplifiedLayerNormalization (${division})`,
    pattern: (p) => scaled(p, normalized(p, p.var('x'), division)),
    check: normalizesLastAxis,
    rewrite: (b, m) =>
      b.op('', 'SimplifiedLayerNormalization', [m.value('x'), m.value('gamma')], {
        axis: -1,
        epsilon: float(m.scalar('epsilon')),
      }),
  });
}

const sameShapeAs =
  (other: ConstantView) =>
  (c: ConstantView): Verdict =>
    (c.dims.length === other.dims.length &&
      c.dims.every((d, i) => d === other.dims[i]) &&
      c.dataType === other.dataType) ||
    `beta ${c.describe()} does not match gamma ${other.describe()}`;

/** LayerNormalization(x, gamma) + beta -> LayerNormalization(x, gamma, beta), beta shaped like gamma. */
const layerNormBias = rule({
  name: 'LayerNormalization bias',
  pattern: (p) =>
    p.op('Add', [p.op('LayerNormalization', [p.var('x'), p.const('gamma')]).as('norm'), p.const('beta')], {
      commutative: true,
    }),
  check: (m) => sameShapeAs(m.constant('gamma'))(m.constant('beta')),
  rewrite: (b, m) =>
    b.op(
      '',
      'LayerNormalization',
      [m.value('x'), m.value('gamma'), m.value('beta')],
      Object.fromEntries(m.node('norm').attributes),
    ),
});

const DIVISIONS: readonly Division[] = ['Div', 'Reciprocal', 'OneOver'];

export const fuseLayerNormPass = rulePass({
  name: 'fuse-layer-norm',
  description: 'LayerNormalization and SimplifiedLayerNormalization (RMSNorm) from ReduceMean/Sub/Pow/Sqrt/Div chains',
  // Every rule but the bias one is rooted at the Mul by gamma. An RMSNorm of x - mean(x) is a LayerNorm, so the
  // LayerNorm rules come first there.
  rules: [...DIVISIONS.map(layerNormRule), ...DIVISIONS.map(rmsNormRule), layerNormBias],
});
