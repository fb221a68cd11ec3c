// The passes on every ONNX backend test model: `fuse` (cleanup, folding, every fusion) never fails and keeps what
// onnxruntime-node computes on test_data_set_0; `quantize` and `fp16` either work or refuse with OnnxOptError.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { fp16Pass } from '../../passes/fp16.js';
import { fusePass } from '../../passes/fuse.js';
import { quantizePass } from '../../passes/quantize.js';
import { OnnxOptError } from '../../src/errors.js';
import { readModel } from '../../src/io/read.js';
import { writeModel } from '../../src/io/write.js';
import type { Pass } from '../../src/pipeline.js';
import { ortTypeOf, readOrtTensor } from '../helpers/ort-tensor.js';
import { listDataTests, type NodeTestCase } from './testdata.js';

const SESSION: ort.InferenceSession.SessionOptions = {
  graphOptimizationLevel: 'disabled',
  intraOpNumThreads: 1,
  logSeverityLevel: 4,
};
const cases = listDataTests();
const CHUNK = 150;
const chunks = Array.from({ length: Math.ceil(cases.length / CHUNK) }, (_, i) =>
  cases.slice(i * CHUNK, (i + 1) * CHUNK),
);
const outDir = mkdtempSync(join(tmpdir(), 'onnx-opt-passes-'));
const counts = { cases: 0, changed: 0, compared: 0, refused: { quantize: 0, fp16: 0 } };

const run = (pass: Pass, path: string) => {
  const model = readModel(path);
  return { model, result: pass.run(model, { options: {}, log: () => {} }) };
};

async function session(path: string): Promise<ort.InferenceSession | undefined> {
  try {
    return await ort.InferenceSession.create(path, SESSION);
  } catch {
    return undefined;
  }
}

/** Floats within 1e-4 (absolute plus relative), everything else exactly. */
function differs(a: ort.InferenceSession.ReturnType, b: ort.InferenceSession.ReturnType): string | undefined {
  for (const name of Object.keys(a)) {
    const x = a[name]!,
      y = b[name];
    if (!y || x.type !== y.type || x.dims.join() !== y.dims.join()) return `${name}: type or shape differs`;
    const float = x.type === 'float32' || x.type === 'float64';
    const xs = x.data as ArrayLike<unknown>,
      ys = y.data as ArrayLike<unknown>;
    for (let i = 0; i < xs.length; i++) {
      const p = xs[i],
        q = ys[i];
      const same = float
        ? (Number.isNaN(p) && Number.isNaN(q)) ||
          p === q ||
          Math.abs((p as number) - (q as number)) <= 1e-4 * (1 + Math.abs(p as number))
        : p === q;
      if (!same) return `${name}[${i}]: ${String(p)} vs ${String(q)}`;
    }
  }
  return undefined;
}

async function checkFuse(c: NodeTestCase): Promise<string | undefined> {
  counts.cases++;
  const { model, result } = run(fusePass, c.model);
  if (!result.changed) return undefined;
  counts.changed++;
  const path = join(outDir, `${c.name.replace('/', '-')}.onnx`);
  writeModel(model, path);
  const original = await session(c.model);
  if (!original) return undefined;
  const fused = await session(path);
  try {
    if (!fused) return 'the fused model fails to load where the original loads';
    const inputs = model.graph.inputs.filter((v) => !v.initializer);
    if (inputs.some((v) => v.type?.kind !== 'tensor' || !ortTypeOf(v.type.elemType))) return undefined;
    const feeds: Record<string, ort.Tensor> = {};
    c.inputs.forEach((p, i) => {
      const { name, tensor } = readOrtTensor(p);
      feeds[name || inputs[i]!.name] = tensor;
    });
    let expected: ort.InferenceSession.ReturnType;
    try {
      expected = await original.run(feeds);
    } catch {
      return undefined;
    }
    counts.compared++;
    return differs(expected, await fused.run(feeds));
  } finally {
    await original.release();
    await fused?.release();
  }
}

describe('passes on the ONNX backend test models', () => {
  it.each(chunks.map((chunk) => [`${chunk[0]!.name} .. ${chunk.at(-1)!.name}`, chunk] as const))(
    'fuse keeps outputs: %s',
    async (_, chunk) => {
      const failures: string[] = [];
      for (const c of chunk) {
        const failure = await checkFuse(c).catch((e: Error) => `threw ${e.name}: ${e.message}`);
        if (failure) failures.push(`${c.name}: ${failure}`);
      }
      expect(failures).toEqual([]);
    },
  );

  it('quantize and fp16 work or refuse with OnnxOptError, nothing else', () => {
    const failures: string[] = [];
    for (const c of cases) {
      for (const [key, pass] of [
        ['quantize', quantizePass],
        ['fp16', fp16Pass],
      ] as const) {
        try {
          run(pass, c.model);
        } catch (e) {
          if (e instanceof OnnxOptError) counts.refused[key]++;
          else failures.push(`${c.name} ${key}: ${(e as Error).name}: ${(e as Error).message}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  afterAll(() => {
    rmSync(outDir, { recursive: true, force: true });
    console.log(
      `passes on backend models: ${counts.cases} cases, fuse changed ${counts.changed}, ${counts.compared} of those compared in onnxruntime ` +
        `(all within 1e-4); refused with a reason: quantize ${counts.refused.quantize}, fp16 ${counts.refused.fp16}`,
    );
  });
});
