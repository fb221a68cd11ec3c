// fp16 --max-finite / --min-positive: transformers.js's float16.py clamps constants to ±1e4 and raises nonzero
// magnitudes below 1e-7 to 1e-7 before rounding to nearest even; the defaults (the float16 range) stay as they were.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fp16Pass } from '../../passes/fp16.js';
import { readModel } from '../../src/io/read.js';
import { writeModel } from '../../src/io/write.js';
import type { Model } from '../../src/ir/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { makeTransformersJsFolder } from '../../src/transformers-js.js';
import { buildModel } from '../kit/index.js';
import { tempFolder } from '../kit/temp.js';

const root = tempFolder('fp16-limits');

const VALUES = [1e5, 2e4, -5e4, 5e-8, -1e-9, 0, Infinity, -Infinity, NaN, 1, 3e-5];
/** float16 bits: 65504, 1e4 (10000 exactly), 2^-24, 2^-23 (nearest to 1e-7), 20000, -50000 (nearest even), 1, inf, NaN. */
const [MAX, TEN_K, SUB1, SUB2, TWENTY_K, MINUS_50K, ONE, INF, NAN] = [
  0x7bff, 0x70e2, 0x0001, 0x0002, 0x74e2, 0xfa1a, 0x3c00, 0x7c00, 0x7e00,
];
const NEG = 0x8000;

/** y = x + C, C holding `values` (repeated up to `size`: large tensors are converted on demand, another path). */
function model(values: readonly number[], size = values.length): Model {
  return buildModel((g) => {
    const x = g.input('x', [size]);
    const c = g.init(
      'c',
      Float32Array.from({ length: size }, (_, i) => values[i % values.length]!),
      [size],
    );
    g.output(g.op('Add', [x, c], { name: 'y' }), [size]);
  });
}

const halves = (m: Model, name = 'c') => {
  const t = [...m.graph.allGraphs()].flatMap((g) => g.initializers).find((v) => v.name === name)!.initializer!;
  expect(t.dataType).toBe(DataType.FLOAT16);
  const bytes = t.bytes();
  return Array.from(new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)), (h) =>
    (h & 0x7c00) === 0x7c00 && h & 0x3ff ? NAN : h,
  );
};
const convert = (m: Model, options = {}) => fp16Pass.run(m, { options, log: () => {} });

describe('fp16 limits', () => {
  it('defaults: the float16 range, as before (65504, the smallest subnormal)', () => {
    const m = model(VALUES);
    const result = convert(m);
    expect(halves(m).slice(0, 10)).toEqual([MAX, TWENTY_K, MINUS_50K, SUB1, NEG | SUB1, 0, INF, NEG | INF, NAN, ONE]);
    expect(result.stats).toMatchObject({ clampedValues: 1, tinyValues: 1 }); // 5e-8 rounds to 2^-24 by itself
  });

  it("transformers.js's limits: ±1e4 and ±1e-7 (then nearest even: 2^-23); 0, infinities and NaN stay", () => {
    const m = model(VALUES);
    const result = convert(m, { maxFinite: 1e4, minPositive: 1e-7 });
    expect(halves(m).slice(0, 10)).toEqual([TEN_K, TEN_K, NEG | TEN_K, SUB2, NEG | SUB2, 0, INF, NEG | INF, NAN, ONE]);
    expect(result.stats).toMatchObject({ clampedValues: 3, tinyValues: 2 });
    // values inside the limits round as they do by default
    const plain = model(VALUES);
    convert(plain);
    expect(halves(m)[10]).toBe(halves(plain)[10]);
  });

  it('large tensors (converted when written) are clamped alike', () => {
    const size = 70_000;
    const m = model(VALUES, size);
    const result = convert(m, { maxFinite: 1e4, minPositive: 1e-7 });
    const path = join(root, 'large.onnx');
    writeModel(m, path);
    const h = halves(readModel(path));
    expect(h.slice(0, 10)).toEqual([TEN_K, TEN_K, NEG | TEN_K, SUB2, NEG | SUB2, 0, INF, NEG | INF, NAN, ONE]);
    expect(h.slice(size - 3)).toEqual(h.slice((size - 3) % VALUES.length, ((size - 3) % VALUES.length) + 3));
    const beyond = Array.from({ length: size }, (_, i) => VALUES[i % VALUES.length]!).filter(
      (v) => Number.isFinite(v) && Math.abs(v) > 1e4,
    );
    expect(result.stats.clampedValues).toBe(beyond.length);
  });

  it('limits beyond float16 or out of order are refused', () => {
    expect(() => convert(model(VALUES), { maxFinite: 70000 })).toThrow(/--max-finite must be at most 65504/);
    expect(() => convert(model(VALUES), { maxFinite: 1e-3, minPositive: 1e-2 })).toThrow(
      /--min-positive .* must be below --max-finite/,
    );
  });

  it("transformers-js's fp16 and q4f16 variants use transformers.js's limits", async () => {
    const dir = join(root, 'folder');
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    writeModel(model(VALUES), join(dir, 'onnx', 'model.onnx'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert' }));
    await makeTransformersJsFolder(dir, { modes: ['fp16', 'q4f16'] });
    for (const file of ['model_fp16.onnx', 'model_q4f16.onnx']) {
      expect(halves(readModel(join(dir, 'onnx', file))).slice(0, 5), file).toEqual([
        TEN_K,
        TEN_K,
        NEG | TEN_K,
        SUB2,
        NEG | SUB2,
      ]);
    }
  });
});
