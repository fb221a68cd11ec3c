// `npm run bench -- decoder`: the ~100M Llama-shaped decoder with a KV cache (test/bench/models/llama-100m, seeded
// random weights): one-token decode speed at context 128 and 1024 in onnxruntime-node (2 threads), the export
// against onnx-opt's `fuse` output and onnxruntime's Python optimizer output (llama-100m.ort, made with the skeleton);
// and `fuse` time against a plain read+write, on that decoder and on bert-base. Side by side, interleaved, medians.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readModel } from '../../src/io/read.js';
import { loadModel } from '../../src/runtime/session.js';
import { CLI, OUT, clean, cpuLine, median, wallMs } from './common.js';
import { decodeFeeds } from './llm.js';
import { materialize } from './materialize.js';

/**
 * `fuse` against read+write of the same model, 5 interleaved rounds, medians: writing the ~400 MB of weights takes
 * 0.1 to 0.9 s from one run to the next on this machine (five read+writes in a row: 0.39 to 1.10 s), more than
 * `fuse`'s passes take, so three rounds left the median to chance.
 */
function toolTimes(name: string, input: string): void {
  const out = join(OUT, `${name}.tool.onnx`);
  const times: Record<string, number[]> = { 'read+write': [], fuse: [] };
  for (let round = 0; round < 5; round++)
    for (const [label, passes] of [
      ['read+write', []],
      ['fuse', ['fuse']],
    ] as const) {
      times[label]!.push(wallMs([CLI, ...passes, input, out]));
      clean(out);
    }
  const [rw, fuse] = [median(times['read+write']!), median(times.fuse!)];
  console.log(
    `tools ${name}: read+write ${(rw / 1000).toFixed(2)} s, fuse ${(fuse / 1000).toFixed(2)} s (${(fuse / rw).toFixed(2)}x)`,
  );
}

export async function benchDecoder(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  console.log(`decoder: ${cpuLine()}`);
  const raw = materialize('llama-100m');
  const ortOptimized = materialize('llama-100m.ort');
  const fused = join(OUT, 'llama-100m.fused.onnx');
  execFileSync(process.execPath, [CLI, 'fuse', raw, fused], { stdio: 'ignore' });
  toolTimes('llama-100m', raw);
  toolTimes('bert-base', materialize('bert-base'));

  const variants: [string, string][] = [
    ['export', raw],
    ['onnx-opt fuse', fused],
    ["onnxruntime's optimizer", ortOptimized],
  ];
  const sessions = [];
  for (const [label, path] of variants) sessions.push({ label, loaded: await loadModel(path, { threads: 2 }) });
  for (const context of [128, 1024]) {
    const feeds = decodeFeeds(readModel(raw, { checkExternal: false }), context - 1);
    const ms = sessions.map(() => [] as number[]);
    // each model decodes 8 steps in a row (the first, paying for the switch of weights in the caches, not counted),
    // models taking turns over 6 rounds
    for (let round = 0; round < 6; round++)
      for (const [i, s] of sessions.entries())
        for (let step = 0; step < 8; step++) {
          const t0 = performance.now();
          await s.loaded.run(feeds);
          if (step > 0) ms[i]!.push(performance.now() - t0);
        }
    const tps = ms.map((m) => 1000 / median(m));
    console.log(
      `decode llama-100m context ${context}, onnxruntime-node, 2 threads: ` +
        sessions
          .map((s, i) => `${s.label} ${tps[i]!.toFixed(2)} tokens/s (${(tps[i]! / tps[0]!).toFixed(2)}x export)`)
          .join(', '),
    );
  }
  for (const s of sessions) await s.loaded.release();
}
