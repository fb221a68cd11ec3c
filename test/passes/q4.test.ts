import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { bnb4Pass } from '../../passes/bnb4.js';
import { fp16Pass } from '../../passes/fp16.js';
import { q4Pass } from '../../passes/q4.js';
import { OnnxOptError } from '../../src/errors.js';
import { readModel } from '../../src/io/read.js';
import { writeModel } from '../../src/io/write.js';
import { Graph, type Model } from '../../src/ir/index.js';
import type { PassResult } from '../../src/pipeline.js';
import { DataType } from '../../src/tensor/dtype.js';
import { emptyParams, nbitsShape, quantizeBlockRows } from '../../src/tensor/nbits.js';
import { buildModel, cosine, GraphMaker, npzFeeds, runOrt, uniformFloats, valuesOf } from '../kit/index.js';
import { tempFolder } from '../kit/temp.js';

const FIXTURES = 'fixtures/';
const dir = tempFolder('q4');

function q4(model: Model, options: Record<string, unknown> = {}): PassResult {
  return q4Pass.run(model, { options, log: () => {} });
}

type Feeds = Record<string, ort.Tensor>;

async function run(model: Model | Uint8Array, feeds: Feeds): Promise<Record<string, Float32Array>> {
  return valuesOf(await runOrt(model, feeds, 'all'));
}

/** On the fixture's inputs, every output keeps at least cosine `least` with the float model's expected one. */
async function expectCloseToFloat(name: string, model: Model, least = 0.98): Promise<void> {
  const actual = await run(model, npzFeeds(`${FIXTURES}${name}.inputs.npz`));
  for (const [out, t] of Object.entries(npzFeeds(`${FIXTURES}${name}.expected.npz`)))
    expect(cosine(t.data as Float32Array, actual[out]!), out).toBeGreaterThanOrEqual(least);
}

const ops = (m: Model) => [...m.graph.allGraphs()].flatMap((g) => g.nodes.map((n) => n.opType));
const count = (m: Model, op: string) => ops(m).filter((o) => o === op).length;

describe('q4: runs in onnxruntime-node and stays close to the float model', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['bert-eager-ts14', {}, 'MatMul'],
    ['bert-eager-ts14', { blockSize: 128, symmetric: false }, 'MatMul'],
    ['bert-eager-ts14', { blockSize: 16, accuracyLevel: 4 }, 'MatMul'],
    ['bert-eager-ts14', { bits: 8 }, 'MatMul'],
    ['gpt2-eager-ts14', {}, 'Gemm'],
    ['t5-eager-dynamo18', {}, 'MatMul'],
    ['bert-eager-ts14', { ops: 'MatMul,Gather' }, 'Gather'],
    ['bert-eager-ts14', { ops: 'Gather', symmetric: false }, 'Gather'],
  ];
  for (const [name, options, op] of cases) {
    it(`${name} ${JSON.stringify(options)}: every ${op} with a constant weight is rewritten; outputs keep their names; cosine >= 0.98`, async () => {
      const model = readModel(`${FIXTURES}${name}.onnx`);
      const before = count(model, op);
      const outputs = model.graph.outputs.map((v) => v.name);
      const result = q4(model, options);
      expect(result.changed).toBe(true);
      expect(result.stats[`quantized.${op}`]).toBeGreaterThan(0);
      expect(count(model, op)).toBeLessThan(before);
      expect(model.graph.outputs.map((v) => v.name)).toEqual(outputs);
      // 4-bit weights on these random-weight fixtures (init range 0.1) keep cosine 0.985-0.999
      await expectCloseToFloat(name, model);
    });
  }
});

describe('q4: Gather tables', () => {
  function table(opset: number): Model {
    return buildModel((g) => {
      const values = Float32Array.from({ length: 100 * 48 }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)));
      const w = g.init('table', values, [100, 48]);
      g.output(g.op('Gather', [w, g.input('ids', [2, 5], DataType.INT64)], { name: 'y', attrs: { axis: 0 } }), null);
    }, opset);
  }
  for (const opset of [14, 21]) {
    for (const symmetric of [true, false]) {
      it(`opset ${opset}, ${symmetric ? 'symmetric' : 'asymmetric'}: ${opset >= 21 ? 'int4/uint4' : 'the uint8 form'}, keeps the opset, runs in onnxruntime`, async () => {
        const float = table(opset);
        const model = table(opset);
        q4(model, { ops: 'Gather', symmetric, blockSize: 16 });
        expect(count(model, 'GatherBlockQuantized')).toBe(1);
        expect(model.opsetVersion('')).toBe(opset);
        const q = model.graph.initializers.find((v) => v.name === 'table_Q4')!.initializer!;
        expect(q.dataType).toBe(opset >= 21 ? (symmetric ? DataType.INT4 : DataType.UINT4) : DataType.UINT8);
        const ids = new ort.Tensor('int64', BigInt64Array.from([0, 5, 99, 42, 7, 1, 2, 3, 50, 98], BigInt), [2, 5]);
        const [a, b] = [await run(float, { ids }), await run(model, { ids })];
        expect(cosine(a.y!, b.y!)).toBeGreaterThan(0.99);
      });
    }
  }
});

describe('q4: options and refusals', () => {
  it('refuses block sizes onnxruntime cannot run, and unknown bits or ops, with one clear line', () => {
    const model = readModel(`${FIXTURES}bert-eager-ts14.onnx`);
    expect(() => q4(model, { blockSize: 512 })).toThrow(OnnxOptError);
    expect(() => q4(model, { bits: 3 })).toThrow(/--bits/);
    expect(() => q4(model, { ops: 'Conv' })).toThrow(/--ops/);
  });

  it('--exclude leaves the named nodes float', () => {
    const model = readModel(`${FIXTURES}bert-eager-ts14.onnx`);
    const first = model.graph.nodes.find((n) => n.opType === 'MatMul' && n.inputs[1]?.constantTensor())!.name;
    const result = q4(model, { exclude: first });
    expect(model.graph.nodes.some((n) => n.name === first && n.opType === 'MatMul')).toBe(true);
    expect(result.stats['quantized.MatMul']).toBeGreaterThan(0);
  });

  it('a model with nothing to quantize comes back unchanged', () => {
    const model = buildModel((g) => g.output(g.op('Relu', [g.input('x', [2, 3])], { name: 'y' }), null));
    expect(q4(model).changed).toBe(false);
  });
});

describe('bnb4: runs in onnxruntime-node and stays close to the float model', () => {
  for (const options of [{}, { quantType: 'fp4' }, { blockSize: 32 }]) {
    it(`bert-eager-ts14 ${JSON.stringify(options)}: MatMul -> MatMulBnb4, cosine >= 0.97`, async () => {
      const model = readModel(`${FIXTURES}bert-eager-ts14.onnx`);
      const result = bnb4Pass.run(model, { options, log: () => {} });
      expect(result.stats.quantizedNodes).toBeGreaterThan(0);
      expect(count(model, 'MatMulBnb4')).toBe(result.stats.quantizedNodes);
      // FP4 has coarser levels than NF4 or 4-bit integers; on these random weights it keeps cosine ~0.98
      await expectCloseToFloat('bert-eager-ts14', model, 0.97);
    });
  }
});

describe('q4f16 (q4, then fp16)', () => {
  for (const [name, options] of [
    ['bert-eager-ts14', {}],
    ['bert-eager-ts14', { symmetric: false, ops: 'MatMul,Gather' }],
    ['gpt2-eager-ts14', {}],
  ] as const) {
    it(`${name} ${JSON.stringify(options)}: MatMulNBits keeps its packed weights, its scales become float16; runs with cosine >= 0.98`, async () => {
      const model = readModel(`${FIXTURES}${name}.onnx`);
      q4(model, options);
      const packed = model.graph.initializers
        .filter((v) => v.name.endsWith('_Q4'))
        .map((v) => [v.name, v.initializer!.dataType, [...v.initializer!.bytes()].join()]);
      fp16Pass.run(model, { options: {}, log: () => {} });
      const nbits = model.graph.nodes.filter((n) => n.opType === 'MatMulNBits');
      expect(nbits.length).toBeGreaterThan(0);
      for (const n of nbits) expect(n.input(2).initializer?.dataType, n.name).toBe(DataType.FLOAT16);
      const after = model.graph.initializers
        .filter((v) => v.name.endsWith('_Q4'))
        .map((v) => [v.name, v.initializer!.dataType, [...v.initializer!.bytes()].join()]);
      expect(after).toEqual(packed);
      await expectCloseToFloat(name, model);
    });
  }
});

describe('fp16 then q4', () => {
  it('float16 weights get float16 scales; the model runs with cosine >= 0.98', async () => {
    const model = readModel(`${FIXTURES}bert-eager-ts14.onnx`);
    fp16Pass.run(model, { options: {}, log: () => {} });
    const result = q4(model);
    expect(result.stats['quantized.MatMul']).toBeGreaterThan(0);
    for (const n of model.graph.nodes.filter((x) => x.opType === 'MatMulNBits'))
      expect(n.input(2).initializer!.dataType).toBe(DataType.FLOAT16);
    await expectCloseToFloat('bert-eager-ts14', model);
  });
});

describe('q4: large and external weights', () => {
  function matmulModel(k: number, n: number): Model {
    return buildModel((g) => {
      const values = Float32Array.from({ length: k * n }, (_, i) => Math.sin(i * 0.61) * (1 + (i % 13)) * 0.01);
      g.output(g.op('MatMul', [g.input('x', [1, k]), g.init('w', values, [k, n])], { name: 'y' }), null);
    });
  }
  const bytesOf = (m: Model) =>
    Object.fromEntries(m.graph.initializers.map((v) => [v.name, Buffer.from(v.initializer!.bytes()).toString('hex')]));

  for (const symmetric of [true, false]) {
    it(`${symmetric ? 'symmetric' : 'asymmetric'}: a weight made on demand, and one streamed from external data, equal the blockwise math on the whole array`, () => {
      // 1.1M elements: made on demand, read from the file in two chunks of whole blocks; K not a multiple of 128
      const [k, n] = [1100, 1024];
      const options = { blockSize: 128, symmetric };
      const inMemory = matmulModel(k, n);
      const values = inMemory.graph.initializers[0]!.initializer!.toFloat32().slice();
      q4(inMemory, options);
      const path = join(dir, `m-${symmetric}.onnx`);
      writeModel(matmulModel(k, n), path, { externalData: 'always' });
      const external = readModel(path);
      expect(external.graph.initializers[0]!.initializer!.externalSource).toBeDefined();
      q4(external, options);
      expect(bytesOf(external)).toEqual(bytesOf(inMemory));
      const layout = { k, n, bits: 4 as const, blockSize: 128, symmetric };
      const params = emptyParams(layout);
      const { kBlocks, blobSize } = nbitsShape(layout);
      const packed = new Uint8Array(n * kBlocks * blobSize);
      quantizeBlockRows(values, 0, layout, params, packed);
      const byName = (name: string) => inMemory.graph.initializers.find((v) => v.name === name)!.initializer!;
      expect(Buffer.from(byName('w_Q4').bytes()).equals(Buffer.from(packed))).toBe(true);
      expect([...byName('w_scales').toFloat32()]).toEqual([...params.scales]);
      if (!symmetric) expect([...byName('w_zero_points').bytes()]).toEqual([...params.zeroPoints!]);
    });
  }
});

describe('q4: If branches (merged decoders)', () => {
  it("MatMuls inside both branches, reading the main graph's weights, become MatMulNBits; the model runs in onnxruntime", async () => {
    // weights uniform in [-0.1, 0.1), one seed each
    const values = (seed: number) => uniformFloats(64 * 48, seed).map((v) => v * 0.2);
    const build = () =>
      buildModel((g) => {
        const x = g.input('x', [2, 64]);
        const cond = g.input('cond', [], DataType.BOOL);
        const shared = g.init('shared', values(1), [64, 48]);
        const branch = (name: string, seed: number) => {
          const b = new GraphMaker(new Graph(name, g.graph));
          const own = b.init(`${name}_w`, values(seed), [64, 48]);
          const y1 = b.op('MatMul', [x, shared], { name: `${name}_mm1` });
          const y2 = b.op('MatMul', [x, own], { name: `${name}_mm2` });
          b.output(b.op('Add', [y1, y2], { name: `${name}_out` }), [2, 48]);
          return b.graph;
        };
        const y = g.op('If', [cond], {
          name: 'y',
          attrs: { then_branch: branch('then', 2), else_branch: branch('else', 3) },
        });
        g.output(y, [2, 48]);
      });
    const [float, model] = [build(), build()];
    const result = q4(model, { blockSize: 16 });
    expect(result.stats['quantized.MatMul']).toBe(4);
    expect(count(model, 'MatMul')).toBe(0);
    expect(count(model, 'MatMulNBits')).toBe(4);
    expect(model.graph.initializers.find((v) => v.name === 'shared')).toBeUndefined();
    const x = new ort.Tensor(
      'float32',
      uniformFloats(128, 99).map((v) => v * 2),
      [2, 64],
    );
    for (const c of [true, false]) {
      const cond = new ort.Tensor('bool', Uint8Array.from([c ? 1 : 0]), []);
      const [a, b] = [await run(float, { x, cond }), await run(model, { x, cond })];
      expect(cosine(a.y!, b.y!)).toBeGreaterThan(0.99);
    }
  });
});
