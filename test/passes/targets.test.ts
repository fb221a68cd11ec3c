// Runtime targets: the plan each target makes of a pass list, and the WebGPU form (masks as one attention_bias, no
// EmbedLayerNormalization, no BiasGelu) on fixtures of every attention kind: numerically the same model in
// onnxruntime-node, and every node an op with a WebGPU kernel in onnxruntime-web (1.30.0, 1.31.1).
import { describe, expect, it } from 'vitest';
import { findPass } from '../../passes/index.js';
import { findTarget, offDeviceOps, planForTarget, planPasses, TARGETS } from '../../passes/targets.js';
import { readModel } from '../../src/io/read.js';
import { runPasses } from '../../src/pipeline.js';
import { checkParity } from '../../src/runtime/parity.js';
import { encodeModel } from '../../src/serde/encode.js';
import { opHistogram } from '../../src/summary.js';
import { expectExportParity } from '../kit/index.js';

describe('planForTarget', () => {
  it('puts the CPU form right after fuse, once', () => {
    expect(planForTarget(['fuse'], TARGETS.cpu).passes).toEqual(['fuse', 'split-skip-layer-norm']);
    // quantize splits SkipLayerNormalization itself
    expect(planForTarget(['fuse', 'quantize'], TARGETS.wasm).passes).toEqual(['fuse', 'quantize']);
    expect(planForTarget(['fuse', 'fp16'], TARGETS.wasm).passes).toEqual(['fuse', 'split-skip-layer-norm', 'fp16']);
    expect(planForTarget(['fuse', 'split-skip-layer-norm'], TARGETS.cpu).passes).toEqual([
      'fuse',
      'split-skip-layer-norm',
    ]);
    expect(planForTarget(['clean'], TARGETS.cpu).passes).toEqual(['clean']);
  });

  it('keeps the fused forms for CUDA and rewrites masks for WebGPU', () => {
    expect(planForTarget(['fuse', 'fp16'], TARGETS.cuda)).toEqual({
      passes: ['fuse', 'fp16'],
      disableFusions: [],
      warnings: [],
    });
    const webgpu = planForTarget(['fuse', 'fp16'], TARGETS.webgpu);
    expect(webgpu.passes).toEqual(['fuse', 'attention-mask-to-bias', 'split-bias-gelu', 'fp16']);
    expect(webgpu.disableFusions).toEqual(['embed-layer-norm']);
  });

  it('warns where a pass does not pay on the target', () => {
    expect(planForTarget(['fuse', 'fp16'], TARGETS.wasm).warnings).toEqual([
      expect.stringMatching(/^--target wasm: fp16: /),
    ]);
    expect(planForTarget(['fuse', 'quantize'], TARGETS.webgpu).warnings).toEqual([
      expect.stringMatching(/^--target webgpu: quantize: .*CPU/),
    ]);
    expect(planForTarget(['fuse', 'quantize'], TARGETS.cpu).warnings).toEqual([]);
  });

  it('refuses unknown targets by name', () => {
    expect(() => findTarget('tpu')).toThrow("unknown target 'tpu' (targets: cpu, wasm, webgpu, cuda)");
  });
});

describe('the WebGPU form of fused fixtures', () => {
  // padding masks (BERT, RoBERTa with EmbedLayerNorm), causal + padding (GPT-2), MultiHeadAttention with a position
  // bias (MPNet) and with a bias that carries the mask (T5), BiasGelu (dynamo exports), an encoder without a mask (ViT)
  const fixtures = [
    'bert-eager-ts14',
    'roberta-sdpa-dynamo18',
    'gpt2-eager-ts14',
    'gpt2-sdpa-dynamo18',
    'mpnet-eager-dynamo18',
    't5-eager-ts14',
    'vit-sdpa-ts14',
  ];

  it.each(fixtures)('%s', async (name) => {
    const file = `fixtures/${name}.onnx`;
    const model = readModel(file);
    const plan = planForTarget(['fuse'], TARGETS.webgpu);
    runPasses(model, planPasses(plan));
    const ops = opHistogram(model);
    // MPNet's and T5's exported position-bucket arithmetic keeps one Min on the CPU (WebGPU has no Min kernel)
    expect(offDeviceOps(model, TARGETS.webgpu)).toEqual(/^(mpnet|t5)-/.test(name) ? { '::Min': 1 } : {});
    expect(ops['com.microsoft::EmbedLayerNormalization'] ?? 0).toBe(0);
    expect((ops['com.microsoft::Attention'] ?? 0) + (ops['com.microsoft::MultiHeadAttention'] ?? 0)).toBe(2);
    for (const node of model.graph.nodes.filter((n) => n.domain === 'com.microsoft' && /Attention$/.test(n.opType))) {
      const maskAt = node.opType === 'Attention' ? 3 : 4;
      expect(node.inputs[maskAt] ?? null, `${node.name} has no mask input`).toBeNull();
      expect(node.attrInt('unidirectional', 0), `${node.name} is not marked causal`).toBe(0);
    }
    // one bias shared by both layers
    expect(
      model.graph.nodes.filter((n) => n.opType === 'Expand' && n.name.includes('/mask_bias/')).length,
    ).toBeLessThanOrEqual(1);
    const rewritten = encodeModel(model);
    expect(
      findPass('attention-mask-to-bias').run(model, { options: {}, log: () => {} }).changed,
      'a second run changes nothing',
    ).toBe(false);
    await expectExportParity(file, rewritten);
  });
});

describe('the WebGPU form in float16', () => {
  // the mask bias multiplies 0/1 by the filter value (-3.4e38 in transformers 5 exports): in float16 that must stay
  // finite, or 0 · -inf poisons every unmasked score
  it.each(['bert-eager-ts14', 'gpt2-sdpa-dynamo18'])('%s keeps its outputs', async (name) => {
    const file = `fixtures/${name}.onnx`;
    const model = readModel(file);
    const plan = planForTarget(['fuse', 'fp16'], TARGETS.webgpu);
    runPasses(model, planPasses(plan));
    const report = await checkParity(file, encodeModel(model), {
      batch: 2,
      sequence: 16,
      pad: true,
      minCosine: 0.999,
      samples: 1,
      threads: 1,
    });
    expect(report.pass, report.outputs.map((o) => `${o.name} cosine ${o.cosine}`).join(', ')).toBe(true);
  });
});
