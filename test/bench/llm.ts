// `npm run bench -- llm`: the llama-100m decoder in fp32, q8 and q4 forms: decode speed, sizes, tool time.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readModel } from '../../src/io/read.js';
import { shapeOf } from '../../src/ir/types.js';
import type { Feeds } from '../../src/runtime/host-tensor.js';
import { loadModel } from '../../src/runtime/session.js';
import { DataType } from '../../src/tensor/dtype.js';
import { CLI, OUT, clean, median, sizeOf, wallMs } from './common.js';
import { lcg } from '../kit/random.js';
import { materialize } from './materialize.js';

/** A KV-cache decoder's feeds for one new token after `past` tokens: ids, mask, positions, random past keys/values. */
export function decodeFeeds(model: ReturnType<typeof readModel>, past: number): Feeds {
  const feeds: Feeds = {};
  const next = lcg(7);
  const random = () => next() - 0.5;
  for (const input of model.graph.inputs) {
    const dims = shapeOf(input.type) ?? [];
    if (input.name === 'input_ids')
      feeds[input.name] = { dataType: DataType.INT64, dims: [1, 1], data: BigInt64Array.from([42n]) };
    else if (input.name === 'attention_mask')
      feeds[input.name] = { dataType: DataType.INT64, dims: [1, past + 1], data: new BigInt64Array(past + 1).fill(1n) };
    else if (input.name === 'position_ids')
      feeds[input.name] = { dataType: DataType.INT64, dims: [1, 1], data: BigInt64Array.from([BigInt(past)]) };
    else if (input.name.startsWith('past_key_values.')) {
      const shape = [1, Number(dims[1]), past, Number(dims[3])];
      feeds[input.name] = {
        dataType: DataType.FLOAT,
        dims: shape,
        data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, random),
      };
    } else throw new Error(`decode bench: no feed for input '${input.name}'`);
  }
  return feeds;
}

/**
 * The llama-100m decoder (test/bench/models) as transformers.js ships LLMs: fp32, q8 (transformers.js's rules for a
 * llama: int8, per tensor, full range) and q4 (block 32 symmetric; and with accuracy level 4, int8 activations).
 * Decode speed at context 128 (one new token after 127) in onnxruntime-node, 2 threads, interleaved; file sizes;
 * and q4's tool time against a plain read+write of the same model.
 */
export async function benchLlm(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const name = 'llama-100m';
  const raw = materialize(name);
  const made = (suffix: string, passes: string[]) => {
    const out = join(OUT, `${name}.${suffix}.onnx`);
    execFileSync(process.execPath, [CLI, ...passes, raw, out], { stdio: 'ignore' });
    return out;
  };
  const variants: [string, string][] = [
    ['fp32', raw],
    [
      'q8',
      made('q8', [
        'quantize',
        '--weight-type',
        'int8',
        '--no-per-channel',
        '--no-reduce-range',
        '--ops',
        'MatMul,Attention,Conv,EmbedLayerNormalization,Gather',
      ]),
    ],
    ['q4', made('q4', ['q4'])],
    ['q4 accuracy 4', made('q4acc4', ['q4', '--accuracy-level', '4'])],
    ['q4 +Gather', made('q4gather', ['q4', '--ops', 'MatMul,Gemm,Gather'])],
  ];
  const fp32Size = sizeOf(raw);
  console.log(
    `sizes ${name}: ` +
      variants
        .map(
          ([label, path]) =>
            `${label} ${(sizeOf(path) / 2 ** 20).toFixed(0)} MiB (${(sizeOf(path) / fp32Size).toFixed(3)}x)`,
        )
        .join(', '),
  );

  const jobs: [string, string[]][] = [
    ['read+write', []],
    ['q4', ['q4']],
  ];
  const times = new Map<string, number[]>(jobs.map(([label]) => [label, []]));
  for (let round = 0; round < 3; round++) {
    for (const [label, passes] of jobs) {
      const out = join(OUT, `${name}.tool.onnx`);
      times.get(label)!.push(wallMs([CLI, ...passes, raw, out]));
      clean(out);
    }
  }
  const base = median(times.get('read+write')!);
  console.log(
    `tools ${name}: read+write ${(base / 1000).toFixed(2)} s, q4 ${(median(times.get('q4')!) / 1000).toFixed(2)} s (${(median(times.get('q4')!) / base).toFixed(2)}x)`,
  );

  const skeleton = readModel(raw, { checkExternal: false });
  const feeds = decodeFeeds(skeleton, 127);
  const sessions: { label: string; loaded: Awaited<ReturnType<typeof loadModel>>; ms: number[] }[] = [];
  for (const [label, path] of variants) sessions.push({ label, loaded: await loadModel(path, { threads: 2 }), ms: [] });
  // Decoding runs one session token after token: each model runs 8 steps in a row (the first, which pays for the
  // switch from another model's weights in the caches, is not counted), models taking turns over 6 rounds.
  for (let round = 0; round < 6; round++) {
    for (const s of sessions) {
      for (let step = 0; step < 8; step++) {
        const t0 = performance.now();
        await s.loaded.run(feeds);
        if (step > 0) s.ms.push(performance.now() - t0);
      }
    }
  }
  const tps = (s: (typeof sessions)[number]) => 1000 / median(s.ms);
  const [fp32, q8] = [sessions[0]!, sessions[1]!];
  console.log(
    `decode ${name} context 128, onnxruntime-node, 2 threads: ` +
      sessions
        .map(
          (s) =>
            `${s.label} ${tps(s).toFixed(1)} tokens/s (${(tps(s) / tps(fp32)).toFixed(2)}x fp32, ${(tps(s) / tps(q8)).toFixed(2)}x q8)`,
        )
        .join(', '),
  );
  for (const s of sessions) await s.loaded.release();
}
