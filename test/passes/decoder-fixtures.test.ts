// `fuse` on the decoder fixtures (fixtures/decoders, made by fixtures/export_decoders.py: tiny Llama, Qwen2, Qwen3,
// Phi-3, Mistral, Gemma 2, Cohere and ModernBERT, TorchScript 17 and dynamo 18). For every export: parity with the
// export's expected outputs (onnxruntime, optimizations off) on the rows of real tokens, at onnxruntime optimization
// 'disabled' and 'all', batch 1, batch 2 right-padded and left-padded; every Softmax left explained; for the
// fixtures in FUSES, every rotary and attention layer fused; for cached decoders, torch's 32 greedy tokens.
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fusePass } from '../../passes/fuse.js';
import { readNpz } from '../../src/io/npz.js';
import { readModel } from '../../src/io/read.js';
import { opCounts, runPass, withSessions } from '../kit/index.js';
import { cases, decode, realRowsDifference } from './decoder-helpers.js';

const DIR = 'fixtures/decoders';
const LAYERS = 2;

/**
 * What `fuse` must make of each export: RotaryEmbedding nodes (one for q and one for k per layer) and attention
 * nodes (GroupQueryAttention, MultiHeadAttention or Attention; one per layer), no Softmax left.
 */
const FUSES: Record<string, { rotary: number; attention: number }> = {
  'llama-sdpa-ts17': { rotary: 2 * LAYERS, attention: LAYERS },
  'llama-eager-ts17': { rotary: 2 * LAYERS, attention: LAYERS },
  'qwen2-sdpa-ts17': { rotary: 2 * LAYERS, attention: LAYERS },
  'qwen2-past-ts17': { rotary: 2 * LAYERS, attention: LAYERS },
  'qwen3-sdpa-ts17': { rotary: 2 * LAYERS, attention: LAYERS },
  'phi3-sdpa-ts17': { rotary: 2 * LAYERS, attention: LAYERS },
  'mistral-sdpa-ts17': { rotary: 2 * LAYERS, attention: LAYERS },
  'gemma2-eager-ts17': { rotary: 2 * LAYERS, attention: LAYERS },
  'llama-maskpos-ts17': { rotary: 2 * LAYERS, attention: LAYERS },
  'llama-sdpa-dynamo18': { rotary: 2 * LAYERS, attention: LAYERS },
  'llama-eager-dynamo18': { rotary: 2 * LAYERS, attention: LAYERS },
  'qwen2-sdpa-dynamo18': { rotary: 2 * LAYERS, attention: LAYERS },
  'qwen2-past-dynamo18': { rotary: 2 * LAYERS, attention: LAYERS },
  'qwen3-sdpa-dynamo18': { rotary: 2 * LAYERS, attention: LAYERS },
  'phi3-sdpa-dynamo18': { rotary: 2 * LAYERS, attention: LAYERS },
  'mistral-sdpa-dynamo18': { rotary: 2 * LAYERS, attention: LAYERS },
  'gemma2-eager-dynamo18': { rotary: 2 * LAYERS, attention: LAYERS },
  'cohere-sdpa-dynamo18': { rotary: 2 * LAYERS, attention: LAYERS },
  'llama-merged-ts17': { rotary: 2 * 2 * LAYERS, attention: 2 * LAYERS }, // both If branches
  'llama-merged-dynamo18': { rotary: 2 * 2 * LAYERS, attention: 2 * LAYERS },
  'modernbert-sdpa-ts17': { rotary: 2 * LAYERS, attention: LAYERS },
  'modernbert-sdpa-dynamo18': { rotary: 2 * LAYERS, attention: LAYERS },
};

/** The exports with expected outputs (Cohere's TorchScript export fails in onnxruntime itself; see fixtures/README.md). */
const EXPORTS = readdirSync(DIR)
  .filter((f) => f.endsWith('.onnx') && !f.startsWith('llama-tiny'))
  .map((f) => f.slice(0, -'.onnx'.length))
  .filter((name) => readdirSync(DIR).some((f) => f.startsWith(`${name}.`) && f.endsWith('.expected.npz')))
  .sort();

it('has every decoder fixture the export script writes', () => {
  expect(EXPORTS.length).toBeGreaterThanOrEqual(20);
  for (const name of Object.keys(FUSES)) expect(EXPORTS).toContain(name);
});

describe.each(EXPORTS)('fuse on %s', (name) => {
  const model = readModel(`${DIR}/${name}.onnx`);
  const notes = runPass(fusePass, model, true).notes ?? [];

  it('fuses what it must, and explains every Softmax it leaves', () => {
    const counts = opCounts(model, true);
    // an op in every graph, in the default domain or com.microsoft's
    const count = (op: string) => (counts[op] ?? 0) + (counts[`com.microsoft::${op}`] ?? 0);
    const expected = FUSES[name];
    if (expected) {
      expect(count('RotaryEmbedding'), notes.join('\n')).toBe(expected.rotary);
      const attention = count('GroupQueryAttention') + count('MultiHeadAttention') + count('Attention');
      expect(attention, notes.join('\n')).toBe(expected.attention);
      expect(count('Softmax')).toBe(0);
    }
    for (const g of model.graph.allGraphs())
      for (const n of g.nodes.filter((x) => x.opType === 'Softmax'))
        expect(
          notes.some((line) => line.includes(`'${n.name}'`)),
          `a reason for Softmax '${n.name}'`,
        ).toBe(true);
  });

  it.each(['disabled', 'all'] as const)('matches the export at onnxruntime optimization %s', async (level) => {
    await withSessions([model], level, async ([session]) => {
      for (const c of cases(DIR, name)) {
        const out = await session!.run(c.feeds);
        const got = Object.fromEntries(Object.keys(c.expected).map((k) => [k, out[k]!]));
        expect(realRowsDifference(c.expected, got, c.feeds), c.label).toBeLessThanOrEqual(1e-4);
      }
    });
  });

  it.runIf(existsSync(`${DIR}/${name}.generate.npz`))(
    "decodes torch's 32 greedy tokens from 3 prompts with the cache carried",
    async () => {
      const generated = readNpz(`${DIR}/${name}.generate.npz`);
      await withSessions([model], 'all', async ([session]) => {
        for (let i = 0; generated.has(`prompt_${i}`); i++) {
          const prompt = Array.from(generated.get(`prompt_${i}`)!.data as BigInt64Array, Number);
          const tokens = Array.from(generated.get(`tokens_${i}`)!.data as BigInt64Array, Number);
          expect((await decode(session!, model, prompt, tokens.length)).tokens, `prompt ${i}`).toEqual(tokens);
        }
      });
    },
  );
});
