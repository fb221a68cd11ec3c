// Generated inputs: dims bound by name and position, values that fit each input's role, seeded and repeatable.
import { describe, expect, it } from 'vitest';
import { Graph, Value } from '../../src/ir/graph.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { toFloat64 } from '../../src/runtime/host-tensor.js';
import {
  adaptFeeds,
  describeInputs,
  generateInputs,
  mergeInputSpecs,
  resolveShapes,
  type InputSpec,
} from '../../src/runtime/inputs.js';
import { loadModel } from '../../src/runtime/session.js';
import { DataType } from '../../src/tensor/dtype.js';
import { embeddingModel } from './helpers.js';

const spec = (name: string, dataType: number, dims: InputSpec['dims'], extra: Partial<InputSpec> = {}): InputSpec => ({
  name,
  dataType,
  dims,
  role: 'values',
  ...extra,
});

describe('describeInputs', () => {
  it('finds roles and the vocabulary bound of each embedding lookup', () => {
    const specs = describeInputs(embeddingModel(50));
    expect(specs.map((s) => [s.name, s.role, s.idLimit])).toEqual([
      ['input_ids', 'token-ids', 50],
      ['attention_mask', 'attention-mask', undefined],
      ['token_type_ids', 'token-type-ids', 2],
    ]);
  });

  it('skips inputs that have an initializer and follows ids through Cast and Unsqueeze', () => {
    const g = new Graph('g');
    const ids = g.addInput(new Value('ids', tensorType(DataType.INT32, ['N', 'L'])));
    const w = g.addInitializer('w', Tensor.fromArray('', DataType.FLOAT, [7, 2], new Float32Array(14)));
    g.addInput(w);
    const cast = g.createNode({ opType: 'Cast', inputs: [ids] }).output();
    const out = g.createNode({ opType: 'Gather', inputs: [w, cast] }).output();
    g.outputs.push(out);
    const specs = describeInputs(new Model(g));
    expect(specs).toEqual([{ name: 'ids', dataType: DataType.INT32, dims: ['N', 'L'], role: 'token-ids', idLimit: 7 }]);
  });

  it('refuses inputs without a declared shape, naming them', () => {
    const g = new Graph('g');
    g.addInput(new Value('x'));
    expect(() => describeInputs(new Model(g))).toThrow(/input 'x' has no declared tensor type/);
  });
});

describe('resolveShapes', () => {
  it('binds batch- and sequence-like names, static dims and explicit dims, one size per symbol', () => {
    const specs = [
      spec('input_ids', DataType.INT64, ['batch_size', 'sequence_length'], { role: 'token-ids' }),
      spec('pixel_values', DataType.FLOAT, ['N', 3, 224, 224]),
      spec('extra', DataType.FLOAT, ['batch_size', 'width', 'seq']),
      spec('mask', DataType.INT64, ['s0', 's1'], { role: 'attention-mask' }),
      spec('again', DataType.INT64, ['s1', 's0'], { role: 'token-ids' }),
    ];
    const shapes = resolveShapes(specs, { batch: 3, sequence: 5, dims: { width: 9 } });
    expect(Object.fromEntries(shapes)).toEqual({
      input_ids: [3, 5],
      pixel_values: [3, 3, 224, 224],
      extra: [3, 9, 5],
      mask: [3, 5],
      again: [5, 3],
    });
  });

  it('gives a model with a KV cache one decoding step: one new token after the past, the mask covering both', () => {
    const specs = [
      spec('input_ids', DataType.INT64, ['batch_size', 'sequence_length'], { role: 'token-ids' }),
      spec('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length'], { role: 'attention-mask' }),
      spec('past_key_values.0.key', DataType.FLOAT, ['batch_size', 2, 'past_sequence_length', 16]),
    ];
    expect(Object.fromEntries(resolveShapes(specs, { batch: 2, sequence: 7 }))).toEqual({
      input_ids: [2, 1],
      attention_mask: [2, 8],
      'past_key_values.0.key': [2, 2, 7, 16],
    });
  });

  it('gives unnamed dims of plain values size 1 past the batch axis', () => {
    expect(resolveShapes([spec('x', DataType.FLOAT, [undefined, undefined, 4])], { batch: 2 }).get('x')).toEqual([
      2, 1, 4,
    ]);
  });
});

describe('generateInputs', () => {
  const specs = describeInputs(embeddingModel(50));

  it('makes ids within the vocabulary, two token-type segments and masks of ones', () => {
    const feeds = generateInputs(specs, { batch: 3, sequence: 8 });
    const ids = toFloat64(feeds.input_ids!);
    expect(feeds.input_ids!.dims).toEqual([3, 8]);
    expect(feeds.input_ids!.data).toBeInstanceOf(BigInt64Array);
    expect(ids.every((v) => Number.isInteger(v) && v >= 0 && v < 50)).toBe(true);
    expect(new Set(ids).size).toBeGreaterThan(5);
    expect(Array.from(toFloat64(feeds.token_type_ids!)).slice(0, 8)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect(toFloat64(feeds.attention_mask!).every((v) => v === 1)).toBe(true);
  });

  it('pads the end of mask rows after the first when asked', () => {
    const mask = toFloat64(generateInputs(specs, { batch: 4, sequence: 10, pad: true }).attention_mask!);
    const rows = [0, 1, 2, 3].map((r) => Array.from(mask.subarray(r * 10, r * 10 + 10)));
    expect(rows[0]).toEqual(Array(10).fill(1));
    for (const row of rows.slice(1)) {
      const ones = row.indexOf(0);
      expect(ones).toBeGreaterThanOrEqual(5);
      expect(row.slice(0, ones).every((v) => v === 1) && row.slice(ones).every((v) => v === 0)).toBe(true);
    }
  });

  it('is repeatable per seed and sample, and differs across them', () => {
    const a = generateInputs(specs, { seed: 1 }, 0).input_ids!.data;
    expect(generateInputs(specs, { seed: 1 }, 0).input_ids!.data).toEqual(a);
    expect(generateInputs(specs, { seed: 1 }, 1).input_ids!.data).not.toEqual(a);
    expect(generateInputs(specs, { seed: 2 }, 0).input_ids!.data).not.toEqual(a);
  });

  it('makes standard-normal floats, float16 bits, bools and arange position ids', () => {
    const feeds = generateInputs(
      [
        spec('x', DataType.FLOAT, ['batch', 1000]),
        spec('h', DataType.FLOAT16, [2]),
        spec('flags', DataType.BOOL, [50]),
        spec('position_ids', DataType.INT64, [1, 'sequence'], { role: 'position-ids' }),
      ],
      { sequence: 6 },
    );
    const x = toFloat64(feeds.x!);
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length;
    expect(Math.abs(mean)).toBeLessThan(0.15);
    expect(Math.abs(variance - 1)).toBeLessThan(0.2);
    expect(feeds.h!.data).toBeInstanceOf(Uint16Array);
    expect(new Set(feeds.flags!.data as Uint8Array)).toEqual(new Set([0, 1]));
    expect(Array.from(toFloat64(feeds.position_ids!))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('feeds onnxruntime without an out-of-range lookup (vocabulary 50 < the default id bound)', async () => {
    const model = await loadModel(embeddingModel(50), { threads: 1 });
    try {
      const out = await model.run(generateInputs(specs, { batch: 2, sequence: 16, pad: true }));
      expect(out.last_hidden_state!.dims).toEqual([2, 16, 4]);
    } finally {
      await model.release();
    }
  });
});

describe('mergeInputSpecs and adaptFeeds', () => {
  it("keeps one spec per name with the tightest id bound, and casts feeds to each model's types", () => {
    const merged = mergeInputSpecs(
      [spec('ids', DataType.INT64, ['b'], { role: 'token-ids', idLimit: 30 })],
      [spec('ids', DataType.INT32, ['b'], { role: 'token-ids', idLimit: 20 }), spec('x', DataType.FLOAT, [1])],
    );
    expect(merged.map((s) => [s.name, s.dataType, s.idLimit])).toEqual([
      ['ids', DataType.INT64, 20],
      ['x', DataType.FLOAT, undefined],
    ]);
    const feeds = generateInputs(merged, { batch: 4 });
    const forInt32 = adaptFeeds(feeds, [spec('ids', DataType.INT32, ['b'])]);
    expect(forInt32.ids!.data).toBeInstanceOf(Int32Array);
    expect(Array.from(toFloat64(forInt32.ids!))).toEqual(Array.from(toFloat64(feeds.ids!)));
    expect(() => adaptFeeds(feeds, [spec('x', DataType.INT64, [1])])).toThrow(
      /has float values, the model expects int64/,
    );
  });
});
