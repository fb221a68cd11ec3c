// The calibrators' statistics, fed batch by batch: minmax, percentile and entropy as onnxruntime's calibrate.py
// computes them, and the ranges where numpy's float32 histograms fail.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCalibrator, type CalibrationMethod } from '../../src/tensor/calibration.js';

const f32 = (xs: number[]) => Float32Array.from(xs);
const rangeOf = (method: CalibrationMethod, batches: Float32Array[], options = {}) => {
  const c = createCalibrator(method, options);
  for (const b of batches) c.add('t', b);
  return c.ranges().get('t')!;
};

describe('minmax', () => {
  it('is the min and max over every batch, however the data is split', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 9 }),
        (xs, size) => {
          const values = f32(xs);
          const batches: Float32Array[] = [];
          for (let i = 0; i < values.length; i += size) batches.push(values.subarray(i, i + size));
          const [lo, hi] = rangeOf('minmax', batches);
          expect(lo).toBe(Math.min(...values));
          expect(hi).toBe(Math.max(...values));
        },
      ),
    );
  });
});

describe('percentile', () => {
  const ramp = (n: number, from = 1) => f32(Array.from({ length: n }, (_, i) => from + i));

  it('cuts the top (100 - p)% of |x| and keeps the lower bound at the values seen', () => {
    // |x| of 1..1000 in 2048 bins: the bin where the cumulative share reaches 99% starts near 990
    const [lo, hi] = rangeOf('percentile', [ramp(1000)], { percentile: 99 });
    expect(lo).toBe(1); // -edge is below every value, so the observed min
    expect(hi).toBeGreaterThan(988);
    expect(hi).toBeLessThan(991);
  });

  it('is symmetric for signed data: (-edge, edge) clipped to [min, max]', () => {
    const values = f32([
      ...Array.from({ length: 500 }, (_, i) => -(i + 1)),
      ...Array.from({ length: 500 }, (_, i) => i + 1),
    ]);
    const [lo, hi] = rangeOf('percentile', [values], { percentile: 99 });
    expect(lo).toBe(-hi);
    expect(hi).toBeGreaterThan(490);
    expect(hi).toBeLessThanOrEqual(500);
  });

  it('extends its bins when a later batch goes further, keeping the counts it had', () => {
    const [, hi] = rangeOf('percentile', [ramp(100), ramp(100, 101)], { percentile: 50 });
    // 200 values 1..200: the median edge is about 100 whichever way they came
    expect(hi).toBeGreaterThan(99);
    expect(hi).toBeLessThan(101.5);
    // p = 100 reaches the whole mass in the last bin: its left edge, as onnxruntime's hist_edges[idx] gives
    const [, top] = rangeOf('percentile', [ramp(200)], { percentile: 100 });
    expect(top).toBe(Math.fround(1 + (2047 * 199) / 2048));
  });
});

describe('entropy', () => {
  it('with 128 bins and one batch the only candidate is the whole histogram: the observed range', () => {
    const values = f32(Array.from({ length: 999 }, (_, i) => Math.sin(i) * 3 + 0.5));
    const [lo, hi] = rangeOf('entropy', [values]);
    expect(lo).toBe(Math.min(...values));
    expect(hi).toBe(Math.max(...values));
  });

  it('widens by whole bins as later batches reach further, and then clips outliers', () => {
    // most mass near 0, a few far outliers in a later batch: the threshold lands inside the widened range
    const core = f32(Array.from({ length: 5000 }, (_, i) => Math.sin(i * 1.7) * 0.5));
    const far = f32([...Array.from({ length: 2000 }, (_, i) => Math.sin(i * 0.3) * 0.5), 8, -8]);
    const [lo, hi] = rangeOf('entropy', [core, far]);
    expect(hi).toBeLessThan(8);
    expect(lo).toBeGreaterThan(-8);
    expect(hi).toBeGreaterThan(0.4);
  });
});

describe('ranges where numpy\'s float32 histograms raise "Too many bins for data range"', () => {
  const lowest = -3.4028234663852886e38;
  it.each(['entropy', 'percentile'] as const)(
    "%s: a mask filled with float32's lowest, and a constant tensor",
    (method) => {
      const mask = f32([0, 0, lowest, 0, lowest]);
      const [lo, hi] = rangeOf(method, [mask, mask]);
      expect(Number.isFinite(lo) && Number.isFinite(hi)).toBe(true);
      expect(lo).toBeGreaterThanOrEqual(lowest);
      expect(hi).toBe(0);
      const constant = f32(Array(64).fill(1.25));
      expect(rangeOf(method, [constant, constant])).toEqual([1.25, 1.25]);
      // a range narrow against its magnitude: 2048 float32 edges between 1 and 1 + 2^-20 cannot all differ
      const narrow = f32(Array.from({ length: 64 }, (_, i) => 1 + (i % 8) * 2 ** -23));
      const [nlo, nhi] = rangeOf(method, [narrow]);
      expect(nlo).toBeGreaterThanOrEqual(1);
      expect(nhi).toBeLessThanOrEqual(1 + 7 * 2 ** -23);
    },
  );
});

it('refuses a percentile outside [0, 100] and an unknown method', () => {
  expect(() => createCalibrator('percentile', { percentile: 101 })).toThrow(/between 0 and 100/);
  expect(() => createCalibrator('kl' as CalibrationMethod)).toThrow(/unknown calibration method 'kl'/);
});
