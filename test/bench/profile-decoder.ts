// Where the llama-100m decoder's decode time goes at context 128 and 1024 (one new token after the cache), export vs
// onnx-opt's `fuse` output: onnxruntime-node's profiler, kernel time per step split into MatMuls with a weight (the
// projections and the LM head, which no attention fusion changes) and everything else. The ratio total / weight
// MatMuls bounds what any fusion of the rest can gain (issue 11's 1.3x goal at context 1024).
//   npm run build && node dist/test/bench/profile-decoder.js [steps]
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readModel } from '../../src/io/read.js';
import { CLI, OUT, cpuLine } from './common.js';
import { decodeFeeds } from './llm.js';
import { materialize } from './materialize.js';
import { ortFeeds, profileRuns } from './ort-profile.js';

const steps = Number(process.argv[2] ?? 20);
mkdirSync(OUT, { recursive: true });
console.log(`profile-decoder: ${cpuLine()}`);
const raw = materialize('llama-100m');
const fused = join(OUT, 'llama-100m.profile-fused.onnx');
execFileSync(process.execPath, [CLI, 'fuse', raw, fused], { stdio: 'ignore' });

/** Names of MatMul/Gemm nodes whose second input is a weight (an initializer). */
function weightMatMuls(path: string): Set<string> {
  const model = readModel(path, { checkExternal: false });
  return new Set(
    model.graph.nodes
      .filter((n) => (n.opType === 'MatMul' || n.opType === 'Gemm') && n.inputs[1]?.initializer)
      .map((n) => n.name),
  );
}

for (const context of [128, 1024]) {
  const feeds = ortFeeds(decodeFeeds(readModel(raw, { checkExternal: false }), context - 1));
  for (const [label, path] of [
    ['export', raw],
    ['fuse', fused],
  ] as const) {
    const weights = weightMatMuls(path);
    const prefix = `profile-decoder-${label}-${context}`;
    const { runs, kernels } = await profileRuns(path, feeds, steps, prefix);
    let [weight, rest] = [0, 0];
    const perOp = new Map<string, number>();
    for (const e of kernels) {
      const node = e.name.slice(0, -'_kernel_time'.length);
      if (weights.has(node)) weight += e.dur;
      else {
        rest += e.dur;
        perOp.set(e.args?.op_name ?? '?', (perOp.get(e.args?.op_name ?? '?') ?? 0) + e.dur);
      }
    }
    const ms = (us: number) => (us / steps / 1000).toFixed(2);
    const top = [...perOp]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([op, us]) => `${op} ${ms(us)}`);
    console.log(
      `context ${context} ${label}: model_run median ${(runs[runs.length >> 1]! / 1000).toFixed(2)} ms; kernel time a step ${ms(weight + rest)} ms = weight MatMuls ${ms(weight)} ms ` +
        `(${((100 * weight) / (weight + rest)).toFixed(0)}%) + the rest ${ms(rest)} ms [${top.join(', ')}]; ` +
        `a fusion of the rest gains at most ${((weight + rest) / weight).toFixed(2)}x`,
    );
  }
}
