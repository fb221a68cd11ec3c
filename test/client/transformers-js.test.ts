// A real client: folders made by `onnx-opt transformers-js` loaded by @huggingface/transformers (local files only),
// every dtype, and every variant run in onnxruntime-web's WASM backend in Node.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, env, pipeline, type Tensor } from '@huggingface/transformers';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { readModel } from '../../src/io/read.js';
import { existingChunks, writeModel } from '../../src/io/write.js';
import { makeTransformersJsFolder, MODES, SUFFIX } from '../../src/transformers-js.js';
import { cosine } from '../kit/ort.js';
import { writeTokenizer } from './tokenizer.js';
import { tempFolder } from '../kit/temp.js';

const root = tempFolder('client');
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = root;
ortWeb.env.wasm.numThreads = 1;

const DTYPES = ['fp32', ...MODES.map((m) => (m === 'q8' ? 'q8' : m))] as const;
const fileOf = (base: string, dtype: string) =>
  `${base}${dtype === 'fp32' ? '' : SUFFIX[dtype as keyof typeof SUFFIX]}.onnx`;

/** Every variant loads and runs in onnxruntime-web (WASM) with zero-filled inputs of its declared types. */
async function runsInWasm(path: string, feeds: Record<string, ortWeb.Tensor>): Promise<void> {
  const session = await ortWeb.InferenceSession.create(new Uint8Array(readFileSync(path)), {
    executionProviders: ['wasm'],
  });
  const out = await session.run(Object.fromEntries(session.inputNames.map((n) => [n, feeds[n]!])));
  expect(Object.keys(out).length, path).toBeGreaterThan(0);
  for (const t of Object.values(out))
    if (t.type === 'float32') expect((t.data as Float32Array).every(Number.isFinite), path).toBe(true);
  await session.release();
}

describe('transformers.js: feature-extraction on an encoder folder', () => {
  const name = 'bert-folder';
  beforeAll(async () => {
    const dir = join(root, name);
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    copyFileSync('fixtures/bert-eager-ts14.onnx', join(dir, 'onnx', 'model.onnx'));
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ model_type: 'bert', architectures: ['BertModel'], vocab_size: 512, hidden_size: 64 }),
    );
    writeTokenizer(dir, 512, true);
    await makeTransformersJsFolder(dir);
  }, 120_000);

  const texts = ['hello world, the model is small and fast.', 'a block of weight value token'];
  let reference: number[][] = [];
  for (const dtype of DTYPES) {
    it(`${dtype}: embeddings cosine >= 0.99 against fp32`, async () => {
      const extractor = await pipeline('feature-extraction', name, { dtype: dtype as 'fp32', device: 'cpu' });
      const out = await extractor(texts, { pooling: 'mean', normalize: true });
      const rows = out.tolist() as number[][];
      if (dtype === 'fp32') reference = rows;
      for (let i = 0; i < rows.length; i++)
        expect(cosine(rows[i]!, reference[i]!), `${dtype} text ${i}`).toBeGreaterThanOrEqual(0.99);
      await extractor.dispose();
    });
  }

  it('every variant runs in onnxruntime-web (WASM)', async () => {
    const ids = new ortWeb.Tensor('int64', BigInt64Array.from([2n, 40n, 41n, 3n]), [1, 4]);
    const ones = new ortWeb.Tensor('int64', BigInt64Array.from([1n, 1n, 1n, 1n]), [1, 4]);
    const zeros = new ortWeb.Tensor('int64', new BigInt64Array(4), [1, 4]);
    for (const dtype of DTYPES)
      await runsInWasm(join(root, name, 'onnx', fileOf('model', dtype)), {
        input_ids: ids,
        attention_mask: ones,
        token_type_ids: zeros,
      });
  }, 120_000);
});

describe('transformers.js: text-generation with a KV cache on a decoder folder', () => {
  const name = 'llama-folder';
  beforeAll(async () => {
    const dir = join(root, name);
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    copyFileSync('fixtures/llama-tiny.onnx', join(dir, 'onnx', 'model.onnx'));
    const config = JSON.parse(readFileSync('fixtures/llama-tiny.config.json', 'utf8'));
    // token 2 ([CLS] here) would end generation: none ends it, so every dtype makes its 8 tokens
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ ...config, architectures: ['LlamaForCausalLM'], eos_token_id: null, pad_token_id: 0 }),
    );
    writeFileSync(
      join(dir, 'generation_config.json'),
      JSON.stringify({ bos_token_id: 1, eos_token_id: null, pad_token_id: 0 }),
    );
    writeTokenizer(dir, 512, false);
    await makeTransformersJsFolder(dir);
  }, 120_000);

  const tokens: Record<string, number[]> = {};
  for (const dtype of DTYPES) {
    it(`${dtype}: greedy decoding of 8 tokens with the cache${['q8', 'fp16'].includes(dtype) ? " equals fp32's" : ''}`, async () => {
      const tokenizer = await AutoTokenizer.from_pretrained(name);
      const model = await AutoModelForCausalLM.from_pretrained(name, { dtype: dtype as 'fp32', device: 'cpu' });
      const inputs = tokenizer('hello world, the model is');
      const out = (await model.generate({ ...inputs, max_new_tokens: 8, do_sample: false })) as Tensor;
      const ids = Array.from(out.data as BigInt64Array, Number);
      const prompt = (inputs.input_ids as Tensor).dims[1]!;
      tokens[dtype] = ids.slice(prompt);
      expect(tokens[dtype]).toHaveLength(8);
      if (dtype === 'q8' || dtype === 'fp16') expect(tokens[dtype]).toEqual(tokens.fp32);
      await model.dispose();
    });
  }

  it('every variant runs in onnxruntime-web (WASM), first step with an empty cache', async () => {
    const feeds: Record<string, ortWeb.Tensor> = {
      input_ids: new ortWeb.Tensor('int64', BigInt64Array.from([1n, 40n, 41n]), [1, 3]),
      attention_mask: new ortWeb.Tensor('int64', BigInt64Array.from([1n, 1n, 1n]), [1, 3]),
      position_ids: new ortWeb.Tensor('int64', BigInt64Array.from([0n, 1n, 2n]), [1, 3]),
    };
    for (let layer = 0; layer < 2; layer++) {
      for (const kind of ['key', 'value'])
        feeds[`past_key_values.${layer}.${kind}`] = new ortWeb.Tensor('float32', new Float32Array(0), [1, 2, 0, 16]);
    }
    for (const dtype of DTYPES) await runsInWasm(join(root, name, 'onnx', fileOf('model', dtype)), feeds);
  }, 120_000);
});

// Models over 2 GB are written as X.onnx_data, X.onnx_data_1, ... and transformers.js fetches as many chunks as
// config.json says: a small chunk size stands in for 2 GB, and the chunked folder must give the inline one's outputs.
describe('transformers.js: external data in chunks', () => {
  const CHUNK = 64 * 1024;
  const modes = ['fp16', 'q8', 'q4'] as const;
  const make = (name: string, chunked: boolean) => {
    const dir = join(root, name);
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    const base = join(dir, 'onnx', 'model.onnx');
    if (chunked)
      writeModel(readModel('fixtures/bert-eager-ts14.onnx'), base, {
        externalData: 'always',
        externalChunkBytes: CHUNK,
      });
    else copyFileSync('fixtures/bert-eager-ts14.onnx', base);
    const tjs = chunked
      ? { 'transformers.js_config': { use_external_data_format: { 'model.onnx': existingChunks(base).length } } }
      : {};
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ model_type: 'bert', architectures: ['BertModel'], ...tjs }),
    );
    writeTokenizer(dir, 512, true);
    return makeTransformersJsFolder(dir, { modes, externalChunkBytes: CHUNK });
  };
  let counts: Record<string, unknown> = {};
  beforeAll(async () => {
    await make('bert-inline', false);
    const records = await make('bert-chunked', true);
    expect(records.map((r) => r.externalChunks).every((n) => n > 1)).toBe(true);
    counts = JSON.parse(readFileSync(join(root, 'bert-chunked', 'config.json'), 'utf8'))['transformers.js_config']
      .use_external_data_format;
  }, 120_000);

  it('config.json gives each file its chunk count; every chunk is within the size (or holds one larger tensor)', () => {
    for (const file of ['model.onnx', ...modes.map((m) => fileOf('model', m))]) {
      const path = join(root, 'bert-chunked', 'onnx', file);
      const chunks = existingChunks(path);
      expect(counts[file], file).toBe(chunks.length);
      const largest = Math.max(...readModel(path).graph.initializers.map((v) => v.initializer!.byteLength));
      for (const chunk of chunks)
        expect(readFileSync(chunk).byteLength, chunk).toBeLessThanOrEqual(Math.max(CHUNK, largest));
    }
  });

  for (const dtype of ['fp32', ...modes]) {
    it(`${dtype}: transformers.js loads the chunked model; the same embeddings as the inline one`, async () => {
      const texts = ['hello world, the model is small and fast.'];
      const embed = async (name: string) => {
        const extractor = await pipeline('feature-extraction', name, { dtype: dtype as 'fp32', device: 'cpu' });
        const rows = (await extractor(texts, { pooling: 'mean', normalize: true })).tolist() as number[][];
        await extractor.dispose();
        return rows;
      };
      expect(await embed('bert-chunked')).toEqual(await embed('bert-inline'));
    });
  }
});

// `--fuse`: the fused contrib ops (Attention, EmbedLayerNormalization, SkipLayerNormalization, the Gelu family, and
// their quantized forms) must load in both runtimes transformers.js uses. On these families every one does, so
// --fuse runs the whole `fuse` in every mode.
describe('transformers-js --fuse: every fused variant runs in onnxruntime-node and onnxruntime-web (WASM)', () => {
  const feedsFor = (names: readonly string[]): Record<string, [string, ArrayLike<number | bigint>, number[]]> =>
    Object.fromEntries(
      names.map((n) => {
        if (n.startsWith('past_key_values')) return [n, ['float32', new Float32Array(0), [1, 2, 0, 16]]];
        if (n === 'pixel_values') return [n, ['float32', new Float32Array(3 * 32 * 32).fill(0.5), [1, 3, 32, 32]]];
        const values =
          n === 'token_type_ids'
            ? [0n, 0n, 0n]
            : n === 'attention_mask'
              ? [1n, 1n, 1n]
              : n === 'position_ids'
                ? [0n, 1n, 2n]
                : [2n, 40n, 3n];
        return [n, ['int64', BigInt64Array.from(values), [1, 3]]];
      }),
    );
  for (const [fixture, modelType] of [
    ['bert-eager-ts14', 'bert'],
    ['vit-eager-ts14', 'vit'],
    ['gpt2-eager-ts14', 'gpt2'],
    ['llama-tiny', 'llama'],
  ]) {
    it(`${fixture}`, async () => {
      const dir = join(root, `${fixture}-fused`);
      mkdirSync(join(dir, 'onnx'), { recursive: true });
      copyFileSync(`fixtures/${fixture}.onnx`, join(dir, 'onnx', 'model.onnx'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: modelType }));
      await makeTransformersJsFolder(dir, { fuse: true });
      for (const dtype of DTYPES) {
        const path = join(dir, 'onnx', fileOf('model', dtype));
        const node = await ortNode.InferenceSession.create(path);
        const feeds = feedsFor(node.inputNames);
        const nodeOut = await node.run(
          Object.fromEntries(
            Object.entries(feeds).map(([n, [t, d, dims]]) => [
              n,
              new ortNode.Tensor(t as 'int64', d as BigInt64Array, dims),
            ]),
          ),
        );
        await node.release();
        await runsInWasm(
          path,
          Object.fromEntries(
            Object.entries(feeds).map(([n, [t, d, dims]]) => [
              n,
              new ortWeb.Tensor(t as 'int64', d as BigInt64Array, dims),
            ]),
          ),
        );
        expect(Object.keys(nodeOut).length, path).toBeGreaterThan(0);
      }
    }, 120_000);
  }
});
