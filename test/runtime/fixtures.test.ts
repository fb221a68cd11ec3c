// The runtime tools on the exported fixtures: numpy files in, onnxruntime outputs equal to the ones Python
// recorded, generated inputs every export accepts, and the digits accuracies the generator measured.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readNpz } from '../../src/io/npz.js';
import { readModel } from '../../src/io/read.js';
import { OutputComparer } from '../../src/runtime/compare.js';
import { readDataset } from '../../src/runtime/data-files.js';
import { gateAccuracy } from '../../src/runtime/gate.js';
import { describeInputs, generateInputs } from '../../src/runtime/inputs.js';
import { loadModel } from '../../src/runtime/session.js';
import { fixture, haveFixtures } from './helpers.js';

const FAMILIES = ['bert', 'roberta', 'distilbert', 'gpt2', 'vit'];
const VARIANTS = FAMILIES.flatMap((f) =>
  ['eager-ts14', 'sdpa-ts14', 'eager-dynamo18', 'sdpa-dynamo18'].map((v) => `${f}-${v}`),
);

describe.runIf(haveFixtures)('fixtures', () => {
  it("reproduces each raw export's recorded outputs from its recorded inputs", async () => {
    for (const name of VARIANTS) {
      const model = await loadModel(fixture(`${name}.onnx`), { threads: 1 });
      try {
        const outputs = await model.run(Object.fromEntries(readNpz(fixture(`${name}.inputs.npz`))));
        const expected = readNpz(fixture(`${name}.expected.npz`));
        expect([...expected.keys()].sort(), name).toEqual([...model.outputNames].sort());
        for (const [output, want] of expected) {
          const comparer = new OutputComparer(output, { atol: 1e-4, rtol: 1e-3 });
          comparer.add(want, outputs[output]!);
          expect(comparer.result(), `${name} ${output}`).toMatchObject({ pass: true });
        }
      } finally {
        await model.release();
      }
    }
  }, 60_000);

  it('generates inputs every export accepts, padded masks and all', async () => {
    for (const name of VARIANTS) {
      const model = await loadModel(fixture(`${name}.onnx`), { threads: 1 });
      try {
        const feeds = generateInputs(describeInputs(model.model), { batch: 2, sequence: 12, pad: true });
        const outputs = await model.run(feeds);
        expect(outputs.last_hidden_state!.dims[0], name).toBe(2);
        if (!name.startsWith('vit')) expect(outputs.last_hidden_state!.dims.slice(0, 2), name).toEqual([2, 12]);
      } finally {
        await model.release();
      }
    }
  }, 60_000);

  it('measures the digits accuracies the generator recorded', async () => {
    const manifest = JSON.parse(readFileSync(fixture('manifest.json'), 'utf8')) as {
      digits: { onnx_fp32_test_accuracy: number; onnx_int8_test_accuracy: number };
    };
    const baseline = fixture('digits.onnx');
    const data = readDataset(fixture('digits.test.npz'), describeInputs(readModel(baseline)));
    const report = await gateAccuracy(baseline, fixture('digits.int8.onnx'), data, { maxDrop: 0.01, threads: 1 });
    expect(report.baseline).toBeCloseTo(manifest.digits.onnx_fp32_test_accuracy, 6);
    expect(report.candidate).toBeCloseTo(manifest.digits.onnx_int8_test_accuracy, 6);
    expect(report.pass).toBe(true);
  });
});
