// `npm run bench -- targets`: latency per runtime target, side by side in one run. Each model's export and what
// onnx-opt writes for each `--target` (plus INT8 and FP16) are timed in onnxruntime-node (the cpu target) and in
// onnxruntime-web's WASM backend (the wasm target): batch 1, sequence 128, 2 threads, interleaved within each
// runtime. WebGPU and CUDA cannot be measured on this machine; their forms run here only to show what they cost on a
// CPU. Fixtures run too (tiny, so fixed costs dominate them).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { benchmark } from '../../src/runtime/bench.js';
import { CLI, OUT, clean, cpuLine } from './common.js';
import { materialize } from './materialize.js';

const FIXTURES = ['bert-eager-ts14', 'gpt2-eager-ts14', 't5-eager-ts14'];
const FORMS: [string, string[]][] = [
  ['cpu/wasm: fuse', ['fuse', '--target', 'cpu']],
  ['cuda: fuse', ['fuse', '--target', 'cuda']],
  ['webgpu: fuse', ['fuse', '--target', 'webgpu']],
  ['fuse quantize', ['fuse', 'quantize', '--target', 'cpu']],
  ['fuse fp16', ['fuse', 'fp16', '--target', 'cuda']],
];

/** `models`: seed models (../shared/models) or fixtures (fixtures/<name>.onnx); default bert-base and three fixtures. */
export async function benchTargets(models: string[] = ['bert-base', ...FIXTURES]): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  console.log(`targets: ${cpuLine()}`);
  for (const name of models) {
    const fixture = existsSync(`fixtures/${name}.onnx`);
    const raw = fixture ? `fixtures/${name}.onnx` : materialize(name);
    const made = FORMS.map(([, argv], i) => {
      const out = join(OUT, `${name}.target${i}.onnx`);
      execFileSync(process.execPath, [CLI, ...argv, raw, out], { stdio: 'ignore' });
      return out;
    });
    const labels = ['export', ...FORMS.map(([label]) => label)];
    const iterations = fixture ? 30 : 10;
    for (const runtime of ['node', 'web'] as const) {
      const r = await benchmark([raw, ...made], {
        runtime,
        sequence: 128,
        threads: 2,
        warmup: 2,
        iterations,
        batches: [1],
        labels,
      });
      const [reference, ...ours] = r.results;
      console.log(
        `targets ${name} ${runtime === 'node' ? 'onnxruntime-node CPU' : 'onnxruntime-web WASM'}: export p50 ${reference!.p50.toFixed(1)} ms, ` +
          ours
            .map((o, i) => `${labels[i + 1]} ${o.p50.toFixed(1)} ms (${(o.p50 / reference!.p50).toFixed(2)}x)`)
            .join(', '),
      );
    }
    for (const out of made) clean(out);
  }
}
