// `fuse` on every exported fixture: what it must produce, numeric parity with the unfused export in
// onnxruntime-node (padded and unpadded, batch 1 and 2, several lengths, both optimization levels), idempotence.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { fusePass } from '../../passes/fuse.js';
import { readModel } from '../../src/io/read.js';
import type { Model } from '../../src/ir/model.js';
import { checkParity } from '../../src/runtime/parity.js';
import { encodeModel } from '../../src/serde/encode.js';
import { opHistogram, summarizeModel } from '../../src/summary.js';
import { expectExportParity } from '../kit/index.js';

interface FixtureEntry {
  family?: string;
}

const manifest = JSON.parse(readFileSync('fixtures/manifest.json', 'utf8')) as { models: Record<string, FixtureEntry> };
const names = Object.keys(manifest.models)
  .filter((n) => /^(bert|roberta|distilbert|gpt2|vit|albert|electra|xlmr|mpnet|t5)-/.test(n))
  .sort();
const LAYERS = 2;
const POST_LN = new Set(['bert', 'roberta', 'distilbert', 'albert', 'electra', 'xlmr', 'mpnet']);
const TEXT = new Set(['bert', 'roberta', 'distilbert', 'gpt2', 'albert', 'electra', 'xlmr', 'mpnet']);
/** Families whose attention adds a relative position bias: MultiHeadAttention, not Attention. */
const POSITION_BIAS = new Set(['mpnet', 't5']);
const rows: string[] = [];

function fuse(model: Model) {
  return fusePass.run(model, { options: {}, log: () => {} });
}

function parameterCount(model: Model): number {
  return Object.values(summarizeModel(model).parameters).reduce((n, p) => n + p.elements, 0);
}

function count(ops: Record<string, number>, ...names: string[]): number {
  return names.reduce((n, op) => n + (ops[`com.microsoft::${op}`] ?? ops[`ai.onnx::${op}`] ?? 0), 0);
}

describe('fuse on exported fixtures', () => {
  it('has the fixtures', () => {
    // 10 families x eager/sdpa x 2 exporters, but MPNet has no sdpa implementation in transformers
    expect(names.length).toBe(38);
  });

  it.each(names)(
    '%s',
    async (name) => {
      const family = name.split('-')[0]!;
      const file = `fixtures/${name}.onnx`;
      const model = readModel(file);
      const rawParameters = parameterCount(model);
      const { notes = [] } = fuse(model);
      // every Softmax left has its --explain line
      for (const softmax of model.graph.nodes.filter((n) => n.opType === 'Softmax'))
        expect(
          notes.some((line) => line.includes(`Attention at Softmax '${softmax.name}': `)),
          softmax.name,
        ).toBe(true);
      const ops = opHistogram(model);
      // Packing q, k and v must not copy weights that layers share (ALBERT): parameters never grow.
      expect(parameterCount(model)).toBeLessThanOrEqual(rawParameters);
      const attention = count(ops, 'Attention');
      const multiHead = count(ops, 'MultiHeadAttention');
      const gelu = count(ops, 'Gelu', 'BiasGelu', 'FastGelu', 'QuickGelu');
      const skip = count(ops, 'SkipLayerNormalization', 'SkipSimplifiedLayerNormalization');
      const embed = count(ops, 'EmbedLayerNormalization');
      rows.push(
        `${name.padEnd(26)} Attention ${attention}  MultiHeadAttention ${multiHead}  Gelu-family ${gelu}  SkipLN ${skip}  EmbedLN ${embed}  nodes ${Object.values(ops).reduce((a, b) => a + b, 0)}`,
      );
      expect(POSITION_BIAS.has(family) ? multiHead : attention).toBe(LAYERS);
      expect(attention + multiHead).toBe(LAYERS);
      expect(gelu).toBe(LAYERS);
      if (POST_LN.has(family)) expect(skip).toBeGreaterThanOrEqual(2 * LAYERS - 1);
      else expect(skip).toBeGreaterThanOrEqual(LAYERS);
      expect(embed).toBe(TEXT.has(family) ? 1 : 0);
      // nothing of the attention is left computing: every MatMul still in the graph multiplies by a weight
      const activationProducts = model.graph.nodes.filter(
        (n) => n.opType === 'MatMul' && n.inputs.every((v) => !v?.constantTensor()),
      );
      expect(activationProducts.map((n) => n.name)).toEqual([]);

      const fused = encodeModel(model);
      for (const optimization of ['disabled', 'all'] as const) await expectExportParity(file, fused, optimization);

      const again = fuse(model);
      expect(again.changed, 'a second fuse changes nothing').toBe(false);
      expect(Buffer.compare(Buffer.from(encodeModel(model)), Buffer.from(fused))).toBe(0);
      const fresh = readModel(file);
      fuse(fresh);
      expect(Buffer.compare(Buffer.from(encodeModel(fresh)), Buffer.from(fused)), 'deterministic').toBe(0);
    },
    120_000,
  );

  it('digits (timm-style attention: one qkv Linear, Reshape, Transpose, Gather 0/1/2): Attention per block', async () => {
    const file = 'fixtures/digits.onnx';
    const model = readModel(file);
    fuse(model);
    expect(count(opHistogram(model), 'Attention')).toBe(2);
    const report = await checkParity(file, encodeModel(model), {
      batch: 8,
      atol: 1e-4,
      rtol: 0,
      samples: 2,
      threads: 1,
    });
    expect(report.pass).toBe(true);
  });

  afterAll(() => console.log(`fuse counts (${LAYERS} layers each):\n${rows.sort().join('\n')}`));
});
