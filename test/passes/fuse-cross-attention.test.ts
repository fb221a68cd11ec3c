// `fuse` on the exports of fixtures/export_cross_attention.py: attention whose query, key and value do not come from
// one input (Whisper's and BART's cross-attention, cached cross keys and values, a bottleneck encoder, a learned-query
// pooling head) becomes MultiHeadAttention; the exports that differ only in declared dynamic axes or exporter fuse
// alike; every Softmax left has a reason under --explain; the fused models match the exports in onnxruntime-node at
// both optimization levels, batch 2 (row 1 padded where the model takes a mask) and batch 1. `fuse quantize` keeps
// the attention in float with quantized projections, within 1.5x of the error onnxruntime's own INT8 of the export
// makes; `fuse fp16` stays within 1e-2 of float32, relative to each output's largest value.
import { existsSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fp16Pass } from '../../passes/fp16.js';
import { fusePass } from '../../passes/fuse.js';
import { quantizePass } from '../../passes/quantize.js';
import type { Model } from '../../src/ir/model.js';
import { readModel } from '../../src/io/read.js';
import { errorOf, maxDifference, opCounts, runOrt, runPass, type OrtOutput, type OutputError } from '../kit/index.js';
import { fixtureFeeds, readFixture } from './fusion-helpers.js';

const MANIFEST = 'fixtures/cross-attention.manifest.json';
const manifest = existsSync(MANIFEST)
  ? (JSON.parse(readFileSync(MANIFEST, 'utf8')) as { models: Record<string, { int8_reference?: unknown }> })
  : { models: {} };
const names = Object.keys(manifest.models).sort();
/** Fixtures with onnxruntime's quantize_dynamic of the export beside them (<name>.int8.onnx). */
const int8Names = names.filter((n) => manifest.models[n]!.int8_reference);

/** What each family must fuse into (2 layers each), and the Softmaxes it may leave. */
const EXPECTED: Record<string, { Attention: number; MultiHeadAttention: number; left: number }> = {
  'whisper-enc': { Attention: 2, MultiHeadAttention: 0, left: 0 },
  'whisper-enc-eager': { Attention: 2, MultiHeadAttention: 0, left: 0 },
  // causal self-attention + cross-attention reading the encoder states
  'whisper-dec': { Attention: 2, MultiHeadAttention: 2, left: 0 },
  // self-attention over its cache (past_key/past_value in, present out) + cross-attention over cached keys and values
  'whisper-dec-past': { Attention: 0, MultiHeadAttention: 4, left: 0 },
  'bart-dec': { Attention: 2, MultiHeadAttention: 2, left: 0 },
  bottleneck: { Attention: 0, MultiHeadAttention: 2, left: 0 },
  // self-attention, then 2 learned queries over the tokens
  pooling: { Attention: 1, MultiHeadAttention: 1, left: 0 },
  'gpt2-eager-batchdyn': { Attention: 2, MultiHeadAttention: 0, left: 0 },
  'gpt2-sdpa-batchdyn': { Attention: 2, MultiHeadAttention: 0, left: 0 },
};

const familyOf = (name: string) => name.replace(/-(ts14|ts17|dynamo18)$/, '');

/** Rows [from, to) of every feed: batch 1 from the batch-2 fixture inputs. */
function rows(feeds: Record<string, ort.Tensor>, from: number, to: number): Record<string, ort.Tensor> {
  return Object.fromEntries(
    Object.entries(feeds).map(([name, t]) => {
      const per = t.size / t.dims[0]!;
      const data = (t.data as Float32Array).slice(from * per, to * per);
      return [name, new ort.Tensor(t.type, data, [to - from, ...t.dims.slice(1)])];
    }),
  );
}

function fuse(model: Model) {
  return runPass(fusePass, model, true);
}

describe('fuse on the cross-attention fixtures', () => {
  it('has the fixtures', () => {
    expect(names.length).toBe(14);
    for (const name of names) expect(EXPECTED[familyOf(name)], name).toBeDefined();
  });

  it.each(names)(
    '%s',
    async (name) => {
      const expected = EXPECTED[familyOf(name)]!;
      const unfused = readFixture(name);
      const model = readFixture(name);
      const result = fuse(model);
      const ops = opCounts(model);
      expect(ops['com.microsoft::Attention'] ?? 0).toBe(expected.Attention);
      expect(ops['com.microsoft::MultiHeadAttention'] ?? 0).toBe(expected.MultiHeadAttention);
      // every Softmax left is explained by a line naming it
      const left = model.graph.nodes.filter((n) => n.opType === 'Softmax');
      expect(left).toHaveLength(expected.left);
      for (const softmax of left)
        expect(
          (result.notes ?? []).some((line) => line.includes(`Attention at Softmax '${softmax.name}': `)),
          softmax.name,
        ).toBe(true);

      const feeds = fixtureFeeds(name);
      for (const level of ['disabled', 'all'] as const) {
        for (const [label, batch] of [
          ['batch 2, padded', feeds],
          ['batch 1', rows(feeds, 0, 1)],
          ['batch 1, padded', rows(feeds, 1, 2)],
        ] as const) {
          const diff = maxDifference(await runOrt(unfused, batch, level), await runOrt(model, batch, level));
          expect(diff, `${level}, ${label}`).toBeLessThanOrEqual(1e-4);
        }
      }
    },
    60_000,
  );
});

/** Largest absolute error, RMS error and cosine of `got` against `want`, over every output. */
function errors(want: Record<string, OrtOutput>, got: Record<string, OrtOutput>): OutputError {
  const names = Object.keys(want);
  const joined = (outputs: Record<string, OrtOutput>) => names.flatMap((n) => Array.from(outputs[n]!.data));
  return errorOf(joined(want), joined(got));
}

describe('every Softmax that fuse leaves is explained', () => {
  // with a head count no site has, every attention is refused: each Softmax must say why
  it.each(names)('%s: with --num-heads 3, a line for each Softmax', (name) => {
    const model = readFixture(name);
    const notes = fusePass.run(model, { options: { explain: true, numHeads: 3 }, log: () => {} }).notes ?? [];
    const softmaxes = model.graph.nodes.filter((n) => n.opType === 'Softmax');
    expect(softmaxes.length).toBeGreaterThan(0);
    for (const softmax of softmaxes)
      expect(
        notes.some((line) => line.includes(`Attention at Softmax '${softmax.name}': `)),
        softmax.name,
      ).toBe(true);
  });
});

describe('fuse quantize and fuse fp16 on the cross-attention fixtures', () => {
  it('has INT8 references', () => expect(int8Names.length).toBeGreaterThanOrEqual(4));

  it.each(int8Names)(
    "%s: fuse quantize keeps float attention, quantizes its projections, within 1.5x of onnxruntime's INT8 error",
    async (name) => {
      const model = readFixture(name);
      runPass(fusePass, model);
      const attention = opCounts(model)['com.microsoft::MultiHeadAttention'] ?? 0;
      runPass(quantizePass, model);
      const ops = opCounts(model);
      expect(attention).toBeGreaterThan(0);
      expect(ops['com.microsoft::MultiHeadAttention']).toBe(attention);
      expect(ops.MatMul ?? 0, 'every projection quantized').toBe(0);
      const feeds = fixtureFeeds(name);
      const float = await runOrt(readFixture(name), feeds, 'all');
      const mine = errors(float, await runOrt(model, feeds, 'all'));
      const theirs = errors(float, await runOrt(readModel(`fixtures/${name}.int8.onnx`), feeds, 'all'));
      expect(mine.cosine).toBeGreaterThanOrEqual(0.99);
      expect(mine.maxAbs).toBeLessThanOrEqual(1.5 * theirs.maxAbs);
      expect(mine.rms).toBeLessThanOrEqual(1.5 * theirs.rms);
    },
  );

  it.each(names)('%s: fuse fp16 stays within 1e-2 of float32', async (name) => {
    const model = readFixture(name);
    runPass(fusePass, model);
    runPass(fp16Pass, model);
    const feeds = fixtureFeeds(name);
    const float = await runOrt(readFixture(name), feeds, 'all');
    const half = await runOrt(model, feeds, 'all');
    for (const [output, { data: want }] of Object.entries(float)) {
      const scale = want.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      expect(errorOf(want, half[output]!.data).maxAbs / scale, output).toBeLessThanOrEqual(1e-2);
    }
  });
});

describe('fuse on a merged Whisper decoder (decoder_model_merged: an If on use_cache_branch)', () => {
  const PATH = 'fixtures/decoders/whisper-dec-merged-ts17.onnx';
  const HEADS = 4;
  const HEAD_SIZE = 8;

  /** Op counts of one branch of the model's If. */
  function branchOps(model: Model, branch: 'then_branch' | 'else_branch'): Record<string, number> {
    const ifNode = model.graph.nodes.find((n) => n.opType === 'If')!;
    const attribute = ifNode.attributes.get(branch);
    if (attribute?.type !== 'graph') throw new Error(`the If has no ${branch}`);
    return opCounts(attribute.value);
  }

  /** A feed of zeros shaped `dims`. */
  const zeros = (dims: number[]) => new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
  const flag = (value: boolean) => new ort.Tensor('bool', Uint8Array.from([value ? 1 : 0]), [1]);

  /** The no-past export's test case: an empty self-attention cache, the encoder's cache unread (zeros). */
  function noPastFeeds(): Record<string, ort.Tensor> {
    const feeds = fixtureFeeds('whisper-dec-ts17');
    const [batch, encoderLength] = feeds.encoder_hidden_states!.dims as [number, number];
    for (const layer of [0, 1])
      for (const part of ['key', 'value']) {
        feeds[`past_key_values.${layer}.decoder.${part}`] = zeros([batch, HEADS, 0, HEAD_SIZE]);
        feeds[`past_key_values.${layer}.encoder.${part}`] = zeros([batch, HEADS, encoderLength, HEAD_SIZE]);
      }
    feeds.use_cache_branch = flag(false);
    return feeds;
  }

  /** The with-past export's test case: encoder_hidden_states unread (zeros). */
  function withPastFeeds(): Record<string, ort.Tensor> {
    const feeds = fixtureFeeds('whisper-dec-past-ts17');
    const [batch, , encoderLength] = feeds['past_key_values.0.encoder.key']!.dims as [number, number, number];
    feeds.encoder_hidden_states = zeros([batch, encoderLength, HEADS * HEAD_SIZE]);
    feeds.use_cache_branch = flag(true);
    return feeds;
  }

  it('fuses every attention layer in both branches, keeping the outputs, and matches the merged export', async () => {
    const unfused = readModel(PATH);
    const model = readModel(PATH);
    const result = fuse(model);
    // with past: cached self-attention and cross-attention over cached keys and values, 2 layers
    const cached = branchOps(model, 'then_branch');
    expect(cached['com.microsoft::MultiHeadAttention'] ?? 0).toBe(4);
    expect(cached.Softmax ?? 0).toBe(0);
    // no past: causal self-attention (packed) + cross-attention reading the encoder states
    const first = branchOps(model, 'else_branch');
    expect(first['com.microsoft::Attention'] ?? 0).toBe(2);
    expect(first['com.microsoft::MultiHeadAttention'] ?? 0).toBe(2);
    expect(first.Softmax ?? 0).toBe(0);
    expect((result.notes ?? []).filter((line) => line.includes('Attention at Softmax'))).toEqual([]);
    expect(model.graph.outputs.map((o) => o.name)).toEqual(unfused.graph.outputs.map((o) => o.name));
    expect(model.graph.inputs.map((i) => i.name)).toEqual(unfused.graph.inputs.map((i) => i.name));
    // a second run finds nothing left to fuse in either branch
    expect(fuse(model).changed).toBe(false);

    for (const [label, feeds] of [
      ['use_cache_branch false, empty past', noPastFeeds()],
      ['use_cache_branch true, past of 5', withPastFeeds()],
    ] as const) {
      for (const level of ['disabled', 'all'] as const) {
        const want = await runOrt(unfused, feeds, level);
        const got = await runOrt(model, feeds, level);
        expect(Object.keys(got)).toEqual(Object.keys(want));
        expect(maxDifference(want, got), `${level}, ${label}`).toBeLessThanOrEqual(1e-4);
      }
    }
  }, 60_000);
});

describe('every Softmax that fuse leaves in a merged decoder is explained', () => {
  it('whisper-dec-merged-ts17: with --num-heads 3, a line for each Softmax of both branches', () => {
    const model = readModel('fixtures/decoders/whisper-dec-merged-ts17.onnx');
    const notes = fusePass.run(model, { options: { explain: true, numHeads: 3 }, log: () => {} }).notes ?? [];
    const softmaxes = [...model.graph.allGraphs()].flatMap((g) => g.nodes.filter((n) => n.opType === 'Softmax'));
    expect(softmaxes).toHaveLength(8);
    for (const softmax of softmaxes)
      expect(
        notes.some((line) => line.includes(`Attention at Softmax '${softmax.name}': `) && line.includes('heads')),
        softmax.name,
      ).toBe(true);
  });
});
