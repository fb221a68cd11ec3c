// fp16 on every decoder fixture, merged ones included (the If's branches read outer weights that become float16,
// and declare them in their value_info): onnxruntime loads the result and runs every test case, with logits and
// cache on the rows of real tokens close to torch's float32 ones.
import { existsSync, readdirSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fp16Pass } from '../../passes/fp16.js';
import { readModel } from '../../src/io/read.js';
import { checkParity } from '../../src/runtime/parity.js';
import { runPass, withSessions } from '../kit/index.js';
import { cases, realRowsDifference } from './decoder-helpers.js';

const DIR = 'fixtures/decoders';
/** onnxruntime cannot run this export itself (see decoder-fixtures.test.ts). */
const BROKEN = new Set(['cohere-sdpa-ts17']);
const names = existsSync(DIR)
  ? readdirSync(DIR)
      .filter((f) => f.endsWith('.onnx'))
      .map((f) => f.slice(0, -'.onnx'.length))
      .filter((n) => !BROKEN.has(n))
      .sort()
  : [];

/** Largest magnitude of a case's outputs, what a float16 error is measured against. */
function peak(outputs: Record<string, ort.Tensor>): number {
  let worst = 0;
  for (const t of Object.values(outputs)) for (const x of t.data as Float32Array) worst = Math.max(worst, Math.abs(x));
  return worst;
}

const withCases = names.filter((n) => cases(DIR, n).length > 0);

describe('fp16 on the decoder fixtures', () => {
  it.each(withCases)('%s converts, loads and runs every case close to float32', async (name) => {
    const model = readModel(`${DIR}/${name}.onnx`);
    runPass(fp16Pass, model);
    const errors: string[] = [];
    await withSessions([model], 'disabled', async ([session]) => {
      for (const c of cases(DIR, name)) {
        const got = await session!.run(c.feeds);
        const relative = realRowsDifference(c.expected, got, c.feeds) / peak(c.expected);
        errors.push(`${c.label} ${relative.toExponential(1)}`);
        expect(relative, `${name} ${c.label}`).toBeLessThan(1e-2);
      }
    });
    console.log(`${name}: ${errors.join(', ')}`);
  });

  // Whisper's merged decoder has no recorded cases: generated inputs (a short sequence, its positions table holds 32)
  it.each(names.filter((n) => !withCases.includes(n)))(
    '%s converts and keeps a cosine of 0.999 on generated inputs',
    async (name) => {
      const model = readModel(`${DIR}/${name}.onnx`);
      const converted = readModel(`${DIR}/${name}.onnx`);
      runPass(fp16Pass, converted);
      const report = await checkParity(model, converted, { minCosine: 0.999, sequence: 8, samples: 2 });
      expect(report.pass, JSON.stringify(report.outputs)).toBe(true);
    },
  );
});
