// The kit's expectFusion must fail where a fusion is wrong: other ops, other stats, outputs that change, a second run
// that changes the model again, or a missing explanation.
import { describe, expect, it } from 'vitest';
import { fuseGeluPass } from '../../passes/fuse-gelu.js';
import type { Model } from '../../src/ir/model.js';
import type { Pass } from '../../src/pass/index.js';
import { buildModel, expectFusion } from './index.js';

/** x·sigmoid(1.702·x): one QuickGelu for fuse-gelu. */
const quickGelu = () =>
  buildModel((g) => {
    const x = g.input('x', [2, 8]);
    g.output(g.op('Mul', [g.op('Sigmoid', [g.op('Mul', [g.init('alpha', 1.702), x])]), x], { name: 'y' }), [2, 8]);
  });

/** fuse-gelu's pass with another rewrite. */
const rewriting = (rewrite: (model: Model) => void): Pass =>
  ({
    ...fuseGeluPass,
    run: (model: Model) => {
      rewrite(model);
      return { changed: true, stats: {} };
    },
  }) as Pass;

describe('expectFusion', () => {
  it('passes a right fusion', async () => {
    const { model } = await expectFusion(fuseGeluPass, quickGelu(), { ops: ['com.microsoft::QuickGelu'] });
    expect(model.graph.nodes).toHaveLength(1);
  });

  it('fails on other ops, other stats or a missing explanation', async () => {
    await expect(expectFusion(fuseGeluPass, quickGelu(), { ops: ['Mul'] })).rejects.toThrow();
    await expect(expectFusion(fuseGeluPass, quickGelu(), { ops: {}, stats: { Gelu: 1 } })).rejects.toThrow();
    await expect(expectFusion(fuseGeluPass, quickGelu(), { ops: {}, explains: ['why not'] })).rejects.toThrow();
  });

  it('fails when the outputs change', async () => {
    const breaking = rewriting((model) => (model.graph.nodes.find((n) => n.opType === 'Sigmoid')!.opType = 'Tanh'));
    await expect(expectFusion(breaking, quickGelu(), { ops: {} })).rejects.toThrow(/outputs before and after/);
  });

  it('fails when a second run changes the model again', async () => {
    const restless = rewriting((model) => (model.graph.nodes[0]!.name += '_again'));
    await expect(expectFusion(restless, quickGelu(), { ops: {} })).rejects.toThrow(/run twice/);
  });
});
