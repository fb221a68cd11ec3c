// benchmark: what it reports and in which order it runs (no timing assertions: the machine is shared and noisy).
import { describe, expect, it } from 'vitest';
import { benchmark, percentile, type BenchProgress } from '../../src/runtime/bench.js';
import { embeddingModel, linearClassifier } from './helpers.js';

describe('percentile', () => {
  it('interpolates linearly between closest ranks, like numpy', () => {
    expect(percentile([4, 1, 3, 2], 50)).toBe(2.5);
    expect(percentile([1, 2, 3, 4, 5], 95)).toBeCloseTo(4.8, 12);
    expect(percentile([7], 99)).toBe(7);
  });
});

describe('benchmark', () => {
  it('measures every model at every batch size, with speedups relative to the first', async () => {
    const events: BenchProgress[] = [];
    const report = await benchmark([embeddingModel(), embeddingModel(30)], {
      batches: [1, 3],
      sequence: 8,
      warmup: 1,
      iterations: 4,
      threads: 1,
      labels: ['small', 'smaller'],
      onProgress: (p) => events.push(p),
    });
    expect(report.results.map((r) => [r.model, r.batch])).toEqual([
      ['small', 1],
      ['smaller', 1],
      ['small', 3],
      ['smaller', 3],
    ]);
    for (const r of report.results) {
      expect(r.shapes.input_ids).toEqual([r.batch, 8]);
      expect(r.min).toBeLessThanOrEqual(r.p50);
      expect(r.p50).toBeLessThanOrEqual(r.p95);
      expect(r.p95).toBeLessThanOrEqual(r.p99);
      expect(r.throughput).toBeCloseTo((r.batch * 1000) / r.p50, 6);
    }
    expect(report.results.filter((r) => r.model === 'small').every((r) => r.speedup === 1)).toBe(true);
    const first = report.results[0]!;
    const second = report.results[1]!;
    expect(second.speedup).toBeCloseTo(first.p50 / second.p50, 12);
    expect(report.models.map((m) => m.label)).toEqual(['small', 'smaller']);
    expect(report.models.every((m) => m.loadMs > 0 && m.loadRssBytes >= 0 && m.firstRunRssBytes >= 0)).toBe(true);
    expect(report.peakRssBytes).toBeGreaterThan(10 * 2 ** 20);
    // Loading, then per batch size 2 models x (1 warm-up + 4 timed) runs, interleaved.
    expect(events.filter((e) => e.phase === 'load')).toHaveLength(2);
    expect(events.filter((e) => e.phase === 'warmup')).toHaveLength(4);
    expect(events.filter((e) => e.phase === 'measure')).toHaveLength(16);
  });

  it('refuses bad settings and names a model that cannot run a batch size', async () => {
    await expect(benchmark([])).rejects.toThrow(/no models/);
    await expect(benchmark([linearClassifier([[1]], [0])], { batches: [0] })).rejects.toThrow(
      /batch sizes must be positive integers/,
    );
    const fixed = linearClassifier([[1]], [0], 1);
    await expect(benchmark([fixed], { batches: [2], labels: ['fixed.onnx'], threads: 1 })).rejects.toThrow(
      /fixed batch size of 1, so batch 2 cannot be measured/,
    );
  });
});
