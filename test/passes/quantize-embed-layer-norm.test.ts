// fuse + quantize turns EmbedLayerNormalization into QEmbedLayerNormalization (uint8 tables) where onnxruntime's
// kernel can express it; where it cannot (computed position ids, a reused embedding sum) the lookups are written out
// around a uint8 word table, and a table read elsewhere keeps the node float. Each case says why.
import { describe, expect, it } from 'vitest';
import { fusePass } from '../../passes/fuse.js';
import { quantizePass } from '../../passes/quantize.js';
import { readModel } from '../../src/io/read.js';
import type { Model } from '../../src/ir/model.js';
import { readInputsFile } from '../../src/runtime/data-files.js';
import { describeInputs } from '../../src/runtime/inputs.js';
import { checkParity } from '../../src/runtime/parity.js';
import { encodeModel } from '../../src/serde/encode.js';
import { opHistogram } from '../../src/summary.js';
import { DataType } from '../../src/tensor/dtype.js';

function fuseQuantize(model: Model, options: Record<string, unknown> = {}) {
  const context = { options, log: () => {} };
  fusePass.run(model, context);
  return quantizePass.run(model, context);
}

describe('quantize: EmbedLayerNormalization', () => {
  it.each(['bert-eager-ts14', 'distilbert-sdpa-dynamo18', 'albert-eager-ts14'])(
    '%s: QEmbedLayerNormalization, tables shrink, outputs stay close',
    async (name) => {
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
    },
  );

  it.each([
    ['roberta-eager-ts14', 'position_ids'],
    ['gpt2-eager-ts14', 'embedding_sum'],
    ['mpnet-eager-dynamo18', 'position_ids'],
  ])(
    '%s (%s, which QEmbedLayerNormalization lacks): written out around a uint8 word table, outputs stay close',
    async (name, why) => {
      const file = `fixtures/${name}.onnx`;
      const model = readModel(file);
      const result = fuseQuantize(model);
      const ops = opHistogram(model);
      expect(ops['com.microsoft::EmbedLayerNormalization']).toBeUndefined();
      expect(ops['com.microsoft::QEmbedLayerNormalization']).toBeUndefined();
      expect(result.stats['quantized.EmbedLayerNormalization']).toBe(1);
      expect(result.notes?.some((n) => n.includes(why) && n.includes('uint8 word table'))).toBe(true);
      const dequantize = model.graph.nodes.filter((n) => n.opType === 'DequantizeLinear');
      expect(dequantize).toHaveLength(1);
      // it dequantizes the rows a Gather read from the uint8 table, not the table
      const gather = dequantize[0]!.input(0).producer!;
      expect(gather.opType).toBe('Gather');
      expect(gather.input(0).initializer?.dataType).toBe(DataType.UINT8);
      const inputs = readInputsFile(`fixtures/${name}.inputs.npz`, describeInputs(readModel(file)));
      const report = await checkParity(file, encodeModel(model), { inputs, minCosine: 0.999, threads: 1 });
      expect(report.pass, JSON.stringify(report.outputs.map((o) => o.cosine))).toBe(true);
    },
  );

  it('leaves a node float when its word table is read elsewhere too, and says why', () => {
    const model = readModel('fixtures/roberta-eager-ts14.onnx');
    const context = { options: {}, log: () => {} };
    fusePass.run(model, context);
    const table = model.graph.nodes.find((n) => n.opType === 'EmbedLayerNormalization')!.input(2);
    model.graph.outputs.push(table);
    const result = quantizePass.run(model, context);
    expect(opHistogram(model)['com.microsoft::EmbedLayerNormalization']).toBe(1);
    expect(result.notes?.some((n) => n.includes('stays float') && n.includes('read elsewhere'))).toBe(true);
  });

  it('is skipped when --ops leaves it out', () => {
    const model = readModel('fixtures/bert-eager-ts14.onnx');
    fuseQuantize(model, { ops: 'MatMul,Attention' });
    expect(opHistogram(model)['com.microsoft::EmbedLayerNormalization']).toBe(1);
  });
});
