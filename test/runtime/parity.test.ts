// checkParity on models built in code, and the element-wise comparison rules behind it.
import { describe, expect, it } from 'vitest';
import { Value } from '../../src/ir/graph.js';
import { tensorType } from '../../src/ir/types.js';
import { OutputComparer } from '../../src/runtime/compare.js';
import type { HostTensor } from '../../src/runtime/host-tensor.js';
import { checkParity, describeFailure } from '../../src/runtime/parity.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DataType } from '../../src/tensor/dtype.js';
import { embeddingModel, linearClassifier, nudgeInitializer } from './helpers.js';

const floats = (values: number[], dims = [values.length]): HostTensor => ({
  dataType: DataType.FLOAT,
  dims,
  data: Float32Array.from(values),
});
const doubles = (values: number[]): HostTensor => ({
  dataType: DataType.DOUBLE,
  dims: [values.length],
  data: Float64Array.from(values),
});

describe('OutputComparer', () => {
  it('uses numpy.allclose(candidate, reference): |b - a| <= atol + rtol * |a|', () => {
    const c = new OutputComparer('y', { atol: 0.1, rtol: 0.1 });
    // 10 -> 11.1 is just past 0.1 + 0.1 * 10 = 1.1; 0 -> 0.1 sits exactly on atol.
    c.add(doubles([10, 10, 0]), doubles([11.05, 11.15, 0.1]));
    const r = c.result();
    expect(r.mismatches).toBe(1);
    expect(r.pass).toBe(false);
    expect(r.maxAbs).toBeCloseTo(1.15, 12);
    expect(r.maxRel).toBeCloseTo(0.115, 12);
    expect(r.meanAbs).toBeCloseTo((1.05 + 1.15 + 0.1) / 3, 12);
    expect(r.exact).toBe(false);
  });

  it('counts NaN and Inf; NaN matches NaN, Inf matches the same Inf', () => {
    const c = new OutputComparer('y', { atol: 0, rtol: 0 });
    c.add(floats([NaN, Infinity, 1, 2]), floats([NaN, Infinity, 1, 2]));
    let r = c.result();
    expect([r.pass, r.exact, r.nan, r.inf]).toEqual([
      true,
      true,
      { reference: 1, candidate: 1 },
      { reference: 1, candidate: 1 },
    ]);
    c.add(floats([1, 2, 3, 4]), floats([NaN, -Infinity, 3, 4]));
    r = c.result();
    expect([r.pass, r.mismatches, r.nan.candidate, r.inf.candidate, r.elements]).toEqual([false, 2, 2, 2, 8]);
  });

  it('reports exact only for identical types and bytes, and fails on shape differences', () => {
    const same = new OutputComparer('y', { atol: 1, rtol: 0 });
    same.add(floats([1, 2]), doubles([1, 2]));
    expect(same.result()).toMatchObject({ pass: true, exact: false, type: 'float', candidateType: 'double' });
    const shapes = new OutputComparer('y', { atol: 1, rtol: 0 });
    shapes.add(floats([1, 2, 3, 4], [2, 2]), floats([1, 2, 3, 4], [4]));
    expect(shapes.result()).toMatchObject({
      pass: false,
      problem: 'shapes differ: [2, 2] vs [4]',
      candidateShape: [4],
    });
  });

  it('with minCosine judges direction, not closeness', () => {
    const c = new OutputComparer('y', { atol: 0, rtol: 0, minCosine: 0.99 });
    c.add(floats([1, 2, 3]), floats([1.1, 2.1, 2.9]));
    expect(c.result().pass).toBe(true);
    const opposite = new OutputComparer('y', { atol: 0, rtol: 0, minCosine: 0.99 });
    opposite.add(floats([1, 2, 3]), floats([-1, -2, -3]));
    expect(opposite.result()).toMatchObject({ pass: false, cosine: -1 });
  });
});

describe('checkParity', () => {
  it('passes a model against itself, bitwise, on generated inputs', async () => {
    const bytes = encodeModel(embeddingModel());
    const report = await checkParity(bytes, bytes, { threads: 1, samples: 3, batch: 2, sequence: 8, pad: true });
    expect(report).toMatchObject({ pass: true, exact: true, samples: 3 });
    expect(report.inputs.map((i) => [i.name, i.shape])).toEqual([
      ['input_ids', [2, 8]],
      ['attention_mask', [2, 8]],
      ['token_type_ids', [2, 8]],
    ]);
    expect(report.outputs).toHaveLength(1);
    expect(report.outputs[0]).toMatchObject({
      name: 'last_hidden_state',
      shape: [2, 8, 4],
      elements: 3 * 64,
      maxAbs: 0,
      cosine: 1,
    });
  });

  it('fails a copy with one changed weight and says where', async () => {
    const broken = embeddingModel();
    // Row 0 of the token-type table is used by the first half of every row.
    nudgeInitializer(broken, 'token_type_embeddings', 1, 0.5);
    const report = await checkParity(embeddingModel(), broken, { threads: 1, sequence: 8 });
    expect(report.pass).toBe(false);
    const out = report.outputs[0]!;
    expect(out.maxAbs).toBeCloseTo(0.5, 6);
    expect(out.mismatches).toBe(2 * 2 * 4); // 2 samples x 2 rows x 4 positions in segment 0
    expect(describeFailure(report)).toMatch(
      /output 'last_hidden_state': 16 of 128 elements outside atol 0.0001 \+ rtol 0.001/,
    );
  });

  it('runs given inputs and respects the tolerances it is given', async () => {
    const a = linearClassifier(
      [
        [1, 0],
        [0, 1],
      ],
      [0, 0],
    );
    const b = linearClassifier(
      [
        [1, 0],
        [0, 1],
      ],
      [0.01, 0],
    );
    const inputs = [{ x: floats([1, 2, 3, 4], [2, 2]) }];
    expect((await checkParity(a, b, { inputs, threads: 1 })).pass).toBe(false);
    const loose = await checkParity(a, b, { inputs, threads: 1, atol: 0.02 });
    expect(loose).toMatchObject({ pass: true, exact: false, samples: 1 });
    expect(loose.outputs[0]!.maxAbs).toBeCloseTo(0.01, 6);
  });

  it('fails when an output exists in only one model', async () => {
    const extra = linearClassifier([[1]], [0]);
    const g = extra.graph;
    const doubled = new Value('doubled', tensorType(DataType.FLOAT, ['batch', 1]));
    g.createNode({ opType: 'Add', inputs: [g.outputs[0]!, g.outputs[0]!], outputs: [doubled] });
    g.outputs.push(doubled);
    const report = await checkParity(linearClassifier([[1]], [0]), extra, { threads: 1 });
    expect(report.pass).toBe(false);
    expect(report.outputs.find((o) => o.name === 'doubled')).toMatchObject({ pass: false, problem: 'missing in A' });
    expect(report.outputs.find((o) => o.name === 'logits')).toMatchObject({ pass: true, exact: true });
  });

  it('rejects negative or non-numeric tolerances', async () => {
    const m = linearClassifier([[1]], [0]);
    await expect(checkParity(m, m, { atol: -1 })).rejects.toThrow(/atol must be a non-negative number/);
    await expect(checkParity(m, m, { rtol: NaN })).rejects.toThrow(/rtol must be a non-negative number/);
  });
});
