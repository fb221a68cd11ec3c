// Finds where attention may be: Softmax(scores) whose scores are MatMul(q, k) and whose probabilities multiply v,
// with q, k and v reached from linear projections of one input through layout ops. The walk is deliberately
// loose (exporters vary the layout chains); verify.ts checks numerically that the site computes attention.
import type { Graph, Node, Value } from '../../src/ir/graph.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { shapeOf, staticShapeOf } from '../../src/ir/types.js';
import { isStandardNode } from '../../src/ir/ops.js';

/** A linear projection feeding q, k or v: columns [start, end) of x · W (+ b), computed in the graph as `value`. */
export interface Projection {
  x: Value;
  /** The graph's x · W (+ b), all columns: (B, S, width) or (B·S, width). */
  value: Value;
  weight: Tensor;
  /** W is stored as (out, in) (Gemm transB=1). */
  transposed: boolean;
  bias?: Tensor;
  columns: [number, number];
}

export interface AttentionSite {
  softmax: Node;
  /** The Softmax input: scaled q·k plus any additive mask. */
  scores: Value;
  /** MatMul(q, kᵀ), q shaped (B, N, S, H). */
  scoresMatMul: Node;
  /** What Adds on the way from the MatMul to the Softmax add to the scores: a mask, a position bias. */
  addends: Value[];
  q: Projection;
  k: Projection;
  v: Projection;
  /** probabilities · v, shaped (B, N, S, H). */
  context: Value;
  /** Values after `context` through Transpose/Reshape; the first shaped (B, S, N·H) is the attention output. */
  outputCandidates: Value[];
}

/** Ops that only move, reshape or cast data on the way between a projection and the attention MatMuls. */
const LAYOUT = new Set(['Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Cast', 'Identity']);

function constant(v: Value | null | undefined): Tensor | undefined {
  return v?.constantTensor();
}

function isScalar(v: Value | null | undefined): boolean {
  const t = constant(v);
  return !!t && t.size === 1;
}

/** Follows a value back through layout ops and multiplications by scalars, to where it was computed. */
export function throughLayout(v: Value): Value {
  let cur = v;
  for (let step = 0; step < 16; step++) {
    const n = cur.producer;
    if (!isStandardNode(n)) break;
    // a Concat of one input is a copy (a cache update on an empty cache, as transformers' DynamicCache writes it)
    if (LAYOUT.has(n.opType) || (n.opType === 'Concat' && n.inputs.length === 1)) cur = n.input(0);
    else if ((n.opType === 'Mul' || n.opType === 'Div') && isScalar(n.inputs[1])) cur = n.input(0);
    else if (n.opType === 'Mul' && isScalar(n.inputs[0])) cur = n.input(1);
    else break;
  }
  return cur;
}

/** x · W (+ b), as MatMul(+Add) or as Reshape(Gemm(Reshape(x))). */
function linear(v: Value): (Omit<Projection, 'columns'> & { width: number }) | undefined {
  let n = v.producer;
  let bias: Tensor | undefined;
  if (isStandardNode(n) && n.opType === 'Add') {
    const [a, b] = n.inputs;
    const ca = constant(a),
      cb = constant(b);
    const c = cb ?? ca;
    const other = cb ? a : b;
    if (!c || c.rank !== 1 || !other) return undefined;
    bias = c;
    n = other.producer;
  }
  if (isStandardNode(n) && n.opType === 'Reshape') n = n.input(0).producer;
  if (!isStandardNode(n)) return undefined;
  if (n.opType === 'MatMul') {
    const w = constant(n.inputs[1]);
    if (!w || w.rank !== 2) return undefined;
    return { x: n.input(0), value: v, weight: w, transposed: false, bias, width: w.dims[1]! };
  }
  if (n.opType === 'Gemm' && !bias) {
    const w = constant(n.inputs[1]);
    const b = constant(n.inputs[2]);
    if (!w || w.rank !== 2 || n.attrInt('transA', 0) || n.attrFloat('alpha', 1) !== 1 || n.attrFloat('beta', 1) !== 1)
      return undefined;
    if (n.inputs[2] && (!b || b.rank !== 1)) return undefined;
    const flat = n.input(0).producer;
    if (!isStandardNode(flat) || flat.opType !== 'Reshape') return undefined;
    const transposed = n.attrInt('transB', 0) === 1;
    return { x: flat.input(0), value: v, weight: w, transposed, bias: b, width: w.dims[transposed ? 0 : 1]! };
  }
  return undefined;
}

/**
 * Gather(t, i) on an axis of static size `parts` picks the i-th of `parts` equal slices of a packed projection (the
 * timm/ViT layout: Linear -> Reshape(B, S, 3, N, H) -> Transpose -> Gather 0 | 1 | 2).
 */
function packedSlice(v: Value): { from: Value; index: number; parts: number } | undefined {
  const n = v.producer;
  if (!isStandardNode(n) || n.opType !== 'Gather' || !isScalar(n.inputs[1])) return undefined;
  const axis = n.attrInt('axis', 0);
  const shape = staticShapeOf(n.input(0).type) ?? shapeOf(n.input(0).type);
  const parts = shape?.[axis < 0 ? shape.length + axis : axis];
  if (typeof parts !== 'number') return undefined;
  const index = constant(n.inputs[1])!.toNumbers()[0]!;
  return { from: n.input(0), index: index < 0 ? index + parts : index, parts };
}

/** The projection q, k or v comes from, including a column range when one projection is split three ways. */
export function projectionOf(operand: Value): Projection | undefined {
  const v = throughLayout(operand);
  const packed = packedSlice(v);
  if (packed) {
    // A guess from the layout; verification proves or refuses it.
    const source = linear(throughLayout(packed.from));
    if (!source) return undefined;
    const { width, ...rest } = source;
    const size = width / packed.parts;
    return { ...rest, columns: [packed.index * size, (packed.index + 1) * size] };
  }
  const split = v.producer;
  if (isStandardNode(split) && split.opType === 'Split') {
    const source = linear(throughLayout(split.input(0)));
    const sizes = constant(split.inputs[1])?.toNumbers() ?? split.attrInts('split');
    if (!source) return undefined;
    const parts = sizes ?? Array(split.outputs.length).fill(source.width / split.outputs.length);
    const start = parts.slice(0, v.outputIndex).reduce((a, b) => a + b, 0);
    const { width: _width, ...rest } = source;
    return { ...rest, columns: [start, start + parts[v.outputIndex]!] };
  }
  const source = linear(v);
  if (!source) return undefined;
  const { width, ...rest } = source;
  return { ...rest, columns: [0, width] };
}

/**
 * Follows a value back through scalings to the MatMul(q, k) that produced the scores, collecting the other operands
 * of the Adds passed on the way.
 */
export function scoresMatMul(v: Value, addends: Value[] = []): { node: Node; addends: Value[] } | undefined {
  let cur = v;
  for (let step = 0; step < 6; step++) {
    const n = cur.producer;
    if (!isStandardNode(n)) return undefined;
    if (n.opType === 'MatMul') return constant(n.inputs[0]) || constant(n.inputs[1]) ? undefined : { node: n, addends };
    if ((n.opType === 'Mul' || n.opType === 'Div') && isScalar(n.inputs[1])) cur = n.input(0);
    else if (n.opType === 'Mul' && isScalar(n.inputs[0])) cur = n.input(1);
    else if (n.opType === 'Add' || n.opType === 'Where' || n.opType === 'Cast') {
      // the additive mask (or a masked_fill) sits here: the scores are whichever operand leads to a MatMul
      const operands = n.opType === 'Where' ? n.inputs.slice(1) : n.inputs;
      for (const x of operands) {
        const others = n.opType === 'Add' ? operands.filter((o): o is Value => !!o && o !== x) : [];
        const found = x && scoresMatMul(x, [...addends, ...others]);
        if (found) return found;
      }
      return undefined;
    } else return undefined;
  }
  return undefined;
}

/** The MatMul that multiplies the probabilities by v, past an optional NaN guard, Cast or Dropout. */
export function probabilitiesMatMul(probs: Value): Node | undefined {
  const seen = new Set<Value>([probs]);
  let frontier = [probs];
  for (let depth = 0; depth < 3; depth++) {
    const next: Value[] = [];
    for (const v of frontier) {
      for (const { node, index } of v.uses) {
        if (!isStandardNode(node)) continue;
        if (node.opType === 'MatMul' && index === 0) return node;
        if (['Where', 'IsNaN', 'Cast', 'Dropout', 'Identity'].includes(node.opType)) {
          const out = node.outputs[0];
          if (out && !seen.has(out)) {
            seen.add(out);
            next.push(out);
          }
        }
      }
    }
    frontier = next;
  }
  return undefined;
}

/** Transpose/Reshape values after the context, each the only data use of the one before (Shape reads aside). */
export function outputChain(context: Value): Value[] {
  const chain: Value[] = [];
  let cur = context;
  for (let step = 0; step < 6; step++) {
    const data = cur.uses.filter(
      (u) => !(isStandardNode(u.node) && (u.node.opType === 'Shape' || u.node.opType === 'Size')),
    );
    if (data.length !== 1) break;
    const { node, index } = data[0]!;
    if (!isStandardNode(node) || !['Transpose', 'Reshape'].includes(node.opType) || index !== 0) break;
    cur = node.output(0);
    chain.push(cur);
  }
  return chain;
}

/** A Softmax the walk found no attention site at, and why. */
export interface SiteMiss {
  softmax: Node;
  reason: string;
}

/** Where a projection walk stopped, for a miss's reason. */
function stoppedAt(operand: Value): string {
  const v = throughLayout(operand);
  const n = v.producer;
  if (!n) return v.constantTensor() ? `the constant '${v.name}'` : `the graph input '${v.name}'`;
  return `${n.domain && n.domain !== 'ai.onnx' ? `${n.domain}::` : ''}${n.opType} '${n.name}'`;
}

/**
 * Every Softmax of the graph: an attention site, or a miss saying where the walk from it stopped. A Softmax whose
 * scores are no MatMul and whose probabilities multiply nothing is not attention at all; it is a miss all the same,
 * so that `--explain` accounts for every Softmax the fusion leaves.
 */
export function findAttentionSites(graph: Graph): { sites: AttentionSite[]; misses: SiteMiss[] } {
  const sites: AttentionSite[] = [];
  const misses: SiteMiss[] = [];
  for (const softmax of graph.nodes) {
    if (!isStandardNode(softmax) || softmax.opType !== 'Softmax') continue;
    const miss = (reason: string) => misses.push({ softmax, reason });
    const scores = softmax.input(0);
    const found = scoresMatMul(scores);
    if (!found) {
      miss(
        `no candidate: its input is not MatMul(q, kᵀ) through scalings, Adds, Where or Cast (reached ${stoppedAt(scores)})`,
      );
      continue;
    }
    const pv = probabilitiesMatMul(softmax.output(0));
    if (!pv) {
      miss('no candidate: its probabilities multiply no values (no MatMul(probabilities, v) within 3 steps)');
      continue;
    }
    const qk = found.node;
    const operands = { q: qk.input(0), k: qk.input(1), v: pv.input(1) };
    const projections = { q: projectionOf(operands.q), k: projectionOf(operands.k), v: projectionOf(operands.v) };
    const unprojected = (['q', 'k', 'v'] as const).filter((name) => !projections[name]);
    if (unprojected.length) {
      miss(
        `candidate MatMul '${qk.name}': ${unprojected.map((name) => `${name} is not a linear projection (reached ${stoppedAt(operands[name])})`).join('; ')}`,
      );
      continue;
    }
    const { q, k, v } = projections as { q: Projection; k: Projection; v: Projection };
    if (q.x !== k.x || q.x !== v.x) {
      miss(
        `candidate MatMul '${qk.name}': q, k and v project different inputs (q '${q.x.name}', k '${k.x.name}', v '${v.x.name}')`,
      );
      continue;
    }
    const outputCandidates = outputChain(pv.output(0));
    if (!outputCandidates.length) {
      miss(
        `candidate MatMul '${qk.name}': the context '${pv.output(0).name}' is not followed by its own Transpose or Reshape`,
      );
      continue;
    }
    sites.push({
      softmax,
      scores,
      scoresMatMul: qk,
      addends: found.addends,
      q,
      k,
      v,
      context: pv.output(0),
      outputCandidates,
    });
  }
  return { sites, misses };
}
