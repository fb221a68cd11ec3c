import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OnnxOptError } from '../../src/errors.js';
import {
  computeScaleZeroPoint,
  planWeightQuantization,
  quantizeWeight,
  quantRange,
  roundHalfToEven,
  type BlockedValues,
} from '../../src/tensor/quantize.js';

const list = (a: ArrayLike<number>) => Array.from(a);

describe('roundHalfToEven', () => {
  it('rounds ties to the even neighbour', () => {
    const cases: [number, number][] = [
      [0.5, 0],
      [1.5, 2],
      [2.5, 2],
      [3.5, 4],
      [-0.5, 0],
      [-1.5, -2],
      [-2.5, -2],
      [-3.5, -4],
    ];
    for (const [x, want] of cases) expect(roundHalfToEven(x) + 0, `round(${x})`).toBe(want);
  });

  it('rounds non-ties to the nearest integer', () => {
    const cases: [number, number][] = [
      [2.4999, 2],
      [2.5001, 3],
      [-2.5001, -3],
      [-0.4, 0],
      [7, 7],
      [0.49999999999999994, 0],
    ];
    for (const [x, want] of cases) expect(roundHalfToEven(x) + 0, `round(${x})`).toBe(want);
  });

  it('handles magnitudes where doubles have few fraction bits', () => {
    const big = 2 ** 51;
    expect(roundHalfToEven(big + 0.5)).toBe(big);
    expect(roundHalfToEven(big + 1.5)).toBe(big + 2);
    expect(roundHalfToEven(-(big + 1.5))).toBe(-(big + 2));
    expect(roundHalfToEven(2 ** 60)).toBe(2 ** 60);
  });
});

describe('quantRange', () => {
  it('gives the full, symmetric and 7-bit ranges', () => {
    expect(quantRange('int8', { symmetric: true, reduceRange: false })).toEqual({ qmin: -127, qmax: 127 });
    expect(quantRange('int8', { symmetric: true, reduceRange: true })).toEqual({ qmin: -64, qmax: 64 });
    expect(quantRange('uint8', { symmetric: false, reduceRange: false })).toEqual({ qmin: 0, qmax: 255 });
    // onnxruntime 1.30's ONNX_INT_TYPE_SYMMETRIC_RANGE has no uint8 entry: symmetric uint8 keeps the full range
    expect(quantRange('uint8', { symmetric: true, reduceRange: false })).toEqual({ qmin: 0, qmax: 255 });
    expect(quantRange('uint8', { symmetric: false, reduceRange: true })).toEqual({ qmin: 0, qmax: 127 });
  });
});

describe('computeScaleZeroPoint', () => {
  const int8Full = quantRange('int8', { symmetric: true, reduceRange: false });
  const uint8Full = quantRange('uint8', { symmetric: false, reduceRange: false });
  const uint8Reduced = quantRange('uint8', { symmetric: false, reduceRange: true });

  it('computes the scale in float64 and stores it as float32', () => {
    const { scale, zeroPoint } = computeScaleZeroPoint(-0.5, 1, int8Full, true);
    expect(scale).toBe(Math.fround(2 / 254));
    expect(scale).not.toBe(1 / 127);
    expect(zeroPoint).toBe(0);
  });

  it('widens the range to include zero', () => {
    expect(computeScaleZeroPoint(2, 4, uint8Full, false)).toEqual({ scale: Math.fround(4 / 255), zeroPoint: 0 });
    expect(computeScaleZeroPoint(-4, -2, uint8Full, false)).toEqual({ scale: Math.fround(4 / 255), zeroPoint: 255 });
  });

  it('gives uint8 asymmetric zero points from the float64 scale, ties to even', () => {
    // -rmin / scale = 1 / (4 / 255) = 63.75
    expect(computeScaleZeroPoint(-1, 3, uint8Full, false).zeroPoint).toBe(64);
    // 127.5 -> 128 and, with the 7-bit range, 63.5 -> 64 (both even)
    expect(computeScaleZeroPoint(-1, 1, uint8Full, false).zeroPoint).toBe(128);
    expect(computeScaleZeroPoint(-1, 1, uint8Reduced, false).zeroPoint).toBe(64);
    // 125 / 2 = 62.5 -> 62, where rounding half up would give 63
    expect(computeScaleZeroPoint(-125, 129, uint8Reduced, false)).toEqual({ scale: 2, zeroPoint: 62 });
  });

  it('uses scale 1 and zero point 0 for an all-zero range', () => {
    expect(computeScaleZeroPoint(0, 0, int8Full, true)).toEqual({ scale: 1, zeroPoint: 0 });
    expect(computeScaleZeroPoint(0, 0, uint8Full, false)).toEqual({ scale: 1, zeroPoint: 0 });
    expect(computeScaleZeroPoint(-1e-42, 1e-42, int8Full, true)).toEqual({ scale: 1, zeroPoint: 0 });
  });

  it('refuses infinite ranges', () => {
    expect(() => computeScaleZeroPoint(-Infinity, 1, int8Full, true)).toThrow(OnnxOptError);
  });
});

describe('quantizeWeight', () => {
  it('int8 symmetric with reduce range maps the absolute maximum to 64 and rounds ties to even', () => {
    const scale = 1 / 64;
    const w = Float32Array.from([-1, 0.5, 0.3, 1.5 * scale, 2.5 * scale, -1.5 * scale, -2.5 * scale]);
    const q = quantizeWeight(w, [w.length], { type: 'int8', reduceRange: true });
    expect(list(q.scales)).toEqual([scale]);
    expect(list(q.zeroPoints)).toEqual([0]);
    expect(list(q.data)).toEqual([-64, 32, 19, 2, 2, -2, -2]);
    expect(q.data).toBeInstanceOf(Int8Array);
  });

  it('int8 symmetric full range maps the absolute maximum to 127', () => {
    const q = quantizeWeight(Float32Array.from([127, -3.5, 2.5, 0.49, -127]), [5], {
      type: 'int8',
      reduceRange: false,
    });
    expect(list(q.scales)).toEqual([1]);
    expect(list(q.data)).toEqual([127, -4, 2, 0, -127]);
  });

  it('uint8 asymmetric uses the zero point and the 7-bit range', () => {
    const w = Float32Array.from([-1, 3, 0]);
    const full = quantizeWeight(w, [3], { type: 'uint8', reduceRange: false });
    expect(list(full.scales)).toEqual([Math.fround(4 / 255)]);
    expect(list(full.zeroPoints)).toEqual([64]);
    expect(list(full.data)).toEqual([0, 255, 64]);
    expect(full.data).toBeInstanceOf(Uint8Array);
    const reduced = quantizeWeight(w, [3], { type: 'uint8', reduceRange: true });
    expect(list(reduced.scales)).toEqual([Math.fround(4 / 127)]);
    expect(list(reduced.zeroPoints)).toEqual([32]);
    expect(list(reduced.data)).toEqual([0, 127, 32]);
  });

  it('quantizes a zero tensor with scale 1', () => {
    const q = quantizeWeight(new Float32Array(6), [2, 3], { type: 'int8', reduceRange: true, axis: 1 });
    expect(list(q.scales)).toEqual([1, 1, 1]);
    expect(list(q.data)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('gives each slice along the axis its own scale', () => {
    // [[1, 0.5, 0], [-2, 0.25, 0]]
    const w = Float32Array.from([1, 0.5, 0, -2, 0.25, 0]);
    const columns = quantizeWeight(w, [2, 3], { type: 'int8', reduceRange: true, axis: 1 });
    expect(list(columns.scales)).toEqual([2 / 64, 0.5 / 64, 1]);
    expect(list(columns.zeroPoints)).toEqual([0, 0, 0]);
    expect(list(columns.data)).toEqual([32, 64, 0, -64, 32, 0]);
    const rows = quantizeWeight(w, [2, 3], { type: 'int8', reduceRange: true, axis: 0 });
    expect(list(rows.scales)).toEqual([1 / 64, 2 / 64]);
    expect(list(rows.data)).toEqual([64, 32, 0, -64, 8, 0]);
  });

  it('handles an axis in the middle of a higher-rank tensor', () => {
    // dims [2, 2, 2], axis 1: channel 0 holds elements 0,1,4,5; channel 1 holds 2,3,6,7
    const w = Float32Array.from([1, -1, 4, 2, 0.5, 0, -4, 1]);
    const q = quantizeWeight(w, [2, 2, 2], { type: 'int8', reduceRange: true, axis: 1 });
    expect(list(q.scales)).toEqual([1 / 64, 4 / 64]);
    expect(list(q.data)).toEqual([64, -64, 64, 32, 32, 0, -64, 16]);
  });

  it('refuses NaN and a bad axis', () => {
    expect(() => quantizeWeight(Float32Array.from([1, NaN]), [2], { type: 'int8', reduceRange: true })).toThrow(
      OnnxOptError,
    );
    expect(() => quantizeWeight(Float32Array.from([1, 2]), [2], { type: 'int8', reduceRange: true, axis: 1 })).toThrow(
      OnnxOptError,
    );
  });

  it('reconstructs every value within half a step, inside the type range', () => {
    const weights = fc.array(fc.float({ min: -100, max: 100, noNaN: true, noDefaultInfinity: true }), {
      minLength: 1,
      maxLength: 64,
    });
    fc.assert(
      fc.property(
        weights,
        fc.constantFrom('int8' as const, 'uint8' as const),
        fc.boolean(),
        (values, type, reduceRange) => {
          const w = Float32Array.from(values);
          const q = quantizeWeight(w, [w.length], { type, reduceRange });
          const [scale, zeroPoint] = [q.scales[0]!, q.zeroPoints[0]!];
          const { qmin, qmax } = quantRange(type, { symmetric: type === 'int8', reduceRange });
          if (type === 'int8') expect(zeroPoint).toBe(0);
          w.forEach((v, i) => {
            expect(q.data[i]).toBeGreaterThanOrEqual(qmin);
            expect(q.data[i]).toBeLessThanOrEqual(qmax + 1);
            expect(Math.abs((q.data[i]! - zeroPoint) * scale - v)).toBeLessThanOrEqual(scale * 0.5001 + 1e-30);
          });
        },
      ),
    );
  });
});

describe('planWeightQuantization with values in blocks', () => {
  const blocked = (values: Float32Array, size: number): BlockedValues => ({
    length: values.length,
    forEachBlock: (visit) => {
      for (let at = 0; at < values.length; at += size) visit(values.subarray(at, Math.min(at + size, values.length)));
    },
  });

  it('gives the scales, zero points and data of the whole array, per tensor and per last-axis channel', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.float({ min: -4, max: 4, noNaN: true }), { minLength: 30, maxLength: 30 }),
        (rows, cols, rowsPerBlock, perChannel, int8, pool) => {
          const values = Float32Array.from({ length: rows * cols }, (_, i) => pool[i % pool.length]!);
          const options = {
            type: int8 ? ('int8' as const) : ('uint8' as const),
            reduceRange: true,
            axis: perChannel ? 1 : undefined,
          };
          const whole = quantizeWeight(values, [rows, cols], options);
          const { fill, ...plan } = planWeightQuantization(blocked(values, rowsPerBlock * cols), [rows, cols], options);
          expect(Array.from(plan.scales)).toEqual(Array.from(whole.scales));
          expect(Array.from(plan.zeroPoints)).toEqual(Array.from(whole.zeroPoints));
          const data = int8 ? new Int8Array(values.length) : new Uint8Array(values.length);
          fill(blocked(values, rowsPerBlock * cols), data);
          expect(Array.from(data)).toEqual(Array.from(whole.data));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('refuses blocks that split a row of per-channel values, and other axes', () => {
    const values = Float32Array.from({ length: 12 }, (_, i) => i - 6);
    expect(() =>
      planWeightQuantization(blocked(values, 5), [4, 3], { type: 'int8', reduceRange: false, axis: 1 }),
    ).toThrow(OnnxOptError);
    expect(() =>
      planWeightQuantization(blocked(values, 6), [4, 3], { type: 'int8', reduceRange: false, axis: 0 }),
    ).toThrow(OnnxOptError);
  });
});
