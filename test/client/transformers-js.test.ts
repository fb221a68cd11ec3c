// A real client: folders made by `onnx-opt transformers-js` loaded by @huggingface/transformers (local files only),
// every dtype, and every variant run in onnxruntime-web's WASM backend in Node.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, pipeline } from '@huggingface/transformers';
import * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTransformersJsFolder, MODES, SUFFIX } from '../../src/transformers-js.js';
import { writeTokenizer } from './tokenizer.js';

const root = mkdtempSync(join(tmpdir(), 'onnx-opt-client-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = root;
ortWeb.env.wasm.numThreads = 1;

const DTYPES = ['fp32', ...MODES.map((m) => (m === 'q8' ? 'q8' : m))] as const;
const fileOf = (base: string, dtype: string) => `${base}${dtype === 'fp32' ? '' : SUFFIX[dtype as keyof typeof SUFFIX]}.onnx`;

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(aa * bb);
}

/** Every variant loads and runs in onnxruntime-web (WASM) with zero-filled inputs of its declared types. */
async function runsInWasm(path: string, feeds: Record<string, ortWeb.Tensor>): Promise<void> {
  const session = await ortWeb.InferenceSession.create(new Uint8Array(readFileSync(path)), { executionProviders: ['wasm'] });
  const out = await session.run(Object.fromEntries(session.inputNames.map((n) => [n, feeds[n]!])));
  expect(Object.keys(out).length).toBeGreaterThan(0);
  await session.release();
}

describe('transformers.js: feature-extraction on an encoder folder', () => {
  const name = 'bert-folder';
  beforeAll(() => {
    const dir = join(root, name);
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    copyFileSync('fixtures/bert-eager-ts14.onnx', join(dir, 'onnx', 'model.onnx'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', architectures: ['BertModel'], vocab_size: 512, hidden_size: 64 }));
    writeTokenizer(dir, 512, true);
    makeTransformersJsFolder(dir);
  }, 120_000);

  const texts = ['hello world, the model is small and fast.', 'a block of weight value token'];
  let reference: number[][] = [];
  for (const dtype of DTYPES) {
    it(`${dtype}: embeddings cosine >= 0.99 against fp32`, async () => {
      const extractor = await pipeline('feature-extraction', name, { dtype: dtype as 'fp32', device: 'cpu' });
      const out = await extractor(texts, { pooling: 'mean', normalize: true });
      const rows = out.tolist() as number[][];
      if (dtype === 'fp32') reference = rows;
      for (let i = 0; i < rows.length; i++) expect(cosine(rows[i]!, reference[i]!), `${dtype} text ${i}`).toBeGreaterThanOrEqual(0.99);
      await extractor.dispose();
    });
  }

  it('every variant runs in onnxruntime-web (WASM)', async () => {
    const ids = new ortWeb.Tensor('int64', BigInt64Array.from([2n, 40n, 41n, 3n]), [1, 4]);
    const ones = new ortWeb.Tensor('int64', BigInt64Array.from([1n, 1n, 1n, 1n]), [1, 4]);
    const zeros = new ortWeb.Tensor('int64', new BigInt64Array(4), [1, 4]);
    for (const dtype of DTYPES) await runsInWasm(join(root, name, 'onnx', fileOf('model', dtype)), { input_ids: ids, attention_mask: ones, token_type_ids: zeros });
  });
});
