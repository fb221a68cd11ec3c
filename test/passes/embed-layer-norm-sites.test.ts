// fuse-embed-layer-norm on the probe-verified fusion skeleton: which lookup is which comes from the probes, a site
// they refuse gets its note, and a LayerNormalization whose lookups another site took is left as it is, with a note.
import { describe, expect, it } from 'vitest';
import type { Model } from '../../src/ir/model.js';
import { DataType } from '../../src/tensor/dtype.js';
import { fuseEmbedLayerNormPass } from '../../passes/fuse-embed-layer-norm.js';
import { buildModel, opsOf, runPass, type GraphMaker } from '../kit/index.js';

const D = 8;

/**
 * word[ids] + position[positions] -> LayerNormalization 'ln' (a second one, 'ln2', over the same sum when `twice`).
 * Positions are 0..S-1 computed from the ids' shape, or a graph input of their own when `positionInput`.
 */
function embeddings({ positionInput = false, twice = false } = {}): Model {
  return buildModel((g: GraphMaker) => {
    const ids = g.input('input_ids', ['batch', 'sequence'], DataType.INT64);
    const words = g.op('Gather', [g.weight('word_embeddings', [30, D]), ids], { name: 'words' });
    let positions;
    if (positionInput) positions = g.input('position_ids', ['batch', 'sequence'], DataType.INT64);
    else {
      const length = g.op('Gather', [g.op('Shape', [ids]), g.ints('sequence_axis', [1], [])]);
      const range = g.op('Range', [g.ints('zero', [0], []), length, g.ints('one', [1], [])]);
      positions = g.op('Unsqueeze', [range, g.ints('batch_axis', [0])]);
    }
    const placed = g.op('Gather', [g.weight('position_embeddings', [16, D]), positions], { name: 'placed' });
    const sum = g.op('Add', [words, placed], { name: 'sum' });
    const norm = (name: string) =>
      g.op('LayerNormalization', [sum, g.weight(`${name}_gamma`, [D]), g.weight(`${name}_beta`, [D])], {
        name,
        attrs: { axis: -1, epsilon: 1e-12 },
      });
    g.output(norm('ln'), ['batch', 'sequence', D]);
    if (twice) g.output(norm('ln2'), ['batch', 'sequence', D]);
  });
}

describe('fuse-embed-layer-norm', () => {
  it('fuses word + computed positions, the positions read off the probes', () => {
    const model = embeddings();
    const result = runPass(fuseEmbedLayerNormPass, model, true);
    expect(result).toMatchObject({ changed: true, stats: { EmbedLayerNormalization: 1 }, notes: [] });
    expect(opsOf(model.graph)).toEqual(['Cast', 'com.microsoft::EmbedLayerNormalization']);
    expect(model.opsetVersion('com.microsoft')).toBe(1);
  });

  it('refuses lookups the probes cannot tell apart as word and position, and says so', () => {
    const model = embeddings({ positionInput: true });
    const result = runPass(fuseEmbedLayerNormPass, model, true);
    expect(result).toMatchObject({ changed: false, stats: {} });
    expect(result.notes).toEqual([
      "EmbedLayerNormalization at LayerNormalization 'ln': expected word (+ segment) lookups by inputs and one position lookup",
    ]);
    expect(opsOf(model.graph)).toContain('LayerNormalization');
  });

  it('fuses the first of two LayerNormalizations over one sum; the second reads its embedding_sum', () => {
    const model = embeddings({ twice: true });
    const result = runPass(fuseEmbedLayerNormPass, model, true);
    expect(result.stats).toEqual({ EmbedLayerNormalization: 1 });
    expect(result.notes).toEqual([
      "EmbedLayerNormalization at LayerNormalization 'ln2': its lookups were fused at another LayerNormalization",
    ]);
    const embed = model.graph.nodes.find((n) => n.opType === 'EmbedLayerNormalization')!;
    const second = model.graph.nodes.find((n) => n.name === 'ln2')!;
    expect(second.input(0)).toBe(embed.output(2));
    expect(opsOf(model.graph)).not.toContain('Add');
  });
});
