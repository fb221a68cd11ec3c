// The accuracy gate on a linear classifier built in code: metrics, drops, batching, and dataset files.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDataset, readInputsFile, type Dataset } from '../../src/runtime/data-files.js';
import { gateAccuracy, type GateProgress } from '../../src/runtime/gate.js';
import { describeInputs } from '../../src/runtime/inputs.js';
import { DataType } from '../../src/tensor/dtype.js';
import { linearClassifier, npyBytes, npzBytes } from './helpers.js';
import { tempFolder } from '../kit/temp.js';

const dir = tempFolder('gate');

const identity = (n: number) =>
  Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
const SAMPLES = 30;
const features = Array.from({ length: SAMPLES }, (_, i) => [Math.sin(i), Math.sin(2 * i + 1), Math.sin(3 * i + 2)]);
const argmax = (row: number[]) => row.indexOf(Math.max(...row));
const labels = features.map(argmax);

function dataset(labelValues: number[] | number[][] = labels): Dataset {
  const flat = labelValues.flat();
  return {
    inputs: { x: { dataType: DataType.FLOAT, dims: [SAMPLES, 3], data: Float32Array.from(features.flat()) } },
    labels: {
      dataType: DataType.DOUBLE,
      dims: Array.isArray(labelValues[0]) ? [SAMPLES, 3] : [SAMPLES],
      data: Float64Array.from(flat),
    },
    count: SAMPLES,
  };
}

const baseline = linearClassifier(identity(3), [0, 0, 0]);

describe('gateAccuracy', () => {
  it('passes a candidate that predicts the same classes', async () => {
    const scaled = linearClassifier(
      identity(3).map((r) => r.map((v) => v * 0.9)),
      [0, 0, 0],
    );
    const report = await gateAccuracy(baseline, scaled, dataset(), { maxDrop: 0, threads: 1, batchSize: 7 });
    expect(report).toMatchObject({
      metric: 'accuracy',
      baseline: 1,
      candidate: 1,
      drop: 0,
      pass: true,
      samples: SAMPLES,
      output: 'logits',
      agreement: 1,
    });
  });

  it('fails a candidate whose class-0 bias was pushed up, reporting the drop', async () => {
    const broken = linearClassifier(identity(3), [10, 0, 0]);
    const report = await gateAccuracy(baseline, broken, dataset(), { maxDrop: 0.01, threads: 1 });
    const share0 = labels.filter((l) => l === 0).length / SAMPLES;
    expect(report.candidate).toBeCloseTo(share0, 12);
    expect(report.drop).toBeCloseTo(1 - share0, 12);
    expect(report.agreement).toBeCloseTo(share0, 12);
    expect(report.pass).toBe(false);
  });

  it('ignores negative labels and counts top-5 hits', async () => {
    const seven = linearClassifier(identity(7), Array(7).fill(0));
    const rows = [
      [7, 6, 5, 4, 3, 2, 1],
      [1, 2, 3, 4, 5, 6, 7],
    ];
    const data: Dataset = {
      inputs: { x: { dataType: DataType.FLOAT, dims: [2, 7], data: Float32Array.from(rows.flat()) } },
      labels: { dataType: DataType.INT64, dims: [2], data: BigInt64Array.from([4n, 1n]) },
      count: 2,
    };
    // Row 0: label 4 is the 5th largest (a top-5 hit); row 1: label 1 is the 6th largest (a miss).
    expect((await gateAccuracy(seven, seven, data, { metric: 'top5', maxDrop: 0, threads: 1 })).baseline).toBe(0.5);
    (data.labels.data as BigInt64Array)[1] = -100n;
    const report = await gateAccuracy(seven, seven, data, { metric: 'accuracy', maxDrop: 0, threads: 1 });
    expect(report.baseline).toBe(0); // one scored row, predicted 0, labelled 4
    expect(report.agreement).toBe(1);
  });

  it('treats a rise of mse as the drop, and scores cosine per row', async () => {
    const reference = features; // identity weights: the baseline's outputs are exactly the features
    const shifted = linearClassifier(identity(3), [0.1, 0, 0]);
    const mse = await gateAccuracy(baseline, shifted, dataset(reference), {
      metric: 'mse',
      maxDrop: 0.001,
      threads: 1,
    });
    expect(mse.higherIsBetter).toBe(false);
    expect(mse.baseline).toBeLessThan(1e-12);
    expect(mse.candidate).toBeCloseTo(0.01 / 3, 6);
    expect(mse.pass).toBe(false);
    expect(
      (await gateAccuracy(baseline, shifted, dataset(reference), { metric: 'mse', maxDrop: 0.01, threads: 1 })).pass,
    ).toBe(true);
    const cosine = await gateAccuracy(baseline, shifted, dataset(reference), {
      metric: 'cosine',
      maxDrop: 0.1,
      threads: 1,
    });
    expect(cosine.baseline).toBeCloseTo(1, 6);
    expect(cosine.candidate).toBeLessThan(1);
    expect(cosine.pass).toBe(true);
  });

  it("uses a model's fixed batch dim and reports progress per batch", async () => {
    const fixed = linearClassifier(identity(3), [0, 0, 0], 5);
    const events: GateProgress[] = [];
    const report = await gateAccuracy(fixed, baseline, dataset(), {
      maxDrop: 0,
      threads: 1,
      batchSize: 32,
      onProgress: (p) => events.push(p),
    });
    expect(report.pass).toBe(true);
    expect(events.filter((e) => e.model === 'baseline').map((e) => e.done)).toEqual([5, 10, 15, 20, 25, 30]);
    expect(events.filter((e) => e.model === 'candidate').map((e) => e.done)).toEqual([30]);
    const seven = linearClassifier(identity(3), [0, 0, 0], 7);
    await expect(gateAccuracy(seven, baseline, dataset(), { maxDrop: 0, threads: 1 })).rejects.toThrow(
      /fixed batch of 7, which does not divide the 30 samples/,
    );
  });

  it('rejects labels that are not class indices of the output', async () => {
    const data = dataset(labels.map(() => 3));
    await expect(gateAccuracy(baseline, baseline, data, { maxDrop: 0, threads: 1 })).rejects.toThrow(
      /label 3 is not a class index of the output's 3 classes/,
    );
  });
});

describe('dataset and input files', () => {
  const specs = describeInputs(baseline);

  it("reads a .npz dataset with a chosen labels key, casting arrays to the model's types", () => {
    const path = join(dir, 'data.npz');
    writeFileSync(
      path,
      npzBytes(
        {
          x: npyBytes('<f8', [2, 3], Float64Array.from([1, 2, 3, 4, 5, 6])),
          target: npyBytes('<i8', [2], BigInt64Array.from([2n, 0n])),
        },
        'deflated',
      ),
    );
    const data = readDataset(path, specs, 'target');
    expect(data.count).toBe(2);
    expect(data.inputs.x!.data).toEqual(Float32Array.from([1, 2, 3, 4, 5, 6]));
    expect(() => readDataset(path, specs)).toThrow(/has no labels array 'labels' \(arrays: x, target\)/);
  });

  it('reads a JSON dataset and reports what does not fit', () => {
    const write = (name: string, value: unknown) => {
      const path = join(dir, name);
      writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
      return path;
    };
    const data = readDataset(
      write('ok.json', {
        inputs: {
          x: [
            [1, 2, 3],
            [4, 5, 6],
          ],
        },
        labels: [2, 2],
      }),
      specs,
    );
    expect(data.inputs.x!.dims).toEqual([2, 3]);
    expect(Array.from(data.labels.data as Float64Array)).toEqual([2, 2]);
    expect(() => readDataset(write('names.json', { inputs: { pixels: [[1, 2, 3]] }, labels: [0] }), specs)).toThrow(
      /array 'pixels' is not a model input \(inputs: x\)/,
    );
    expect(() => readDataset(write('count.json', { inputs: { x: [[1, 2, 3]] }, labels: [0, 1] }), specs)).toThrow(
      /input 'x' has 1 samples, the labels 2/,
    );
    expect(() => readDataset(write('ragged.json', { inputs: { x: [[1, 2, 3], [4]] }, labels: [0, 1] }), specs)).toThrow(
      /not rectangular/,
    );
    expect(() => readDataset(write('shape.json', { labels: [0] }), specs)).toThrow(/a JSON dataset is/);
    expect(() => readDataset(write('broken.json', '{ "inputs": '), specs)).toThrow(/not valid JSON/);
  });

  it('reads JSON input samples, one or a list, typed by the model', () => {
    const path = join(dir, 'inputs.json');
    writeFileSync(path, JSON.stringify([{ x: [[1, 2, 3]] }, { x: [[4, 5, 6]] }]));
    const samples = readInputsFile(path, specs);
    expect(samples).toHaveLength(2);
    expect(samples[1]!.x).toEqual({ dataType: DataType.FLOAT, dims: [1, 3], data: Float32Array.from([4, 5, 6]) });
    writeFileSync(path, JSON.stringify({ y: [[1, 2, 3]] }));
    expect(() => readInputsFile(path, specs)).toThrow(/array 'y' is not a model input/);
    writeFileSync(path, JSON.stringify({}));
    expect(() => readInputsFile(path, specs)).toThrow(/no array for model input 'x'/);
  });
});
