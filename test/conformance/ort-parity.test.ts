// Test cases of ONNX's backend data that come with inputs (the node tests, and the pytorch and simple models): the
// model we write must behave in onnxruntime-node exactly (bit for bit) as the original does on test_data_set_0's
// inputs, and must fail to load exactly when the original does.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { readModel } from '../../src/io/read.js';
import { writeModel } from '../../src/io/write.js';
import { dataTypeName } from '../../src/tensor/dtype.js';
import { outputDifference, ortTypeOf, readOrtTensor } from '../helpers/ort-tensor.js';
import { listDataTests, type NodeTestCase } from './testdata.js';

const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  graphOptimizationLevel: 'disabled',
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  logSeverityLevel: 4, // load failures are expected and counted; keep ORT's own error log quiet
};

const cases = listDataTests();
const CHUNK = 100;
const chunks = Array.from({ length: Math.ceil(cases.length / CHUNK) }, (_, i) =>
  cases.slice(i * CHUNK, (i + 1) * CHUNK),
);
const outDir = mkdtempSync(join(tmpdir(), 'onnx-opt-conformance-'));

const counts = { cases: 0, loaded: 0, compared: 0, identical: 0 };
const skipped = new Map<string, number>();

/** Why ORT refused something, grouped coarsely so the summary stays short. */
function ortReason(message: string): string {
  const patterns: [RegExp, (m: RegExpMatchArray) => string][] = [
    [/Could not find an implementation for (\w+)\(\d+\)/, (m) => `no CPU kernel for ${m[1]}`],
    [/([\w.]+:\w+)\(-?\d+\) is not a registered function\/op/, (m) => `op ${m[1]} not registered`],
    [/Unsupported data type: (\d+)/, (m) => `unsupported data type ${dataTypeName(Number(m[1]))}`],
    [/Batchwise recurrent operations/, () => 'batchwise RNN layout'],
    [/Failed to construct locale/, () => 'locale not installed'],
    [/Non tensor type is temporarily not supported/, () => 'non-tensor output'],
  ];
  for (const [re, name] of patterns) {
    const m = message.match(re);
    if (m) return name(m);
  }
  return message.split('\n')[0]!.replaceAll(outDir, '<out>').slice(0, 100);
}

async function tryCreate(path: string): Promise<ort.InferenceSession | Error> {
  try {
    return await ort.InferenceSession.create(path, SESSION_OPTIONS);
  } catch (e) {
    return e as Error;
  }
}

async function tryRun(session: ort.InferenceSession, feeds: ort.InferenceSession.FeedsType) {
  try {
    return await session.run(feeds);
  } catch (e) {
    return e as Error;
  }
}

/** Runs one case: returns a failure message, or undefined (the case was compared or skipped, and counted). */
async function check(c: NodeTestCase): Promise<string | undefined> {
  const skip = (reason: string): undefined => void skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
  counts.cases++;
  const model = readModel(c.model);
  const writtenPath = join(outDir, `${c.name.replace('/', '-')}.onnx`);
  writeModel(model, writtenPath);

  const original = await tryCreate(c.model);
  const written = await tryCreate(writtenPath);
  try {
    if (original instanceof Error || written instanceof Error) {
      if (!(original instanceof Error))
        return `written model fails to load, original loads: ${(written as Error).message}`;
      if (!(written instanceof Error)) return `written model loads, original fails: ${original.message}`;
      return skip(`load: ${ortReason(original.message)}`);
    }
    counts.loaded++;

    const graphInputs = model.graph.inputs.filter((v) => !v.initializer);
    for (const v of graphInputs) {
      const type = v.type;
      if (type?.kind !== 'tensor') return skip(`input: ${type?.kind ?? 'untyped'} value`);
      if (!ortTypeOf(type.elemType)) return skip(`input: ${dataTypeName(type.elemType)} tensor`);
    }
    const feeds: Record<string, ort.Tensor> = {};
    c.inputs.forEach((path, i) => {
      const { name, tensor } = readOrtTensor(path);
      feeds[name || graphInputs[i]!.name] = tensor;
    });

    const expected = await tryRun(original, feeds);
    const actual = await tryRun(written, feeds);
    if (expected instanceof Error || actual instanceof Error) {
      if (!(expected instanceof Error))
        return `written model fails to run, original runs: ${(actual as Error).message}`;
      if (!(actual instanceof Error)) return `written model runs, original fails: ${expected.message}`;
      return skip(`run: ${ortReason(expected.message)}`);
    }
    counts.compared++;
    const diff = outputDifference(expected, actual);
    if (diff) return `outputs differ: ${diff}`;
    counts.identical++;
    return undefined;
  } finally {
    if (!(original instanceof Error)) await original.release();
    if (!(written instanceof Error)) await written.release();
  }
}

describe('ONNX backend test cases: written models run in onnxruntime-node exactly like the originals', () => {
  it('finds the test cases', () => {
    expect(cases.filter((c) => c.name.startsWith('node/')).length).toBeGreaterThan(900);
  });

  it.each(chunks.map((chunk) => [`${chunk[0]!.name} .. ${chunk.at(-1)!.name}`, chunk] as const))(
    '%s',
    async (_, chunk) => {
      const failures: string[] = [];
      for (const c of chunk) {
        const failure = await check(c).catch((e: Error) => `threw: ${e.message}`);
        if (failure) failures.push(`${c.name}: ${failure}`);
      }
      expect(failures).toEqual([]);
    },
  );

  afterAll(() => {
    rmSync(outDir, { recursive: true, force: true });
    const reasons = [...skipped].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${n} ${r}`);
    const skippedTotal = [...skipped.values()].reduce((a, b) => a + b, 0);
    const perFolder = new Map<string, number>();
    for (const c of cases) {
      const folder = c.name.split('/')[0]!;
      perFolder.set(folder, (perFolder.get(folder) ?? 0) + 1);
    }
    console.log(
      `conformance ORT parity: ${counts.cases} test cases (${[...perFolder].map(([f, n]) => `${n} ${f}`).join(', ')}), ` +
        `${counts.loaded} loaded, ${counts.compared} compared, ` +
        `${counts.identical} identical, ${skippedTotal} skipped (${reasons.join('; ')})`,
    );
  });
});
