// fuse-skip-layer-norm: a residual Add feeding a normalization becomes one com.microsoft op.
//   LayerNormalization(a + b)               -> SkipLayerNormalization(a, b, gamma, beta)
//   LayerNormalization((MatMul + bias) + b) -> SkipLayerNormalization(MatMul, b, gamma, beta, bias)
//   SimplifiedLayerNormalization(a + b)     -> SkipSimplifiedLayerNormalization(a, b, gamma)
// No bias folds into the simplified op: onnxruntime's CPU kernel reads bias from input 4, which that op's schema
// does not have. When the sum is read elsewhere too (pre-LN models carry it on as the residual stream), output 3
// (input_skip_bias_sum) takes its place.
//
// Shapes: input (batch, sequence, hidden), skip the same or broadcast as (1, sequence, hidden) or (sequence, hidden)
// (the kernel repeats skip), or both the same 2-D (tokens, hidden). They come from value types (the pass needs shapes
// where a candidate lacks them, so inference runs first then). Where shapes stay unknown, a residual of two computed values is trusted,
// but never one with a constant operand, which is how learned position embeddings broadcast.
import type { Graph, Node, Value } from '../src/ir/graph.js';
import type { Model } from '../src/ir/model.js';
import { shapeOf } from '../src/ir/types.js';
import { constantOf, float, oneD, rule, rulePass, type Match, type Rule, type Verdict } from '../src/pattern/index.js';

/** The default epsilon of both source ops; the fused ops default to 1e-12, so it is always written. */
const NORM_DEFAULT_EPSILON = 1e-5;

const NORMS = [
  { op: 'LayerNormalization', fused: 'SkipLayerNormalization', foldsBias: true },
  { op: 'SimplifiedLayerNormalization', fused: 'SkipSimplifiedLayerNormalization', foldsBias: false },
] as const;
type Norm = (typeof NORMS)[number];

type Dims = readonly (number | string | undefined)[];

function dimsOf(v: Value): Dims | undefined {
  return shapeOf(v.type) ?? constantOf(v)?.dims;
}

const fmt = (dims: Dims) => `[${dims.map((d) => d ?? '?').join(',')}]`;

/** Equal dim by dim, each known (a number or the same symbol). */
function sameDims(a: Dims, b: Dims): boolean {
  return a.length === b.length && a.every((d, i) => d !== undefined && d === b[i]);
}

/** input is the full (batch, sequence, hidden) operand; skip equals it or repeats along the batch. */
function residualShapes(input: Value, skip: Value): Verdict {
  const x = dimsOf(input);
  const s = dimsOf(skip);
  if (!x || !s) {
    if (constantOf(input) || constantOf(skip)) return 'shapes unknown and one operand is a constant that may broadcast';
    const known = x ?? s;
    return (
      !known || known.length === 2 || known.length === 3 || `an operand of shape ${fmt(known)}: expected rank 2 or 3`
    );
  }
  if (sameDims(x, s)) return x.length === 2 || x.length === 3 || `operands of shape ${fmt(x)}: expected rank 2 or 3`;
  const repeated =
    x.length === 3 && (s.length === 2 || (s.length === 3 && s[0] === 1)) && sameDims(x.slice(1), s.slice(-2));
  return repeated || `skip ${fmt(s)} is neither input ${fmt(x)} nor (1, sequence, hidden)`;
}

/** The norm runs over the last axis only. */
function lastAxis(node: Node): Verdict {
  const axis = node.attrInt('axis', -1);
  const rank = dimsOf(node.input(0))?.length;
  return axis === -1 || (rank !== undefined && axis === rank - 1) || `normalizes from axis ${axis}, not only the last`;
}

function isOneD(v: Value | null, what: string): Verdict {
  const dims = v && dimsOf(v);
  return dims?.length === 1 || `${what} is not known to be 1-D`;
}

const isMatMulOutput = (v: Value): Verdict =>
  (v.producer?.opType === 'MatMul' && v.producer.domain === '') || 'not a MatMul output';

/** The first verdict that fails, or true. */
function firstFailure(verdicts: readonly (() => Verdict)[]): Verdict {
  for (const verdict of verdicts) {
    const v = verdict();
    if (v !== true) return v;
  }
  return true;
}

function check(norm: Norm, withBias: boolean) {
  return (m: Match): Verdict => {
    const beta = norm.op === 'LayerNormalization' ? m.node('norm').inputs[2] : null;
    return firstFailure([
      () => isOneD(m.value('gamma'), 'gamma'),
      () => !beta || isOneD(beta, 'beta'),
      () =>
        !withBias || m.constant('bias').dims[0] === dimsOf(m.value('gamma'))![0] || 'bias and gamma differ in length',
      () => residualShapes(m.value('input'), m.value('skip')),
    ]);
  };
}

/** Whether anything besides the norm reads the sum. */
function sumReadElsewhere(m: Match, graph: Graph): boolean {
  const sum = m.outputs[1]!;
  return graph.outputs.includes(sum) || sum.uses.some((u) => u.node !== m.node('norm'));
}

function skipRule(norm: Norm, withBias: boolean): Rule {
  return rule({
    name: `${norm.fused}${withBias ? ' with bias' : ''}`,
    pattern: (p) => {
      const input = withBias
        ? p.op('Add', [p.var('input', isMatMulOutput), p.const('bias', oneD())], { commutative: true })
        : p.var('input');
      const sum = p.op('Add', [input, p.var('skip')], { commutative: true });
      return [p.op(norm.op, [sum, p.var('gamma')], { moreInputs: true, where: lastAxis }).as('norm'), sum];
    },
    check: check(norm, withBias),
    rewrite: (b, m) => {
      const node = m.node('norm');
      const inputs: (Value | null)[] = [m.value('input'), m.value('skip'), m.value('gamma')];
      if (norm.op === 'LayerNormalization') inputs.push(node.inputs[2] ?? null, withBias ? m.value('bias') : null);
      while (inputs.at(-1) === null) inputs.pop();
      const attrs = { epsilon: node.attributes.get('epsilon') ?? float(NORM_DEFAULT_EPSILON) };
      if (!sumReadElsewhere(m, b.graph)) return [b.op('com.microsoft', norm.fused, inputs, attrs), m.outputs[1]!];
      const outputs = b.op('com.microsoft', norm.fused, inputs, attrs, { outputs: 4 });
      return [outputs[0]!, outputs[3]!];
    },
  });
}

/** A norm reading an Add with an operand of unknown shape: worth running shape inference for. */
function candidatesLackShapes(model: Model): boolean {
  const ops: readonly string[] = NORMS.map((n) => n.op);
  for (const graph of model.graph.allGraphs()) {
    for (const node of graph.nodes) {
      const sum = node.domain === '' && ops.includes(node.opType) ? node.inputs[0]?.producer : undefined;
      if (sum?.opType === 'Add' && sum.inputs.some((v) => !v || !dimsOf(v))) return true;
    }
  }
  return false;
}

export const fuseSkipLayerNormPass = rulePass({
  name: 'fuse-skip-layer-norm',
  description:
    'SkipLayerNormalization / SkipSimplifiedLayerNormalization (com.microsoft) from residual Add + norm, folding a MatMul bias',
  rules: NORMS.flatMap((norm) =>
    norm.foldsBias ? [skipRule(norm, true), skipRule(norm, false)] : [skipRule(norm, false)],
  ),
  needs: [{ shapesIf: candidatesLackShapes }],
});
