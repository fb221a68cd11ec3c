// Shared by the decoder tests: greedy decoding with the cache carried, the fixtures' test cases, and differences on
// the rows of real tokens.
import { readdirSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { Model } from '../../src/ir/model.js';
import { shapeOf } from '../../src/ir/types.js';
import { npzFeeds } from '../kit/index.js';

export type Feeds = Record<string, ort.Tensor>;

/** The cache's KV heads and head size, from the first `past_key_values.*` input. */
export function kvShape(model: Model): { kvHeads: number; headSize: number; vocab: number } {
  const past = model.graph.inputs.find((i) => i.name.startsWith('past_key_values.'))!;
  const [, kvHeads, , headSize] = shapeOf(past.type)! as [unknown, number, unknown, number];
  const vocab = shapeOf(model.graph.outputs.find((o) => o.name === 'logits')!.type)![2];
  return { kvHeads, headSize, vocab: typeof vocab === 'number' ? vocab : 512 };
}

/**
 * Largest difference between two runs on the rows of real tokens: logits of unpadded queries ([B, S, V], the
 * queries being the last S of the mask's T positions), cache entries ([B, heads, T, D]) of unpadded keys. Padded
 * query rows are left out: every runtime (torch included) fills them differently.
 */
export function realRowsDifference(a: Record<string, ort.Tensor>, b: Record<string, ort.Tensor>, feeds: Feeds): number {
  const mask = feeds.attention_mask!.data as BigInt64Array;
  const [B, S] = feeds.input_ids!.dims as [number, number];
  const T = feeds.attention_mask!.dims[1]!;
  let worst = 0;
  for (const name of Object.keys(a)) {
    const [x, y] = [a[name]!.data as Float32Array, b[name]?.data as Float32Array | undefined];
    if (!y || y.length !== x.length) throw new Error(`output ${name} differs in presence or size`);
    const dims = a[name]!.dims;
    for (let i = 0; i < x.length; i++) {
      let real: boolean;
      if (dims.length === 3) {
        const width = x.length / (B * S);
        real = mask[Math.floor(i / (S * width)) * T + T - S + (Math.floor(i / width) % S)] !== 0n;
      } else {
        const [, heads, len, h] = dims as [number, number, number, number];
        real = mask[Math.floor(i / (heads * len * h)) * T + (Math.floor(i / h) % len)] !== 0n;
      }
      if (real) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
    }
  }
  return worst;
}

export interface Decoded {
  tokens: number[];
  /** The last position's logits at each step. */
  logits: Float32Array[];
}

/**
 * Greedy decoding with the cache carried across steps, as transformers.js runs a decoder (batch 1); with `forced`,
 * those tokens are fed instead of the argmax.
 */
export async function decode(
  s: ort.InferenceSession,
  model: Model,
  prompt: readonly number[],
  steps: number,
  forced?: readonly number[],
): Promise<Decoded> {
  const { kvHeads, headSize } = kvShape(model);
  const pastNames = model.graph.inputs.filter((i) => i.name.startsWith('past_key_values.')).map((i) => i.name);
  const merged = model.graph.inputs.some((i) => i.name === 'use_cache_branch');
  const feeds: Feeds = {};
  for (const n of pastNames) feeds[n] = new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headSize]);
  let ids = [...prompt];
  let past = 0;
  const decoded: Decoded = { tokens: [], logits: [] };
  for (let step = 0; step < steps; step++) {
    feeds.input_ids = new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
    feeds.attention_mask = new ort.Tensor('int64', new BigInt64Array(past + ids.length).fill(1n), [
      1,
      past + ids.length,
    ]);
    feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(past + i))), [
      1,
      ids.length,
    ]);
    if (merged) feeds.use_cache_branch = new ort.Tensor('bool', Uint8Array.from([past > 0 ? 1 : 0]), [1]);
    const out = await s.run(feeds);
    const vocab = out.logits!.dims[2]!;
    const last = (out.logits!.data as Float32Array).slice((ids.length - 1) * vocab, ids.length * vocab);
    decoded.logits.push(last);
    decoded.tokens.push(argmax(last));
    past += ids.length;
    ids = [forced ? forced[step]! : decoded.tokens.at(-1)!];
    for (const n of pastNames) feeds[n] = out[n.replace('past_key_values.', 'present.')]!;
  }
  return decoded;
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** The fixture's test cases (b1, b2, left-padded, prompts): inputs and torch's outputs, from `dir`. */
export function cases(
  dir: string,
  name: string,
): { label: string; feeds: Feeds; expected: Record<string, ort.Tensor> }[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(`${name}.`) && f.endsWith('.expected.npz'))
    .map((f) => f.slice(name.length + 1, -'.expected.npz'.length))
    .map((label) => ({
      label,
      feeds: npzFeeds(`${dir}/${name}.${label}.inputs.npz`),
      expected: npzFeeds(`${dir}/${name}.${label}.expected.npz`),
    }));
}
