// Where q4's decode time goes: onnxruntime-node's profiler over decode steps of the llama-100m decoder at context 128
// (one new token after 127), fp32 and q4 (block 32 symmetric; and accuracy level 4), time summed per op type.
//   node --import ./test/helpers/run-ts.mjs test/bench/profile-q4.ts [steps]
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { q4Pass } from '../../passes/q4.js';
import { readModel } from '../../src/io/read.js';
import { writeModel } from '../../src/io/write.js';
import { OUT } from './common.js';
import { decodeFeeds } from './llm.js';
import { materialize } from './materialize.js';
import { ortFeeds, profileRuns } from './ort-profile.js';

const steps = Number(process.argv[2] ?? 20);
mkdirSync(OUT, { recursive: true });
const raw = materialize('llama-100m');
const variants: [string, string][] = [['fp32', raw]];
for (const [label, options] of [
  ['q4', {}],
  ['q4 accuracy 4', { accuracyLevel: 4 }],
] as const) {
  const model = readModel(raw);
  q4Pass.run(model, { options, log: () => {} });
  const out = join(OUT, `llama-100m.profile-${label.replace(/ /g, '-')}.onnx`);
  writeModel(model, out);
  variants.push([label, out]);
}

const feeds = ortFeeds(decodeFeeds(readModel(raw, { checkExternal: false }), 127));
for (const [label, path] of variants) {
  const prefix = `profile-${label.replace(/ /g, '-')}`;
  const { runs, kernels: nodeEvents } = await profileRuns(path, feeds, steps, prefix);
  const perOp = new Map<string, number>();
  for (const e of nodeEvents) perOp.set(e.args?.op_name ?? '?', (perOp.get(e.args?.op_name ?? '?') ?? 0) + e.dur);
  const total = [...perOp.values()].reduce((a, b) => a + b, 0);
  const median = runs[runs.length >> 1]! / 1000;
  const top = [...perOp]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([op, us]) => `${op} ${((100 * us) / total).toFixed(1)}% (${(us / steps / 1000).toFixed(1)} ms)`);
  const count = (op: string) => nodeEvents.filter((e) => e.args?.op_name === op).length / steps;
  console.log(
    `${label}: model_run median ${median.toFixed(2)} ms over ${runs.length} steps; ${nodeEvents.length / steps} kernels a step ` +
      `(${count('MatMul') + count('MatMulNBits')} MatMul/MatMulNBits); kernel time a step by op: ${top.join(', ')}`,
  );
}
