import { describe, expect, it } from 'vitest';
import { cleanPass } from '../../passes/clean.js';
import { fuseGeluPass } from '../../passes/fuse-gelu.js';
import { fuseLayerNormPass } from '../../passes/fuse-layer-norm.js';
import { fuseSkipLayerNormPass } from '../../passes/fuse-skip-layer-norm.js';
import { Value } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { tensorType } from '../../src/ir/types.js';
import { encodeModel } from '../../src/serde/encode.js';
import { buildModel, expectFusion, F, opCounts, opsOf, randomFeeds, randomFloats, runPass } from '../kit/index.js';
import { fixtureDifferences, fixtureNames, fuseFixture, manifest, reportTable } from './fusion-helpers.js';

const SHAPE = [2, 3, 8];
const GAMMA = [0.5, 1.5, -1, 2, 0.25, 1, -0.5, 3];
const BETA = [0.1, -0.2, 0.3, 0, 1, -1, 0.5, 2];

interface ResidualForm {
  norm?: 'LayerNormalization' | 'SimplifiedLayerNormalization';
  /** Shape of both operands unless skipShape says otherwise. */
  shape?: number[];
  skipShape?: number[];
  /** The skip is an initializer of these dims (a learned position embedding). */
  skipConstant?: number[];
  /** Graph inputs declared without a shape, so nothing can tell how the operands broadcast. */
  untyped?: boolean;
  swap?: boolean;
  /** The input operand is MatMul(a, W) + bias of this length (true: the hidden size). */
  bias?: boolean | number;
  beta?: boolean;
  axis?: number;
  /** The sum also feeds the next layer, or is a graph output itself. */
  reuse?: 'node' | 'output';
}

/** y = norm(input + skip) with a: the input operand, s: the skip; shapes [2,3,8] unless the form says otherwise. */
function residualModel(form: ResidualForm = {}): Model {
  const { norm = 'LayerNormalization', shape = SHAPE, beta = true } = form;
  return buildModel((g) => {
    const operand = (name: string, dims: number[]) =>
      form.untyped ? g.graph.addInput(new Value(name, tensorType(F))) : g.input(name, dims);
    const a = operand('a', shape);
    const skip = form.skipConstant
      ? g.init(
          's',
          Array.from(
            randomFloats(
              form.skipConstant.reduce((x, y) => x * y, 1),
              5,
            ),
          ),
          form.skipConstant,
        )
      : operand('s', form.skipShape ?? shape);
    let input = a;
    if (form.bias) {
      const bias = Array.from(randomFloats(form.bias === true ? 8 : form.bias, 9));
      const product = g.op('MatMul', [a, g.init('w', Array.from(randomFloats(64, 3)), [8, 8])], { name: 'matmul' });
      input = g.op('Add', [g.init('bias', bias), product], { name: 'biased' });
    }
    const sum = g.op('Add', form.swap ? [skip, input] : [input, skip], { name: 'sum' });
    const scale = [g.init('gamma', GAMMA), ...(beta && norm === 'LayerNormalization' ? [g.init('beta', BETA)] : [])];
    const attrs = { epsilon: 1e-12, ...(form.axis === undefined ? {} : { axis: form.axis }) };
    g.output(g.op(norm, [sum, ...scale], { name: 'y', attrs }), shape);
    if (form.reuse === 'node') g.output(g.op('Mul', [sum, g.init('two', 2)], { name: 'next' }), shape);
    if (form.reuse === 'output') g.output(sum, shape);
  });
}

/** Fuses, with parity at both optimization levels, idempotence and determinism; returns the fused node. */
async function fused(form: ResidualForm, ops: string[]) {
  const unfused = residualModel(form);
  // an untyped input takes the form's shapes
  const shape = form.shape ?? SHAPE;
  const feeds = randomFeeds(unfused, 1, form.untyped ? { a: shape, s: form.skipShape ?? shape } : {});
  const { model } = await expectFusion(fuseSkipLayerNormPass, unfused, { ops, feeds, levels: ['disabled', 'all'] });
  const node = model.graph.nodes.find((n) => n.domain === 'com.microsoft')!;
  return { model, node, inputs: node.inputs.map((v) => v?.name ?? '') };
}

const SKIP_LN = 'com.microsoft::SkipLayerNormalization';
const SKIP_SIMPLIFIED = 'com.microsoft::SkipSimplifiedLayerNormalization';

describe('fuse-skip-layer-norm: SkipLayerNormalization', () => {
  it('residual Add + LayerNormalization: one SkipLayerNormalization, epsilon copied', async () => {
    const { model, node, inputs } = await fused({}, [SKIP_LN]);
    expect(inputs).toEqual(['a', 's', 'gamma', 'beta']);
    expect(node.attributes.get('epsilon')).toEqual({ name: 'epsilon', type: 'float', value: Math.fround(1e-12) });
    expect(node.outputs.map((v) => v?.name)).toEqual(['y']);
    expect(model.opsetVersion('com.microsoft')).toBe(1);
  });

  it.each<[string, ResidualForm, string[], string[]]>([
    ['a MatMul bias folds into input 4', { bias: true }, ['MatMul', SKIP_LN], ['matmul', 's', 'gamma', 'beta', 'bias']],
    ['without beta', { beta: false }, [SKIP_LN], ['a', 's', 'gamma']],
    [
      'without beta, with a bias',
      { beta: false, bias: true },
      ['MatMul', SKIP_LN],
      ['matmul', 's', 'gamma', '', 'bias'],
    ],
    ['skip (1,S,D) written first', { skipShape: [1, 3, 8], swap: true }, [SKIP_LN], ['a', 's', 'gamma', 'beta']],
    ['skip (S,D)', { skipShape: [3, 8] }, [SKIP_LN], ['a', 's', 'gamma', 'beta']],
    [
      'a constant (1,S,D) skip, as a ViT position embedding',
      { skipConstant: [1, 3, 8] },
      [SKIP_LN],
      ['a', 's', 'gamma', 'beta'],
    ],
    ['2-D operands', { shape: [6, 8] }, [SKIP_LN], ['a', 's', 'gamma', 'beta']],
    ['operands of unknown shape, both computed', { untyped: true }, [SKIP_LN], ['a', 's', 'gamma', 'beta']],
  ])('%s', async (_, form, ops, inputs) => {
    expect((await fused(form, ops)).inputs).toEqual(inputs);
  });

  it('gives a sum the next layer reads to output 3 (input_skip_bias_sum)', async () => {
    const { model, node } = await fused({ reuse: 'node', bias: true }, ['MatMul', SKIP_LN, 'Mul']);
    expect(node.outputs.length).toBe(4);
    expect(node.output(3).uses.map((u) => u.node.name)).toEqual(['next']);
    expect(model.graph.outputs.map((v) => v.name)).toEqual(['y', 'next']);
  });

  it('keeps a sum that is a graph output under its name, as output 3', async () => {
    const { model, node } = await fused({ reuse: 'output' }, [SKIP_LN]);
    expect(model.graph.outputs.map((v) => v.name)).toEqual(['y', 'sum']);
    expect(model.graph.outputs[1]).toBe(node.output(3));
  });

  it('does not fold a bias that broadcasts, but still fuses the Add it feeds', async () => {
    const { model } = await expectFusion(fuseSkipLayerNormPass, residualModel({ bias: 1 }), {
      ops: ['MatMul', 'Add', SKIP_LN],
      stats: { SkipLayerNormalization: 1 },
    });
    expect(model.graph.nodes[2]!.inputs.map((v) => v?.name)).toEqual(['biased', 's', 'gamma', 'beta']);
  });

  it.each<[string, ResidualForm, string, Record<string, number[]>?]>([
    [
      'a skip that broadcasts along the sequence',
      { skipShape: [2, 1, 8] },
      'skip [2,1,8] is neither input [2,3,8] nor (1, sequence, hidden)',
    ],
    [
      'a constant operand when shapes are unknown',
      { untyped: true, skipConstant: [1, 3, 8] },
      'shapes unknown and one operand is a constant that may broadcast',
      { a: SHAPE },
    ],
    [
      'a norm over more than the last axis',
      { axis: 1 },
      "LayerNormalization at node 'y': normalizes from axis 1, not only the last",
    ],
    ['rank-4 operands', { shape: [2, 3, 4, 8] }, 'operands of shape [2,3,4,8]: expected rank 2 or 3'],
  ])('leaves %s alone, and explains why', async (_, form, reason, dims = {}) => {
    const unfused = residualModel(form);
    const { result } = await expectFusion(fuseSkipLayerNormPass, unfused, {
      ops: opsOf(unfused.graph),
      explains: [reason],
      feeds: randomFeeds(unfused, 1, dims),
    });
    expect(result.changed).toBe(false);
    // one explanation for the site, from the rule with the bias or the one without
    expect([
      `SkipLayerNormalization at 'y': ${reason}`,
      `SkipLayerNormalization with bias at 'y': ${reason}`,
    ]).toContain(result.notes![0]);
  });
});

describe('fuse-skip-layer-norm: SkipSimplifiedLayerNormalization', () => {
  it('residual Add + SimplifiedLayerNormalization: one SkipSimplifiedLayerNormalization', async () => {
    const { inputs } = await fused({ norm: 'SimplifiedLayerNormalization' }, [
      'com.microsoft::SkipSimplifiedLayerNormalization',
    ]);
    expect(inputs).toEqual(['a', 's', 'gamma']);
  });

  it('leaves a MatMul bias as an Add: the CPU kernel would not read it', async () => {
    const { inputs } = await fused({ norm: 'SimplifiedLayerNormalization', bias: true, reuse: 'node' }, [
      'MatMul',
      'Add',
      'com.microsoft::SkipSimplifiedLayerNormalization',
      'Mul',
    ]);
    expect(inputs).toEqual(['biased', 's', 'gamma']);
  });
});

describe('clean, fuse-layer-norm, fuse-gelu, fuse-skip-layer-norm on the fixtures', () => {
  const layers = manifest?.settings.layers ?? 0;
  const PIPELINE = [cleanPass, fuseLayerNormPass, fuseGeluPass, fuseSkipLayerNormPass];
  const GELU_FAMILY = ['Gelu', 'BiasGelu', 'FastGelu', 'QuickGelu'].map((op) => `com.microsoft::${op}`);
  const rows = reportTable(`fusions on the fixtures (${layers} layers each)`, [
    'fixture',
    'LayerNorm left',
    'Gelu family',
    'SkipLN',
    'of which with sum output',
    'max |diff| disabled',
    'all',
  ]);

  it.each(fixtureNames)(
    '%s: fused, same outputs at both optimization levels, idempotent, deterministic',
    async (name) => {
      const model = fuseFixture(name, PIPELINE);
      const counts = opCounts(model);
      const count = (op: string) => counts[op] ?? 0;
      const gelus = GELU_FAMILY.reduce((n, op) => n + count(op), 0);
      const skips = count(SKIP_LN) + count(SKIP_SIMPLIFIED);
      expect(gelus).toBe(layers);
      expect(skips).toBeGreaterThanOrEqual(2 * layers - 1);
      // Every norm that reads a residual Add has become a SkipLayerNormalization.
      const normsAfterAdd = model.graph.nodes.filter(
        (n) => /LayerNormalization$/.test(n.opType) && !n.domain && n.input(0).producer?.opType === 'Add',
      );
      expect(normsAfterAdd.map((n) => n.name)).toEqual([]);
      const sumOutputs = model.graph.nodes.filter((n) => n.opType === 'SkipLayerNormalization' && n.outputs[3]).length;

      const diffs = await fixtureDifferences(name, model, ['disabled', 'all']);
      expect(diffs.disabled).toBeLessThan(1e-4);
      expect(diffs.all).toBeLessThan(1e-4);

      for (const pass of PIPELINE.slice(1)) expect(runPass(pass, model).changed, `${pass.name} again`).toBe(false);
      const again = fuseFixture(name, PIPELINE);
      expect(Buffer.from(encodeModel(again)).equals(encodeModel(model)), 'same bytes from a second run').toBe(true);

      const gelu = GELU_FAMILY.filter((op) => count(op))
        .map((op) => `${op.split('::')[1]}×${count(op)}`)
        .join(' ');
      rows.push([
        name,
        count('LayerNormalization'),
        gelu,
        skips,
        sumOutputs,
        diffs.disabled.toExponential(1),
        diffs.all.toExponential(1),
      ]);
    },
    30_000,
  );
});
