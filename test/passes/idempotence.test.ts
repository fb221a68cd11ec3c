// Idempotence: every pass, run on its own output, gives byte-identical output the second time, on every model the
// fixtures hold (raw exports, onnxruntime-optimized and INT8 forms, digits, cnn).
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { allPasses } from '../../passes/index.js';
import { readModelBytes } from '../../src/io/read.js';
import type { Pass } from '../../src/pass/index.js';
import { encodeModel } from '../../src/serde/encode.js';

const fixtures = readdirSync('fixtures')
  .filter((f) => f.endsWith('.onnx'))
  .sort();

function once(pass: Pass, bytes: Uint8Array): Uint8Array {
  const model = readModelBytes(bytes);
  pass.run(model, { options: {}, log: () => {} });
  return encodeModel(model);
}

/** The first differing byte, for a readable failure. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.byteLength === b.byteLength ? -1 : n;
}

describe.each(allPasses.map((p) => [p.name, p] as const))('%s twice', (_, pass) => {
  it.each(fixtures)(
    '%s',
    (file) => {
      let first: Uint8Array;
      try {
        first = once(pass, readFileSync(`fixtures/${file}`));
      } catch (e) {
        // A pass may refuse a model (quantize an INT8 one, say); refusing its own output is what must not happen.
        expect((e as Error).name).toBe('OnnxOptError');
        return;
      }
      let second: Uint8Array;
      try {
        second = once(pass, first);
      } catch (e) {
        // Only a lossy pass may refuse its own output, clearly (quantizing twice would compound the loss).
        expect((e as Error).name).toBe('OnnxOptError');
        expect(pass.lossy, (e as Error).message).toBe(true);
        return;
      }
      expect(firstDifference(first, second), `${pass.name} on ${file}: outputs differ`).toBe(-1);
    },
    120_000,
  );
});
