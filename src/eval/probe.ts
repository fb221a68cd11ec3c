// Evaluates single values of a model on small probe inputs, on demand. Fusions use it to check what a subgraph
// means (e.g. "this tensor is where(mask[b, k], 0, c)") instead of trusting its shape alone.
import type { Graph, Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { Tensor } from '../ir/tensor.js';
import { shapeOf } from '../ir/types.js';
import { evaluateParam } from '../shape/dims.js';
import { DataType, isFloatType } from '../tensor/dtype.js';
import { seededRandom } from '../tensor/random.js';
import { UnsupportedOp } from './kernel.js';
import { evaluateFromDims, evaluateNode } from './registry.js';

/** Probe results are tiny; a value needing more than this is not worth evaluating. */
export const MAX_PROBE_BYTES = 64 * 1024 * 1024;

export interface ProbeInputs {
  /** Sizes for symbolic dims, by name (the graph inputs' dim_params). */
  dims: Record<string, number>;
  feeds: Map<Value, Tensor>;
}

/**
 * Makes probe inputs for a model's graph inputs: symbolic dims get distinct sizes in order of appearance
 * (`sizes`), integer inputs random 0/1 (valid token ids, token types and masks alike; every row starts with 1 and
 * every row after the first ends with 0, so a mask always masks something), bool inputs likewise, float inputs
 * uniform in [-1, 1). Dims pinned by `fixedDims` take their pinned size (a model folded for them may hold only
 * that size) and still use up their place in `sizes`, so the other dims get the same sizes either way.
 * Deterministic for a seed.
 */
export function makeProbeInputs(
  model: Model,
  sizes: readonly number[],
  seed: number,
  fixedDims: Readonly<Record<string, number>> = {},
): ProbeInputs {
  const dims: Record<string, number> = {};
  const feeds = new Map<Value, Tensor>();
  let next = 0;
  const random = seededRandom(seed);
  for (const input of model.graph.inputs) {
    if (input.initializer) continue;
    const shape = shapeOf(input.type);
    const elemType = input.type?.kind === 'tensor' ? input.type.elemType : undefined;
    if (!shape || elemType === undefined) throw new UnsupportedOp(`input '${input.name}' has no known tensor type`);
    const concrete = shape.map((d) => {
      if (typeof d === 'number') return d;
      const name = d ?? `?${input.name}`;
      if (!(name in dims)) {
        const size = sizes[next++] ?? 3;
        dims[name] = fixedDims[name] ?? size;
      }
      return dims[name]!;
    });
    const count = concrete.reduce((a, b) => a * b, 1);
    const row = concrete.at(-1) ?? 1;
    // a single row (batch pinned to 1) ends with 0 too, so a mask still masks something
    const lastMasked = (i: number) => i % row === row - 1 && (i >= row || count === row);
    // plain loops (inputs such as a KV cache run to thousands of elements); the random stream is the same either way
    const bits = new Array<number>(count);
    for (let i = 0; i < count; i++) bits[i] = i % row === 0 ? 1 : lastMasked(i) ? 0 : random() < 0.6 ? 1 : 0;
    let t: Tensor;
    if (isFloatType(elemType)) {
      if (elemType !== DataType.FLOAT) throw new UnsupportedOp(`input '${input.name}' is not float32`);
      const values = new Float32Array(count);
      for (let i = 0; i < count; i++) values[i] = random() * 2 - 1;
      t = Tensor.fromArray(input.name, DataType.FLOAT, concrete, values);
    } else if (elemType === DataType.BOOL) {
      t = Tensor.fromArray(input.name, DataType.BOOL, concrete, Uint8Array.from(bits));
    } else {
      t = Tensor.fromArray(input.name, elemType, concrete, bits);
    }
    feeds.set(input, t);
  }
  return { dims, feeds };
}

/**
 * Evaluates values of a model's main graph for fixed probe inputs. Values that do not depend on the overrides
 * of a call are cached across calls. Shape/Size of a value whose type has known (or bound) dims is answered from
 * the type, so probing one layer does not compute every layer before it.
 */
export class ProbeEvaluator {
  private readonly cache = new Map<Value, Tensor>();
  private readonly opset: number;

  /** `scope` is the graph whose nodes are evaluated: the main graph, or a subgraph reading the main graph's inputs. */
  constructor(
    model: Model,
    private readonly inputs: ProbeInputs,
    private readonly scope: Graph = model.graph,
  ) {
    this.opset = model.opsetVersion('') ?? 1;
  }

  /** The value's tensor on the probe inputs, with some values replaced by given tensors. */
  evaluate(target: Value, overrides: ReadonlyMap<Value, Tensor> = new Map()): Tensor {
    return this.with(overrides)(target);
  }

  /**
   * An evaluation function for one set of overrides: what depends on them is computed once and shared by every
   * value asked for through it.
   */
  with(overrides: ReadonlyMap<Value, Tensor>): (target: Value) => Tensor {
    const local = new Map<Value, Tensor>();
    const visit = (v: Value): { t: Tensor; tainted: boolean } => {
      const o = overrides.get(v);
      if (o) return { t: o, tainted: true };
      const c = this.cache.get(v) ?? local.get(v);
      if (c) return { t: c, tainted: local.has(v) };
      const constant = v.constantTensor();
      if (constant) return { t: constant, tainted: false };
      const feed = this.inputs.feeds.get(v);
      if (feed) return { t: feed, tainted: false };
      const node = v.producer;
      if (!node || node.graph !== this.scope) throw new UnsupportedOp(`value '${v.name}' cannot be probed`);
      if (node.subgraphs().length) throw new UnsupportedOp(`${node.opType}: subgraphs are not probed`);
      let outputs: Tensor[] | undefined;
      let tainted = false;
      if ((node.opType === 'Shape' || node.opType === 'Size') && node.domain === '' && !overrides.has(node.input(0))) {
        const dims = this.boundDims(node.input(0));
        if (dims) outputs = evaluateFromDims(node, dims, this.opset);
      }
      if (!outputs) {
        const ins = node.inputs.map((x) => {
          if (!x) return undefined;
          const r = visit(x);
          tainted ||= r.tainted;
          return r.t;
        });
        outputs = evaluateNode(node, ins, this.opset, { maxOutputBytes: MAX_PROBE_BYTES });
      }
      node.outputs.forEach((out, i) => out && (tainted ? local : this.cache).set(out, outputs![i]!));
      return { t: outputs[v.outputIndex]!, tainted };
    };
    return (target) => visit(target).t;
  }

  /** A value's dims on the probe inputs: from its type when bound, else by evaluating it. */
  dimsOf(v: Value): readonly number[] {
    return this.boundDims(v) ?? this.evaluate(v).dims;
  }

  /** Dims of a value from its type, with symbolic dims bound to the probe sizes; undefined if any is unknown. */
  private boundDims(v: Value): number[] | undefined {
    const shape = shapeOf(v.type);
    if (!shape) return undefined;
    const out: number[] = [];
    for (const d of shape) {
      const n = typeof d === 'number' ? d : d !== undefined ? evaluateParam(d, this.inputs.dims) : undefined;
      if (n === undefined) return undefined;
      out.push(n);
    }
    return out;
  }
}
