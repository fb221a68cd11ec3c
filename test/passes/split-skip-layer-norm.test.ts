// split-skip-layer-norm (run by quantize, or after a float fuse) turns SkipLayerNormalization with a bias into
// (input + skip) + bias -> LayerNormalization, the faster form on onnxruntime's CPU EP, in an order onnxruntime's own
// optimizer does not fuse back.
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fusePass } from '../../passes/fuse.js';
import { quantizePass } from '../../passes/quantize.js';
import { splitSkipLayerNormPass } from '../../passes/split-skip-layer-norm.js';
import { readModel } from '../../src/io/read.js';
import type { Model } from '../../src/ir/model.js';
import { encodeModel } from '../../src/serde/encode.js';
import { opHistogram } from '../../src/summary.js';
import { maxDifference, runOrt, runPass } from '../kit/index.js';
import { tempFolder } from '../kit/temp.js';
import { fixtureFeeds } from './fusion-helpers.js';

const dir = tempFolder('skip');

function fuseQuantize(
  name: string,
  options: Record<string, unknown> = {},
): { model: Model; notes: string[]; stats: Record<string, number> } {
  const model = readModel(`fixtures/${name}.onnx`);
  const context = { options, log: () => {} };
  fusePass.run(model, context);
  const result = quantizePass.run(model, context);
  return { model, notes: result.notes ?? [], stats: result.stats };
}

/** The graph onnxruntime runs after its own optimizations ('all'). */
async function optimizedByOnnxruntime(model: Model, file: string): Promise<Model> {
  const optimizedModelFilePath = join(dir, file);
  const session = await ort.InferenceSession.create(encodeModel(model), {
    graphOptimizationLevel: 'all',
    optimizedModelFilePath,
    logSeverityLevel: 3,
  });
  await session.release();
  return readModel(optimizedModelFilePath);
}

/** SkipLayerNormalizations split, by both of the pass's rules. */
const splits = (stats: Record<string, number>) =>
  (stats['split SkipLayerNormalization'] ?? 0) + (stats['split SkipLayerNormalization and its sum'] ?? 0);

/** The gamma of each SkipLayerNormalization in a graph. */
const skipGammas = (model: Model) =>
  model.graph.nodes.filter((n) => n.opType === 'SkipLayerNormalization').map((n) => n.input(2).name);

describe('quantize: SkipLayerNormalization on the CPU', () => {
  it.each(['bert-eager-ts14', 'roberta-sdpa-dynamo18', 'albert-eager-ts14'])(
    '%s: every one with a bias becomes Add, Add, LayerNormalization, and stays so in onnxruntime',
    async (name) => {
      const { model, stats } = fuseQuantize(name);
      const kept = fuseQuantize(name, { keepSkipLayerNorm: true }).model;
      const ops = opHistogram(model);
      const fused = opHistogram(kept)['com.microsoft::SkipLayerNormalization']!;
      expect(fused).toBeGreaterThan(0);
      expect(ops['com.microsoft::SkipLayerNormalization']).toBeUndefined();
      expect(splits(stats)).toBe(fused);
      expect(ops['ai.onnx::LayerNormalization']).toBe((opHistogram(kept)['ai.onnx::LayerNormalization'] ?? 0) + fused);

      // none of the norms split here is fused back (onnxruntime may fuse others, such as the embedding sum's norm
      // that quantize writes out for RoBERTa: that one was never a SkipLayerNormalization here)
      const splitGammas = skipGammas(kept);
      const runtime = skipGammas(await optimizedByOnnxruntime(model, `${name}.optimized.onnx`));
      expect(
        runtime.filter((gamma) => splitGammas.includes(gamma)),
        'onnxruntime fused them back',
      ).toEqual([]);
      // the control: onnxruntime keeps (and does not split) the fused form
      expect(skipGammas(await optimizedByOnnxruntime(kept, `${name}.kept.optimized.onnx`))).toEqual(
        expect.arrayContaining(splitGammas),
      );

      // the same model up to the order of two float additions
      const feeds = fixtureFeeds(name);
      const diff = maxDifference(await runOrt(model, feeds, 'all'), await runOrt(kept, feeds, 'all'));
      expect(diff).toBeLessThan(1e-4);
    },
  );

  it('leaves one without a bias (onnxruntime would fuse a plain residual back) and says why', () => {
    // GPT-2's pre-LN residuals carry no bias into the norm
    const { model, notes } = fuseQuantize('gpt2-eager-ts14', { explain: true });
    const left = opHistogram(model)['com.microsoft::SkipLayerNormalization'] ?? 0;
    expect(left).toBeGreaterThan(0);
    expect(notes.filter((n) => n.includes('has no bias'))).toHaveLength(left);
  });

  it('runs as its own pass after a float fuse: same outputs, and nothing left to split a second time', async () => {
    const name = 'distilbert-eager-ts14';
    const fused = readModel(`fixtures/${name}.onnx`);
    runPass(fusePass, fused);
    const split = readModel(`fixtures/${name}.onnx`);
    runPass(fusePass, split);
    const result = runPass(splitSkipLayerNormPass, split);
    expect(splits(result.stats)).toBe(opHistogram(fused)['com.microsoft::SkipLayerNormalization']);
    expect(opHistogram(split)['com.microsoft::SkipLayerNormalization']).toBeUndefined();
    expect(runPass(splitSkipLayerNormPass, split).changed).toBe(false);
    const feeds = fixtureFeeds(name);
    expect(maxDifference(await runOrt(split, feeds, 'all'), await runOrt(fused, feeds, 'all'))).toBeLessThan(1e-5);
  });
});
