// fuse-gelu: the GELU family into onnxruntime's com.microsoft ops.
//   Gelu:      0.5·x·(1 + erf(x/√2))                      x/√2 as Div by √2 or Mul by 1/√2
//   FastGelu:  0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))  gelu_new, gelu_pytorch_tanh, gelu_fast, onnxruntime's own
//   QuickGelu: x·sigmoid(α·x)                              alpha copied from the constant
// The three factors 0.5, x and (1 + f) may be multiplied in any grouping and order: one product pattern matches
// them all (10 rules in all, where a rule per grouping took 35).
// A bias Add after a MatMul then folds in: Gelu(A + b) -> BiasGelu(A, b), FastGelu(A + b) -> FastGelu(A, b), the
// ONNX Gelu of opset 20 exports too (approximate 'none' as Gelu, 'tanh' as FastGelu). At opset 20 and later a Gelu
// left without a bias is written as ONNX's own Gelu, which every runtime reads.
import type { Node, Value } from '../src/ir/graph.js';
import { definePass } from '../src/pass/index.js';
import { shapeOf } from '../src/ir/types.js';
import {
  constantOf,
  float,
  oneD,
  rule,
  rulePass,
  scalar,
  type ConstPredicate,
  type NodePattern,
  type Match,
  type PatternBuilder,
  type Rule,
  type RuleSpec,
  type ValuePattern,
  type Verdict,
} from '../src/pattern/index.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const KAPPA = 0.044715;
/** Exporters round the constants to float32 or to a few digits; 1e-4 relative keeps FastGelu within 1e-4 of them. */
const TOLERANCE = 1e-4;

function relativelyNear(actual: number, target: number): boolean {
  return Math.abs(actual - target) <= TOLERANCE * Math.abs(target);
}

/** A scalar constant near `target`. */
function about(target: number): ConstPredicate {
  return (c) =>
    (c.isScalar() && relativelyNear(c.value(), target)) || `constant is ${c.describe()}, expected ${target}`;
}

/** A named scalar constant near `target`, for checks. */
function constantNear(m: Match, name: string, target: number, what: string): Verdict {
  const c = m.constant(name);
  return relativelyNear(c.value(), target) || `${what} is ${c.describe()}, expected ${target.toPrecision(7)}`;
}

const mul = (p: PatternBuilder, u: ValuePattern, v: ValuePattern) => p.op('Mul', [u, v], { commutative: true });

/** 0.5 · x · (1 + f(x)), multiplied in any grouping and order; `f` builds the function of x. */
function halfXOnePlus(
  name: string,
  f: (p: PatternBuilder, x: ValuePattern) => ValuePattern,
  spec: Pick<RuleSpec, 'check' | 'rewrite'>,
): Rule {
  return rule({
    name,
    pattern: (p) => {
      const x = p.var('x');
      return p.product([p.const(about(0.5)), x, p.op('Add', [f(p, x), p.const(about(1))], { commutative: true })]);
    },
    ...spec,
  });
}

const geluErf = halfXOnePlus(
  'Gelu',
  (p, x) => {
    const dividesX = (n: Node): Verdict =>
      n.opType === 'Mul' ||
      (!constantOf(n.input(0)) && !!constantOf(n.input(1))) ||
      'Div does not divide x by a constant';
    return p.op('Erf', [
      p.op(['Div', 'Mul'], [x, p.const('scale', scalar)], { commutative: true, where: dividesX }).as('scaling'),
    ]);
  },
  {
    check: (m) =>
      m.node('scaling').opType === 'Div'
        ? constantNear(m, 'scale', Math.SQRT2, 'the divisor')
        : constantNear(m, 'scale', Math.SQRT1_2, 'the factor'),
    rewrite: (b, m) => b.op('com.microsoft', 'Gelu', [m.value('x')]),
  },
);

/** A piece of the tanh argument in terms of x. */
type Term = (p: PatternBuilder, x: ValuePattern) => NodePattern;
const c = (p: PatternBuilder) => p.const('c', scalar);
const k = (p: PatternBuilder) => p.const('k', scalar);

/**
 * The tanh argument √(2/π)·(x + 0.044715·x³) as exporters write it: `c` binds √(2/π) and `k` binds 0.044715, or
 * their product c·k where the form multiplies them out. Products match in any grouping.
 */
const TANH_ARGUMENTS: { name: string; build: Term; kTimesC?: boolean }[] = [
  // gelu_new and both exporters' gelu(approximate='tanh'): x³ as Pow or as x·x·x
  {
    name: 'c·(x+k·x³), x³ as Pow',
    build: (p, x) =>
      mul(p, c(p), p.op('Add', [x, mul(p, k(p), p.op('Pow', [x, p.const(about(3))]))], { commutative: true })),
  },
  {
    name: 'c·(x+k·x·x·x)',
    build: (p, x) => mul(p, c(p), p.op('Add', [x, p.product([k(p), x, x, x])], { commutative: true })),
  },
  // gelu_fast and the like: c·x·(1 + k·x²)
  {
    name: 'c·x·(1+k·x·x)',
    build: (p, x) =>
      p.product([c(p), x, p.op('Add', [p.const(about(1)), p.product([k(p), x, x])], { commutative: true })]),
  },
  // onnxruntime's own FastGelu body: x·(c + c·k·x²)
  {
    name: 'x·(c+ck·x·x)',
    build: (p, x) => mul(p, x, p.op('Add', [c(p), p.product([k(p), x, x])], { commutative: true })),
    kTimesC: true,
  },
];

const fastGelu = TANH_ARGUMENTS.map((argument) =>
  halfXOnePlus(`FastGelu, tanh(${argument.name})`, (p, x) => p.op('Tanh', [argument.build(p, x)]), {
    check: (m) => {
      const c = constantNear(m, 'c', SQRT_2_OVER_PI, 'the tanh scale');
      return c !== true
        ? c
        : constantNear(m, 'k', argument.kTimesC ? KAPPA * SQRT_2_OVER_PI : KAPPA, 'the cubic coefficient');
    },
    rewrite: (b, m) => b.op('com.microsoft', 'FastGelu', [m.value('x')]),
  }),
);

const quickGelu = rule({
  name: 'QuickGelu',
  pattern: (p) => {
    const x = p.var('x');
    return mul(p, x, p.op('Sigmoid', [mul(p, x, p.const('alpha', scalar))]));
  },
  rewrite: (b, m) => b.op('com.microsoft', 'QuickGelu', [m.value('x')], { alpha: float(m.scalar('alpha')) }),
});

const matMulOutput = (v: Value): Verdict =>
  (v.producer?.opType === 'MatMul' && v.producer.domain === '') || 'not a MatMul output';

/** The length of the last axis of a MatMul's output: from its type, else from a constant matrix B. */
function lastDim(v: Value): number | undefined {
  const declared = shapeOf(v.type)?.at(-1);
  if (typeof declared === 'number') return declared;
  const b = v.producer?.inputs[1];
  const dims = b ? constantOf(b)?.dims : undefined;
  return dims && dims.length >= 2 ? dims.at(-1) : undefined;
}

/** ONNX Gelu (opset 20) with the given approximation. */
const approximates =
  (kind: 'none' | 'tanh') =>
  (n: Node): Verdict =>
    n.attrString('approximate', 'none') === kind ||
    `ONNX Gelu approximates '${n.attrString('approximate', 'none')}', not '${kind}'`;

/** Gelu(MatMul + bias) -> `fused`(MatMul, bias): the bias must be 1-D along the last axis. */
function foldBias(op: 'Gelu' | 'FastGelu' | 'ONNX Gelu' | 'ONNX Gelu tanh', fused: 'BiasGelu' | 'FastGelu'): Rule {
  const spec = op.startsWith('ONNX') ? { domain: '', type: 'Gelu' } : { domain: 'com.microsoft', type: op };
  const where = op === 'ONNX Gelu' ? approximates('none') : op === 'ONNX Gelu tanh' ? approximates('tanh') : undefined;
  return rule({
    name: `${op} bias into ${fused}`,
    pattern: (p) =>
      p.op(
        spec,
        [p.op('Add', [p.var('x', matMulOutput), p.const('bias', oneD())], { commutative: true })],
        where ? { where } : {},
      ),
    check: (m) => {
      const length = m.constant('bias').dims[0];
      return lastDim(m.value('x')) === length || `bias of length ${length} does not match the last axis of the MatMul`;
    },
    rewrite: (b, m) => b.op('com.microsoft', fused, [m.value('x'), m.value('bias')]),
  });
}

const rules = rulePass({
  name: 'fuse-gelu',
  description:
    'Gelu, FastGelu and QuickGelu (com.microsoft) from erf/tanh/sigmoid forms, then BiasGelu and FastGelu bias',
  rules: [
    geluErf,
    ...fastGelu,
    quickGelu,
    foldBias('Gelu', 'BiasGelu'),
    foldBias('FastGelu', 'FastGelu'),
    foldBias('ONNX Gelu', 'BiasGelu'),
    foldBias('ONNX Gelu tanh', 'FastGelu'),
  ],
});

/** From opset 20, com.microsoft Gelu nodes (those left without a bias to take) become ONNX's own Gelu. */
const onnxGelu = rulePass({
  name: 'fuse-gelu',
  description: 'com.microsoft Gelu -> ONNX Gelu',
  rules: [
    rule({
      name: 'Gelu as ONNX Gelu (opset 20)',
      pattern: (p) => p.op({ domain: 'com.microsoft', type: 'Gelu' }, [p.var('x')]).as('gelu'),
      rewrite: (b, m) => b.op('', 'Gelu', [m.value('x')], {}, { name: m.node('gelu').name }),
    }),
  ],
});

export const fuseGeluPass = definePass({
  name: rules.name,
  description: `${rules.description}; ONNX Gelu from opset 20`,
  run(model, context) {
    const given = { options: context.given, log: context.log };
    const fused = rules.run(model, given);
    if ((model.opsetVersion('') ?? 0) < 20) return fused;
    const onnx = onnxGelu.run(model, given);
    const notes = [...(fused.notes ?? []), ...(onnx.notes ?? [])];
    return {
      changed: fused.changed || onnx.changed,
      stats: { ...fused.stats, ...onnx.stats },
      ...(notes.length ? { notes } : {}),
    };
  },
});
