// fuse + quantize turns EmbedLayerNormalization into QEmbedLayerNormalization (uint8 tables) where onnxruntime's
// kernel can express it, and says why where it cannot (computed position ids, a reused embedding sum).
import { describe, expect, it } from 'vitest';
import { fusePass } from '../../passes/fuse.js';
import { quantizeDynamicPass } from '../../passes/quantize-dynamic.js';
import { readModel } from '../../src/io/read.js';
import type { Model } from '../../src/ir/model.js';
import { readInputsFile } from '../../src/runtime/data-files.js';
import { describeInputs } from '../../src/runtime/inputs.js';
import { checkParity } from '../../src/runtime/parity.js';
import { encodeModel } from '../../src/serde/encode.js';
import { opHistogram } from '../../src/summary.js';

function fuseQuantize(model: Model, options: Record<string, unknown> = {}) {
  const context = { options, log: () => {} };
  fusePass.run(model, context);
  return quantizeDynamicPass.run(model, context);
}

describe('quantize: EmbedLayerNormalization', () => {
  it.each(['bert-eager-ts14', 'distilbert-sdpa-dynamo18', 'albert-eager-ts14'])('%s: QEmbedLayerNormalization, tables shrink, outputs stay close', async (name) => {
    const file = `fixtures/${name}.onnx`;
    const model = readModel(file);
    const result = fuseQuantize(model);
    const ops = opHistogram(model);
    expect(ops['com.microsoft::QEmbedLayerNormalization']).toBe(1);
    expect(ops['com.microsoft::EmbedLayerNormalization']).toBeUndefined();
    expect(result.stats['quantized.EmbedLayerNormalization']).toBe(1);
    const inputs = readInputsFile(`fixtures/${name}.inputs.npz`, describeInputs(readModel(file)));
    const report = await checkParity(file, encodeModel(model), { inputs, minCosine: 0.999, threads: 1 });
    expect(report.pass, JSON.stringify(report.outputs.map((o) => o.cosine))).toBe(true);
  });

  it('leaves RoBERTa (computed position ids) and GPT-2 (reused embedding sum) float, and says why', () => {
    for (const [name, why] of [['roberta-eager-ts14', 'position_ids'], ['gpt2-eager-ts14', 'embedding_sum']] as const) {
      const model = readModel(`fixtures/${name}.onnx`);
      const result = fuseQuantize(model);
      expect(opHistogram(model)['com.microsoft::EmbedLayerNormalization']).toBe(1);
      expect(result.notes?.some((n) => n.includes(why))).toBe(true);
    }
  });

  it('is skipped when --ops leaves it out', () => {
    const model = readModel('fixtures/bert-eager-ts14.onnx');
    fuseQuantize(model, { ops: 'MatMul,Attention' });
    expect(opHistogram(model)['com.microsoft::EmbedLayerNormalization']).toBe(1);
  });
});
