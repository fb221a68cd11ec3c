// Element-wise comparison of one output of a reference model and a candidate, accumulated over samples.
import { dataTypeName } from '../tensor/dtype.js';
import { toFloat64, type HostTensor } from './host-tensor.js';

export interface Tolerance {
  /** Absolute tolerance. */
  atol: number;
  /** Relative tolerance, scaled by the reference's magnitude. */
  rtol: number;
  /**
   * When set, an output passes on direction instead of closeness: cosine similarity at least this (for lossy
   * transformations such as INT8 or FP16, whose differences are expected).
   */
  minCosine?: number;
}

export interface OutputComparison {
  name: string;
  /** Element type and dims of the reference (first sample). */
  type: string;
  shape: number[];
  /** The candidate's type and dims where they differ from the reference's. */
  candidateType?: string;
  candidateShape?: number[];
  elements: number;
  /** Largest |candidate - reference| over finite pairs. */
  maxAbs: number;
  /** Largest |candidate - reference| / |reference| over finite pairs with a non-zero reference. */
  maxRel: number;
  meanAbs: number;
  /** Cosine similarity of the flattened outputs (1 when both are all zeros). */
  cosine: number;
  nan: { reference: number; candidate: number };
  inf: { reference: number; candidate: number };
  /** Elements outside |candidate - reference| <= atol + rtol * |reference| (numpy.allclose(candidate, reference)). */
  mismatches: number;
  /** Same type, shape and bytes in every sample. */
  exact: boolean;
  pass: boolean;
  /** Why the output failed outright (missing, shape mismatch), if it did. */
  problem?: string;
}

/** Collects the comparison of one named output over several runs. */
export class OutputComparer {
  private first: { type: string; shape: number[]; candidateType?: string; candidateShape?: number[] } | undefined;
  private elements = 0;
  private finitePairs = 0;
  private maxAbs = 0;
  private maxRel = 0;
  private sumAbs = 0;
  private dot = 0;
  private normRef = 0;
  private normCand = 0;
  private nanRef = 0;
  private nanCand = 0;
  private infRef = 0;
  private infCand = 0;
  private mismatches = 0;
  private exact = true;
  private problem: string | undefined;

  constructor(
    readonly name: string,
    private readonly tolerance: Tolerance,
  ) {}

  /** Marks the output as failed outright (e.g. one model lacks it). */
  fail(problem: string): void {
    this.problem ??= problem;
    this.exact = false;
  }

  add(reference: HostTensor, candidate: HostTensor): void {
    const sameShape =
      reference.dims.length === candidate.dims.length && reference.dims.every((d, i) => d === candidate.dims[i]);
    if (!this.first) {
      this.first = { type: dataTypeName(reference.dataType), shape: [...reference.dims] };
      if (candidate.dataType !== reference.dataType) this.first.candidateType = dataTypeName(candidate.dataType);
      if (!sameShape) this.first.candidateShape = [...candidate.dims];
    }
    if (!sameShape) {
      this.fail(`shapes differ: [${reference.dims.join(', ')}] vs [${candidate.dims.join(', ')}]`);
      return;
    }
    if (candidate.dataType !== reference.dataType || !sameBytes(reference, candidate)) this.exact = false;
    const a = toFloat64(reference);
    const b = toFloat64(candidate);
    const { atol, rtol } = this.tolerance;
    this.elements += a.length;
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!;
      const y = b[i]!;
      if (Number.isNaN(x) || Number.isNaN(y)) {
        if (Number.isNaN(x)) this.nanRef++;
        if (Number.isNaN(y)) this.nanCand++;
        // NaN where the reference has NaN is agreement (numpy's equal_nan); anywhere else it is a mismatch.
        if (Number.isNaN(x) !== Number.isNaN(y)) this.mismatches++;
        continue;
      }
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        if (!Number.isFinite(x)) this.infRef++;
        if (!Number.isFinite(y)) this.infCand++;
        if (x !== y) this.mismatches++;
        continue;
      }
      const diff = Math.abs(x - y);
      this.finitePairs++;
      this.sumAbs += diff;
      if (diff > this.maxAbs) this.maxAbs = diff;
      if (x !== 0 && diff / Math.abs(x) > this.maxRel) this.maxRel = diff / Math.abs(x);
      if (!(diff <= atol + rtol * Math.abs(x))) this.mismatches++;
      this.dot += x * y;
      this.normRef += x * x;
      this.normCand += y * y;
    }
  }

  result(): OutputComparison {
    const norms = Math.sqrt(this.normRef) * Math.sqrt(this.normCand);
    const cosine = this.normRef === 0 && this.normCand === 0 ? 1 : norms === 0 ? 0 : this.dot / norms;
    const { minCosine } = this.tolerance;
    const numericPass =
      minCosine === undefined
        ? this.mismatches === 0
        : cosine >= minCosine && this.nanRef === this.nanCand && this.infRef === this.infCand;
    const out: OutputComparison = {
      name: this.name,
      type: this.first?.type ?? '?',
      shape: this.first?.shape ?? [],
      elements: this.elements,
      maxAbs: this.maxAbs,
      maxRel: this.maxRel,
      meanAbs: this.finitePairs ? this.sumAbs / this.finitePairs : 0,
      cosine,
      nan: { reference: this.nanRef, candidate: this.nanCand },
      inf: { reference: this.infRef, candidate: this.infCand },
      mismatches: this.mismatches,
      exact: this.exact && this.first !== undefined,
      pass: this.problem === undefined && this.first !== undefined && numericPass,
    };
    if (this.first?.candidateType) out.candidateType = this.first.candidateType;
    if (this.first?.candidateShape) out.candidateShape = this.first.candidateShape;
    if (this.problem) out.problem = this.problem;
    return out;
  }
}

function sameBytes(a: HostTensor, b: HostTensor): boolean {
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  if (x.byteLength !== y.byteLength) return false;
  for (let i = 0; i < x.byteLength; i++) if (x[i] !== y[i]) return false;
  return true;
}
