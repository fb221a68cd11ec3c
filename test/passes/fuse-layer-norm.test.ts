import { describe, expect, it } from 'vitest';
import { cleanPass } from '../../passes/clean.js';
import { fuseLayerNormPass } from '../../passes/fuse-layer-norm.js';
import type { Value } from '../../src/ir/graph.js';
import { DataType } from '../../src/tensor/dtype.js';
import { buildModel, expectFusion, nearMisses, opCounts, opsOf, runPass, type GraphMaker } from '../kit/index.js';
import { fixtureDifferences, fixtureNames, fuseFixture, manifest, readFixture, reportTable } from './fusion-helpers.js';

const SHAPE = [2, 3, 8];
const GAMMA = [0.5, 1.5, -1, 2, 0.25, 1, -0.5, 3];
const BETA = [0.1, -0.2, 0.3, 0, 1, -1, 0.5, 2];

interface NormForm {
  /** RMSNorm: no mean is subtracted. */
  rms?: boolean;
  division?: 'Div' | 'Reciprocal';
  square?: 'Pow' | 'Mul';
  beta?: boolean;
  /** ReduceMean axes as an input (opset 18) instead of an attribute (opset 14). */
  axesInput?: boolean;
  axes?: number[];
  keepdims?: number;
  /** Casts to float before the square and after the Sqrt, as exporters write for float16. */
  varianceCasts?: boolean;
  epsilon?: number;
  gamma?: number[];
  /** Something outside the norm also reads the centered value. */
  centeredReadElsewhere?: boolean;
}

/** x [2,3,8] normalized over the last axis the long way, output y. */
function normModel(form: NormForm = {}) {
  const { division = 'Div', square = 'Pow', beta = !form.rms, axes = [-1], epsilon = 1e-5, gamma = GAMMA } = form;
  return buildModel(
    (g: GraphMaker) => {
      const x = g.input('x', SHAPE);
      const attrs = { axes, ...(form.keepdims === undefined ? {} : { keepdims: form.keepdims }) };
      const reduceMean = (v: Value, name: string) =>
        form.axesInput
          ? g.op('ReduceMean', [v, g.ints(`${name}_axes`, axes)], {
              name,
              attrs: form.keepdims === undefined ? {} : { keepdims: form.keepdims },
            })
          : g.op('ReduceMean', [v], { name, attrs });
      const toFloat = (v: Value, name: string) =>
        form.varianceCasts ? g.op('Cast', [v], { name, attrs: { to: DataType.FLOAT } }) : v;
      const centered = form.rms ? x : g.op('Sub', [x, reduceMean(x, 'mean')], { name: 'centered' });
      const squareIn = toFloat(centered, 'cast_in');
      const squared =
        square === 'Mul'
          ? g.op('Mul', [squareIn, squareIn], { name: 'square' })
          : g.op('Pow', [squareIn, g.init('two', 2)], { name: 'square' });
      const root = toFloat(
        g.op(
          'Sqrt',
          [g.op('Add', [reduceMean(squared, 'variance'), g.init('epsilon', epsilon)], { name: 'plus_eps' })],
          { name: 'root' },
        ),
        'cast_out',
      );
      const normalized =
        division === 'Div'
          ? g.op('Div', [centered, root], { name: 'normalized' })
          : g.op('Mul', [g.op('Reciprocal', [root], { name: 'inverse' }), centered], { name: 'normalized' });
      const scaled = g.op('Mul', [g.init('gamma', gamma), normalized], { name: beta ? 'scaled' : 'y' });
      g.output(beta ? g.op('Add', [scaled, g.init('beta', BETA)], { name: 'y' }) : scaled, SHAPE);
      if (form.centeredReadElsewhere) g.output(g.op('Neg', [centered], { name: 'elsewhere' }), SHAPE);
    },
    form.axesInput ? 18 : 14,
  );
}

describe('fuse-layer-norm: LayerNormalization', () => {
  it.each<[string, NormForm]>([
    ['Pow, Div, beta, axes attribute (opset 14)', {}],
    ['Mul square, Reciprocal, no beta', { square: 'Mul', division: 'Reciprocal', beta: false }],
    ['axes as an input (opset 18)', { axesInput: true }],
    ['axes [2], the last axis by number', { axes: [2] }],
    ['Casts to float around the variance', { varianceCasts: true }],
    ['epsilon 1e-12', { epsilon: 1e-12 }],
  ])('%s: one LayerNormalization, epsilon copied, same outputs in onnxruntime', async (_, form) => {
    const unfused = normModel(form);
    const { model } = await expectFusion(fuseLayerNormPass, unfused, { ops: ['LayerNormalization'] });
    expect(model.opsetImports).toEqual(unfused.opsetImports);
    const node = model.graph.nodes[0]!;
    expect(node.inputs.map((v) => v?.name)).toEqual(form.beta === false ? ['x', 'gamma'] : ['x', 'gamma', 'beta']);
    expect(node.attributes.get('epsilon')).toEqual({
      name: 'epsilon',
      type: 'float',
      value: Math.fround(form.epsilon ?? 1e-5),
    });
    expect(node.attrInt('axis')).toBe(-1);
    expect(model.graph.outputs.map((v) => v.name)).toEqual(['y']);
  });

  it('leaves a model that already has LayerNormalization as it is', () => {
    const model = buildModel((g) => {
      const ln = g.op('LayerNormalization', [g.input('x', SHAPE), g.init('gamma', GAMMA), g.init('beta', BETA)], {
        name: 'y',
        attrs: { epsilon: 1e-12 },
      });
      g.output(ln, SHAPE);
    }, 18);
    expect(runPass(fuseLayerNormPass, model)).toEqual({ changed: false, stats: {} });
  });

  it('folds a bias Add into a LayerNormalization without B, keeping its attributes', async () => {
    const unfused = buildModel((g) => {
      const ln = g.op('LayerNormalization', [g.input('x', SHAPE), g.init('gamma', GAMMA)], {
        name: 'ln',
        attrs: { epsilon: 1e-12, axis: -1 },
      });
      g.output(g.op('Add', [g.init('beta', BETA), ln], { name: 'y' }), SHAPE);
    }, 18);
    const { model } = await expectFusion(fuseLayerNormPass, unfused, {
      ops: ['LayerNormalization'],
      stats: { 'LayerNormalization bias': 1 },
    });
    expect(model.graph.nodes[0]!.inputs.map((v) => v?.name)).toEqual(['x', 'gamma', 'beta']);
    expect([...model.graph.nodes[0]!.attributes.values()]).toEqual([
      { name: 'epsilon', type: 'float', value: Math.fround(1e-12) },
      { name: 'axis', type: 'int', value: -1 },
    ]);
  });

  it('does not fold a bias shaped unlike gamma', async () => {
    const unfused = buildModel((g) => {
      const ln = g.op('LayerNormalization', [g.input('x', SHAPE), g.init('gamma', GAMMA)], { name: 'ln' });
      g.output(g.op('Add', [ln, g.init('beta', BETA, [1, 1, 8])], { name: 'y' }), SHAPE);
    }, 18);
    const reason = "LayerNormalization bias at 'y': beta tensor [1,1,8] does not match gamma tensor [8]";
    const { result } = await expectFusion(fuseLayerNormPass, unfused, {
      ops: opsOf(unfused.graph),
      explains: [reason],
    });
    expect(result.changed).toBe(false);
    expect(nearMisses(result, 'LayerNormalization bias')).toEqual([reason]);
  });
});

describe('fuse-layer-norm: SimplifiedLayerNormalization (RMSNorm)', () => {
  it.each<[string, NormForm]>([
    ['Pow, Div', { rms: true }],
    ['Mul square, Reciprocal', { rms: true, square: 'Mul', division: 'Reciprocal' }],
    ['Casts to float, axes as an input', { rms: true, varianceCasts: true, axesInput: true }],
  ])('%s: one SimplifiedLayerNormalization in the default domain, same outputs', async (_, form) => {
    const unfused = normModel(form);
    const { model } = await expectFusion(fuseLayerNormPass, unfused, { ops: ['SimplifiedLayerNormalization'] });
    expect(model.opsetImports).toEqual(unfused.opsetImports);
    expect(model.graph.nodes[0]!.inputs.map((v) => v?.name)).toEqual(['x', 'gamma']);
    expect(model.graph.nodes[0]!.attrFloat('epsilon')).toBe(Math.fround(1e-5));
  });
});

describe('fuse-layer-norm: near-misses', () => {
  it.each<[string, NormForm, string]>([
    ['a mean over another axis', { axes: [1] }, 'ReduceMean reduces axis 1, not the last of x (rank 3)'],
    ['a mean over two axes', { axes: [1, 2] }, 'ReduceMean reduces axes [1,2]'],
    ['keepdims=0', { keepdims: 0 }, 'ReduceMean drops the reduced axis (keepdims=0)'],
    ['a large epsilon', { epsilon: 0.5 }, 'epsilon 0.5 is not a small non-negative number'],
    ['a gamma that broadcasts', { gamma: [2] }, 'gamma of length 1 does not cover the last axis (8)'],
  ])('%s is left alone, and explained', async (_, form, reason) => {
    const unfused = normModel(form);
    // one explanation for the site, from whichever norm rule came furthest (the RMSNorm rule shares the variance)
    const { result } = await expectFusion(fuseLayerNormPass, unfused, {
      ops: opsOf(unfused.graph),
      explains: [reason],
      runs: form.keepdims !== 0, // Sub of the dropped axis: no valid model
    });
    expect(result.changed).toBe(false);
    expect(result.notes![0]).toMatch(/^(Simplified)?LayerNormalization \(Div\) at 'scaled': /);
  });

  it('keeps x - mean(x) when it is read elsewhere, and normalizes it as an RMSNorm instead', async () => {
    await expectFusion(fuseLayerNormPass, normModel({ centeredReadElsewhere: true }), {
      ops: ['ReduceMean', 'Sub', 'SimplifiedLayerNormalization', 'Add', 'Neg'],
      stats: { 'SimplifiedLayerNormalization (Div)': 1 },
    });
  });
});

describe('fuse-layer-norm on the fixtures', () => {
  const layers = manifest?.settings.layers ?? 0;
  const rows = reportTable('fuse-layer-norm on the fixtures', [
    'fixture',
    'LN before',
    'LN or RMSNorm after',
    'max |diff|',
  ]);

  it('finds the fixtures', () => {
    expect(fixtureNames.length).toBeGreaterThan(0);
  });

  it.each(fixtureNames)(
    '%s: every LayerNorm or RMSNorm fused (2·layers + 1), same outputs',
    async (name) => {
      const before = opCounts(readFixture(name)).LayerNormalization ?? 0;
      const model = fuseFixture(name, [cleanPass, fuseLayerNormPass]);
      const counts = opCounts(model);
      const norms = (counts.LayerNormalization ?? 0) + (counts.SimplifiedLayerNormalization ?? 0);
      expect(norms).toBe(2 * layers + 1);
      expect(counts.ReduceMean ?? 0).toBe(0);
      expect(runPass(fuseLayerNormPass, model).changed).toBe(false);
      const { disabled } = await fixtureDifferences(name, model, ['disabled']);
      expect(disabled).toBeLessThan(1e-4);
      rows.push([name, before, norms, disabled.toExponential(1)]);
    },
    30_000,
  );
});
