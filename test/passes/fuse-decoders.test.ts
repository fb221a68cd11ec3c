// `fuse` on real decoder exports: transformers' Llama (grouped-query, 4 heads on 2 KV heads, a KV cache with
// optimum/transformers.js names; fixtures/llama-tiny.onnx, TorchScript) and a tiny Llama as optimum writes
// decoder_model_merged (fixtures/decoders/llama-merged-ts17.onnx: an If on use_cache_branch over the with-past and
// the real no-past export; the no-past branch's probes evaluate the RMSNorm and RotaryEmbedding fused in front of
// each site). Every attention layer and every rotary fused; parity with the export at onnxruntime optimization 'disabled' and 'all' on prompts (batch 2, left or right
// padded), batched one-token steps and a batch-1 chunk after a cache, on the rows of real tokens; greedy decoding with
// the cache carried gives the export's tokens, and `fuse quantize` the tokens `quantize` alone gives.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fusePass } from '../../passes/fuse.js';
import { quantizePass } from '../../passes/quantize.js';
import { readModel } from '../../src/io/read.js';
import type { Model } from '../../src/ir/model.js';
import { shapeOf } from '../../src/ir/types.js';
import { lcg, opCounts, runPass, withSessions } from '../kit/index.js';
import { decode, kvShape, realRowsDifference, type Feeds } from './decoder-helpers.js';

const DECODERS = [
  { path: 'fixtures/llama-tiny.onnx', layers: 2, branches: 1 },
  { path: 'fixtures/decoders/llama-merged-ts17.onnx', layers: 2, branches: 2 },
];

/**
 * A generation step: batch B, S new tokens after P cached, row 1 padded by `left` on the left (batched generate())
 * or `right` on the right; positions from the mask's cumsum, as generate() and transformers.js compute them.
 */
function stepFeeds(model: Model, [B, S, P, left, right]: number[], seed: number): Feeds {
  const random = lcg(seed);
  const { kvHeads, headSize, vocab } = kvShape(model);
  const T = P! + S!;
  const mask = Array.from({ length: B! * T }, (_, i): number => {
    const [row, j] = [Math.floor(i / T), i % T];
    return row === 1 && (j < left! || j >= T - right!) ? 0 : 1;
  });
  const positions = Array.from({ length: B! * S! }, (_, i) => {
    const [row, k] = [Math.floor(i / S!), i % S!];
    const seen = mask.slice(row * T, row * T + P! + k + 1).reduce((a, c) => a + c, 0);
    return seen > 0 ? seen - 1 : 1;
  });
  const feeds: Feeds = {
    input_ids: new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: B! * S! }, () => BigInt(3 + Math.floor(random() * (vocab - 3)))),
      [B!, S!],
    ),
    attention_mask: new ort.Tensor('int64', BigInt64Array.from(mask.map(BigInt)), [B!, T]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from(positions.map(BigInt)), [B!, S!]),
  };
  for (const input of model.graph.inputs) {
    if (input.name.startsWith('past_key_values.'))
      feeds[input.name] = new ort.Tensor(
        'float32',
        Float32Array.from({ length: B! * kvHeads * P! * headSize }, () => random() * 2 - 1),
        [B!, kvHeads, P!, headSize],
      );
    if (input.name === 'use_cache_branch')
      feeds[input.name] = new ort.Tensor('bool', Uint8Array.from([P! > 0 ? 1 : 0]), [1]);
  }
  return feeds;
}

const CASES = [
  [2, 6, 0, 2, 0], // a prompt, row 1 padded on the left
  [2, 6, 0, 0, 2], // a prompt, row 1 padded on the right
  [2, 1, 6, 3, 0], // one new token each after a left-padded cache
  [1, 3, 7, 0, 0], // a 3-token chunk after a cache
  [1, 1, 0, 0, 0], // a one-token prompt
];

const PROMPTS = [
  [1, 17, 42, 99, 5],
  [1, 64, 3, 3, 120, 77, 8, 15, 31],
  [1, 2],
];

/** The second model decodes the first one's greedy tokens from every prompt (onnxruntime optimizations on). */
async function sameTokens(models: [Model | string, Model], exported: Model, steps: number): Promise<void> {
  await withSessions(models, 'all', async ([reference, candidate]) => {
    for (const prompt of PROMPTS)
      expect((await decode(candidate!, exported, prompt, steps)).tokens).toEqual(
        (await decode(reference!, exported, prompt, steps)).tokens,
      );
  });
}

describe.each(DECODERS)('fuse on the decoder $path', ({ path, layers, branches }) => {
  const fusedModel = () => {
    const model = readModel(path);
    const result = runPass(fusePass, model, true);
    return { model, notes: result.notes ?? [] };
  };
  const { model: fused, notes } = fusedModel();

  it('fuses every attention layer into GroupQueryAttention and every q and k rotary into RotaryEmbedding', () => {
    const ops = opCounts(fused, true);
    expect(ops['com.microsoft::GroupQueryAttention'] ?? 0, notes.join('\n')).toBe(layers * branches);
    expect(ops['com.microsoft::RotaryEmbedding'] ?? 0, notes.join('\n')).toBe(2 * layers * branches);
    expect(ops.Softmax ?? 0).toBe(0);
    // the cache keeps its names and layout
    const exported = readModel(path);
    expect(fused.graph.inputs.map((i) => i.name)).toEqual(exported.graph.inputs.map((i) => i.name));
    expect(fused.graph.outputs.map((o) => [o.name, shapeOf(o.type)])).toEqual(
      exported.graph.outputs.map((o) => [o.name, shapeOf(o.type)]),
    );
  });

  it.each(['disabled', 'all'] as const)(
    'matches the export at optimization %s (prompts padded left and right, steps after a cache)',
    async (level) => {
      const exported = readModel(path);
      await withSessions([path, fused], ['disabled', level], async ([reference, candidate]) => {
        for (const [i, c] of CASES.entries()) {
          const feeds = stepFeeds(exported, c, 100 + i);
          expect(
            realRowsDifference(await reference!.run(feeds), await candidate!.run(feeds), feeds),
            `case ${c}`,
          ).toBeLessThan(1e-4);
        }
      });
    },
  );

  it("decodes the export's 32 greedy tokens from 3 prompts with the cache carried", async () => {
    const exported = readModel(path);
    await sameTokens([path, fused], exported, 32);
  });

  it('decodes with fuse quantize the tokens quantize alone gives the export (8 from 3 prompts)', async () => {
    const exported = readModel(path);
    const [alone, both] = [readModel(path), readModel(path)];
    runPass(quantizePass, alone);
    runPass(fusePass, both);
    runPass(quantizePass, both);
    expect(opCounts(both, true)['com.microsoft::GroupQueryAttention']).toBe(layers * branches);
    expect(opCounts(both, true)['com.microsoft::DynamicQuantizeMatMul'] ?? 0).toBeGreaterThan(0);
    await sameTokens([alone, both], exported, 8);
  });
});
