// An example fusion written as a rule, checked for numeric parity through onnxruntime-node.
import { describe, expect, it } from 'vitest';
import { applyRules, rule, scalarNear, near } from '../../src/pattern/index.js';
import { buildModel, type GraphMaker, maxDifference, opsOf, randomFeeds, runOrt } from '../kit/index.js';

/** Gelu, erf form: x * 0.5 * (1 + erf(x / sqrt 2)), the scale written as Div by sqrt 2 or Mul by 1/sqrt 2. */
const geluErf = rule({
  name: 'GeluErf',
  pattern: (p) => {
    const x = p.var('x');
    const erf = p.op('Erf', [p.op(['Div', 'Mul'], [x, p.const('scale', (c) => c.isScalar())]).as('scaling')]);
    const onePlusErf = p.op('Add', [erf, p.const(scalarNear(1))], { commutative: true });
    const halfX = p.op('Mul', [x, p.const(scalarNear(0.5))], { commutative: true });
    return p.op('Mul', [halfX, onePlusErf], { commutative: true });
  },
  check: (m) =>
    near(m.scalar('scale'), m.node('scaling').opType === 'Div' ? Math.SQRT2 : Math.SQRT1_2) ||
    'the erf argument is not x / sqrt(2)',
  rewrite: (b, m) => b.op('com.microsoft', 'Gelu', [m.value('x')]),
});

/** The erf Gelu as exporters write it, on input x [2,3], with the pieces in either operand order. */
function geluModel(opts: { scaleOp?: 'Div' | 'Mul'; scale?: number; swapped?: boolean; extraUse?: boolean } = {}) {
  const {
    scaleOp = 'Div',
    scale = scaleOp === 'Div' ? Math.SQRT2 : Math.SQRT1_2,
    swapped = false,
    extraUse = false,
  } = opts;
  return buildModel((g: GraphMaker) => {
    const x = g.input('x');
    const erf = g.op('Erf', [g.op(scaleOp, [x, g.init('scale', scale)], { name: 'scale' })], { name: 'erf' });
    const one = g.init('one', 1);
    const onePlus = g.op('Add', swapped ? [one, erf] : [erf, one], { name: 'add' });
    const half = g.init('half', 0.5);
    const halfX = g.op('Mul', swapped ? [half, x] : [x, half], { name: 'half_x' });
    g.output(g.op('Mul', swapped ? [onePlus, halfX] : [halfX, onePlus], { name: 'y' }));
    if (extraUse) g.output(g.op('Neg', [erf], { name: 'neg' }));
  });
}

describe('an example fusion: Gelu (erf form)', () => {
  it.each([
    ['Div by sqrt 2', {}],
    ['Mul by 1/sqrt 2, operands swapped', { scaleOp: 'Mul' as const, swapped: true }],
  ])('fuses %s into one com.microsoft Gelu with the same outputs in onnxruntime', async (_, opts) => {
    const model = geluModel(opts);
    const feeds = randomFeeds(model);
    const before = await runOrt(model, feeds);
    const result = applyRules(model, [geluErf]);
    expect(result.counts).toEqual({ GeluErf: 1 });
    expect(opsOf(model.graph)).toEqual(['com.microsoft::Gelu']);
    expect(model.graph.outputs.map((v) => v.name)).toEqual(['y']);
    expect(model.opsetVersion('com.microsoft')).toBe(1);
    expect(maxDifference(before, await runOrt(model, feeds))).toBeLessThan(1e-5);
  });

  it('does not fuse a wrong scale, and explains why', () => {
    const model = geluModel({ scale: 2 });
    const result = applyRules(model, [geluErf], { explain: true });
    expect(result.counts).toEqual({ GeluErf: 0 });
    // Every Mul is a candidate root; the inner one fails at its own operands (no near-miss worth reporting),
    // the outer one only at the check.
    expect(result.nearMisses).toEqual({ GeluErf: [{ node: 'y', reason: 'the erf argument is not x / sqrt(2)' }] });
  });

  it('does not fuse when an intermediate feeds something else', () => {
    const model = geluModel({ extraUse: true });
    const result = applyRules(model, [geluErf], { explain: true });
    expect(result.counts.GeluErf).toBe(0);
    expect(result.nearMisses.GeluErf?.find((m) => m.node === 'y')?.reason).toBe(
      "intermediate 'erf' is used outside the match by 'neg'",
    );
  });
});
