// Activation ranges from calibration data, as onnxruntime's calibrators (quantization/calibrate.py) compute them,
// fed batch by batch so that no activation is kept once it has been counted.
//   minmax:     min over batches of each batch's min, max of the maxes (float32 values, so order does not matter).
//   entropy:    a histogram of x over [-t, t] (t = max |x| seen, 128 bins, widened by whole bins as t grows); the
//               threshold that minimizes the KL divergence between the clipped and the 128-level quantized histogram.
//   percentile: a histogram of |x| (2048 bins from the first batch's [min |x|, max |x|], extended by whole bins);
//               the edge where the cumulative share reaches p%, as (-edge, edge).
// Both histogram methods clip the threshold to the observed [min, max], as onnxruntime does.
//
// What differs from onnxruntime, and why: numpy makes float32 bin edges for float32 data, and with a range of
// ±3.4e38 (attention masks filled with float32's lowest) or a range narrow against its magnitude those edges
// overflow or repeat, and np.histogram raises "Too many bins for data range" (onnxruntime 1.30 fails that way on
// small ViT, BERT and GPT-2 calibration sets). Edges here are float64, which holds every such range; a degenerate
// range (all values equal) gets numpy's ±0.5 widening. Bins agree with numpy's wherever numpy succeeds, up to values
// that fall within float32 rounding of an edge.
import { OnnxOptError } from '../errors.js';

export type CalibrationMethod = 'minmax' | 'entropy' | 'percentile';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'entropy', 'percentile'];

/** A calibrated range: float32 numbers, min <= max. */
export type TensorRange = readonly [min: number, max: number];

export interface CalibratorOptions {
  /** Percentile's p (default 99.999, onnxruntime's). */
  percentile?: number;
  /** Entropy's histogram bins and quantized levels (default 128 and 128); percentile's bins (default 2048). */
  bins?: number;
  quantizedBins?: number;
}

/** Statistics of the tensors seen so far; `ranges()` gives each tensor's range. */
export interface Calibrator {
  readonly method: CalibrationMethod;
  /** Folds one batch of a tensor's values in. */
  add(tensor: string, values: Float32Array): void;
  /** Folds in a batch's min and max alone (minmax only: what a model computing ReduceMin/ReduceMax hands back). */
  addRange?(tensor: string, min: number, max: number): void;
  ranges(): Map<string, TensorRange>;
}

export function createCalibrator(method: CalibrationMethod, options: CalibratorOptions = {}): Calibrator {
  switch (method) {
    case 'minmax':
      return new MinMaxCalibrator();
    case 'entropy':
      return new EntropyCalibrator(options.bins ?? 128, options.quantizedBins ?? 128);
    case 'percentile': {
      const p = options.percentile ?? 99.999;
      if (!(p >= 0 && p <= 100)) throw new OnnxOptError(`percentile must be between 0 and 100, not ${p}`);
      return new PercentileCalibrator(options.bins ?? 2048, p);
    }
    default:
      throw new OnnxOptError(`unknown calibration method '${method}' (methods: ${CALIBRATION_METHODS.join(', ')})`);
  }
}

/** Min and max of float32 values; NaN is skipped (ReduceMin/ReduceMax would propagate it, and no range holds it). */
export function valueRange(values: Float32Array): [number, number] {
  let lo = Infinity,
    hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return values.length ? [lo, hi] : [0, 0];
}

class MinMaxCalibrator implements Calibrator {
  readonly method = 'minmax';
  private readonly seen = new Map<string, [number, number]>();

  add(tensor: string, values: Float32Array): void {
    const [lo, hi] = valueRange(values);
    this.addRange(tensor, lo, hi);
  }

  addRange(tensor: string, min: number, max: number): void {
    const r = this.seen.get(tensor);
    if (!r) this.seen.set(tensor, [min, max]);
    else {
      if (min < r[0]) r[0] = min;
      if (max > r[1]) r[1] = max;
    }
  }

  ranges(): Map<string, TensorRange> {
    return new Map(this.seen);
  }
}

/** A histogram with explicit edges (edges.length = counts.length + 1) and the observed min and max. */
interface Histogram {
  counts: Float64Array;
  edges: Float64Array;
  min: number;
  max: number;
}

/** numpy.linspace(lo, hi, n + 1): evenly spaced edges, the last one exactly hi. */
function evenEdges(lo: number, hi: number, n: number): Float64Array {
  const edges = new Float64Array(n + 1);
  const step = (hi - lo) / n;
  for (let i = 0; i < n; i++) edges[i] = lo + i * step;
  edges[n] = hi;
  return edges;
}

/**
 * numpy.histogram counts over `edges` (increasing, near-even): bins are [e_i, e_i+1) except the last, which holds its
 * right edge; values outside [e_0, e_n] are not counted. The bin is guessed from the mean width and corrected against
 * the edges, as numpy does for even bins.
 */
function countInto(
  values: Float32Array,
  edges: Float64Array,
  counts: Float64Array,
  transform: (v: number) => number,
): void {
  const n = counts.length;
  const first = edges[0]!,
    last = edges[n]!;
  const norm = n / (last - first);
  for (let j = 0; j < values.length; j++) {
    const v = transform(values[j]!);
    if (!(v >= first && v <= last)) continue;
    let i = Math.floor((v - first) * norm);
    if (i >= n) i = n - 1;
    while (i > 0 && v < edges[i]!) i--;
    while (i < n - 1 && v >= edges[i + 1]!) i++;
    counts[i]!++;
  }
}

/** numpy's widening of an empty range: [x - 0.5, x + 0.5]. */
function outerEdges(lo: number, hi: number): [number, number] {
  return lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

class EntropyCalibrator implements Calibrator {
  readonly method = 'entropy';
  private readonly histograms = new Map<string, Histogram & { threshold: number }>();

  constructor(
    private readonly bins: number,
    private readonly quantizedBins: number,
  ) {}

  add(tensor: string, values: Float32Array): void {
    const [min, max] = valueRange(values);
    const threshold = Math.max(Math.abs(min), Math.abs(max));
    const old = this.histograms.get(tensor);
    const identity = (v: number) => v;
    if (!old) {
      const [lo, hi] = outerEdges(-threshold, threshold);
      const h = { counts: new Float64Array(this.bins), edges: evenEdges(lo, hi, this.bins), min, max, threshold };
      countInto(values, h.edges, h.counts, identity);
      this.histograms.set(tensor, h);
      return;
    }
    old.min = Math.min(old.min, min);
    old.max = Math.max(old.max, max);
    if (threshold <= old.threshold) {
      countInto(values, old.edges, old.counts, identity);
      return;
    }
    const oldBins = old.counts.length;
    let counts: Float64Array, edges: Float64Array;
    if (old.threshold === 0) {
      counts = new Float64Array(oldBins);
      edges = evenEdges(-threshold, threshold, oldBins);
      counts.set(old.counts);
      old.threshold = threshold;
    } else {
      // widen by whole bins of the old width on each side, so the old counts move over unchanged
      const stride = (2 * old.threshold) / oldBins;
      const half = Math.floor((threshold - old.threshold) / stride) + 1;
      const newBins = oldBins + 2 * half;
      old.threshold = half * stride + old.threshold;
      counts = new Float64Array(newBins);
      edges = evenEdges(-old.threshold, old.threshold, newBins);
      counts.set(old.counts, half);
    }
    countInto(values, edges, counts, identity);
    old.counts = counts;
    old.edges = edges;
  }

  ranges(): Map<string, TensorRange> {
    const out = new Map<string, TensorRange>();
    for (const [name, h] of this.histograms)
      out.set(name, clipToSeen(entropyThreshold(h.counts, h.edges, this.quantizedBins), h));
    return out;
  }
}

/**
 * onnxruntime's get_entropy_threshold: for each symmetric slice of at least `quantizedBins` bins around zero, the
 * clipped histogram p (outliers added to the edge bins) against q, the slice merged into `quantizedBins` levels and
 * spread back over p's non-empty bins (integer division, as onnxruntime's int64 array stores it); both smoothed
 * (eps 1e-4 of mass onto empty bins, in float32 as there) and compared by KL divergence (scipy.stats.entropy); the
 * slice with the least divergence wins, the first of equals. Computed in place, O(bins) per slice: a histogram widened
 * by far outliers has thousands of bins.
 */
function entropyThreshold(hist: Float64Array, edges: Float64Array, quantizedBins: number): [number, number] {
  const bins = hist.length;
  const zero = Math.floor(bins / 2);
  const halfQuantized = Math.floor(quantizedBins / 2);
  const prefix = new Float64Array(bins + 1);
  for (let k = 0; k < bins; k++) prefix[k + 1] = prefix[k]! + hist[k]!;
  const eps = Math.fround(0.0001);
  let best = Infinity;
  let threshold: [number, number] = [edges[zero - halfQuantized]!, edges[Math.min(zero + halfQuantized + 1, bins)]!];
  const p = new Float64Array(bins);
  const q = new Float64Array(bins);
  for (let i = halfQuantized; i <= zero; i++) {
    const start = zero - i;
    const end = Math.min(zero + i + 1, bins);
    const len = end - start;
    p.set(hist.subarray(start, end));
    p[0]! += prefix[start]!;
    p[len - 1]! += prefix[bins]! - prefix[end]!;
    const merged = Math.floor(len / quantizedBins);
    const whole = quantizedBins * merged;
    // q: each group of `merged` bins gets its sum spread over its non-empty bins of p; bins past the groups stay 0
    let pZeros = 0,
      qZeros = 0;
    for (let b = 0; b < quantizedBins; b++) {
      const from = b * merged,
        to = from + merged;
      let sum = prefix[start + to]! - prefix[start + from]!;
      if (b === quantizedBins - 1) sum += prefix[end]! - prefix[start + whole]!;
      let nonzero = 0;
      for (let k = from; k < to; k++) if (p[k] !== 0) nonzero++;
      pZeros += merged - nonzero;
      const level = nonzero ? Math.trunc(sum / nonzero) : 0;
      if (level === 0) qZeros += merged;
      q.fill(level, from, to);
    }
    for (let k = whole; k < len; k++) {
      q[k] = 0;
      qZeros++;
      if (p[k] === 0) pZeros++;
    }
    if (pZeros === len || qZeros === len) continue; // smooth_distribution gives None: divergence inf
    const pShift = Math.fround((0.0001 * pZeros) / (len - pZeros));
    const qShift = Math.fround((0.0001 * qZeros) / (len - qZeros));
    let sp = 0,
      sq = 0;
    for (let k = 0; k < len; k++) {
      p[k] = p[k] === 0 ? eps : Math.fround(p[k]! - pShift);
      q[k] = q[k] === 0 ? eps : Math.fround(q[k]! - qShift);
      sp += p[k]!;
      sq += q[k]!;
    }
    let kl = 0;
    for (let k = 0; k < len; k++) {
      const a = p[k]! / sp;
      kl += a * Math.log(a / (q[k]! / sq));
    }
    if (kl < best) {
      best = kl;
      threshold = [edges[start]!, edges[end]!];
    }
  }
  return threshold;
}

class PercentileCalibrator implements Calibrator {
  readonly method = 'percentile';
  private readonly histograms = new Map<string, Histogram>();

  constructor(
    private readonly bins: number,
    private readonly percentile: number,
  ) {}

  add(tensor: string, values: Float32Array): void {
    const [min, max] = valueRange(values);
    let absMin = Infinity,
      absMax = 0;
    for (let i = 0; i < values.length; i++) {
      const a = Math.abs(values[i]!);
      if (a < absMin) absMin = a;
      if (a > absMax) absMax = a;
    }
    if (!values.length) absMin = 0;
    const old = this.histograms.get(tensor);
    if (!old) {
      const [lo, hi] = outerEdges(absMin, absMax);
      const h = { counts: new Float64Array(this.bins), edges: evenEdges(lo, hi, this.bins), min, max };
      countInto(values, h.edges, h.counts, Math.abs);
      this.histograms.set(tensor, h);
      return;
    }
    old.min = Math.min(old.min, min);
    old.max = Math.max(old.max, max);
    const last = old.edges[old.edges.length - 1]!;
    if (absMax > last) {
      // numpy.arange(last + width, absMax + width, width): whole bins of the first width, up to past absMax
      const width = old.edges[1]! - old.edges[0]!;
      const extra = Math.max(0, Math.ceil((absMax + width - (last + width)) / width));
      const edges = new Float64Array(old.edges.length + extra);
      edges.set(old.edges);
      for (let k = 0; k < extra; k++) edges[old.edges.length + k] = last + width + k * width;
      const counts = new Float64Array(edges.length - 1);
      counts.set(old.counts);
      old.edges = edges;
      old.counts = counts;
    }
    countInto(values, old.edges, old.counts, Math.abs);
  }

  ranges(): Map<string, TensorRange> {
    const out = new Map<string, TensorRange>();
    for (const [name, h] of this.histograms) {
      let total = 0;
      for (const c of h.counts) total += c;
      // searchsorted(cdf, p / 100): the first bin whose cumulative share reaches p
      const target = this.percentile / 100;
      let cumulative = 0;
      let idx = h.counts.length;
      for (let i = 0; i < h.counts.length; i++) {
        cumulative += h.counts[i]! / total;
        if (cumulative >= target) {
          idx = i;
          break;
        }
      }
      const edge = h.edges[Math.min(idx, h.edges.length - 1)]!;
      out.set(name, clipToSeen([-edge, edge], h));
    }
    return out;
  }
}

/** The threshold clipped to the values seen, as float32 numbers. */
function clipToSeen([lo, hi]: [number, number], seen: { min: number; max: number }): TensorRange {
  return [Math.fround(Math.max(lo, seen.min)), Math.fround(Math.min(hi, seen.max))];
}
