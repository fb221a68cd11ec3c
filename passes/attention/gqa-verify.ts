// Proves by evaluation what a decoder attention site computes: softmax(scale · q·kᵀ [softcapped] + bias) · v with
// query head h reading KV head ⌊h / (N / Nkv)⌋, the new keys and values appended to the cache inputs, and `bias` a
// value of the graph computed without q, k or v (the mask the export builds: padding, causality, a sliding window).
// Probes bind the decoder's dims consistently (the mask's length is past + new), since the graph's mask depends on it.
import type { Graph, Value } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { elemTypeOf, shapeOf } from '../../src/ir/types.js';
import { ProbeEvaluator, makeProbeInputs } from '../../src/eval/probe.js';
import { DataType, isFloatType } from '../../src/tensor/dtype.js';
import type { CachedAttentionSite } from './gqa-site.js';
import { MASKED, broadcastBias, lcgFloats, median, scoresCopy } from './scores.js';

export interface CachedAttentionMeaning {
  numHeads: number;
  kvHeads: number;
  headSize: number;
  scale: number;
  softcap: number;
  /** The additive mask (B|1, 1|N, S, T), if the scores carry one. */
  bias?: Value;
  /**
   * The mask holds -∞ on some probe: a query row it masks whole is NaN in onnxruntime's MultiHeadAttention (the
   * export guards its own with IsNaN/Where), and a NaN row spoils what reads it, e.g. a per-tensor dynamic quantization.
   */
  infiniteBias?: boolean;
  /** Every key after a query's own position is masked (decoders); else the site is bidirectional. */
  causal: boolean;
  /** The attention output (B, S, N·H). */
  output: Value;
}

export interface DecoderProbe {
  evaluator: ProbeEvaluator;
  B: number;
  S: number;
  P: number;
}

/**
 * Probe inputs whose dims agree the way a decoder's do: batch B on axis 0, the cache's length P on a 4-D float input's
 * axis 2, past + new (T) on an integer input named like a mask, and S elsewhere.
 */
export function makeDecoderProbes(model: Model, scope: Graph, withPast: boolean): DecoderProbe[] {
  return [
    { B: 2, S: 3, P: 2 },
    { B: 2, S: 2, P: 3 },
  ].map(({ B, S, P }, i) => {
    const roles: Record<string, number> = {};
    const past = withPast ? P : 0;
    for (const input of model.graph.inputs) {
      if (input.initializer) continue;
      const shape = shapeOf(input.type) ?? [];
      const type = elemTypeOf(input.type);
      shape.forEach((d, axis) => {
        if (typeof d !== 'string' || d in roles) return;
        if (axis === 0) roles[d] = B;
        else if (shape.length === 4 && isFloatType(type ?? 0) && axis === 2) roles[d] = P;
        else if (shape.length === 2 && /mask/i.test(input.name) && axis === 1) roles[d] = past + S;
        else roles[d] = S;
      });
    }
    // makeProbeInputs takes sizes in the order the dims first appear
    const sizes: number[] = [];
    const seen = new Set<string>();
    for (const input of model.graph.inputs) {
      if (input.initializer) continue;
      for (const d of shapeOf(input.type) ?? [])
        if (typeof d === 'string' && !seen.has(d)) (seen.add(d), sizes.push(roles[d]!));
    }
    const inputs = makeProbeInputs(model, sizes, 41 + i);
    // a realistic mask: row 0 whole, row 1 padded on the left (where generate() pads) by one
    for (const [v, t] of inputs.feeds) {
      if (!/mask/i.test(v.name) || t.rank !== 2) continue;
      const [rows, cols] = t.dims as [number, number];
      const m = Array.from({ length: rows * cols }, (_, k) =>
        k % cols === 0 && Math.floor(k / cols) % 2 === 1 ? 0 : 1,
      );
      inputs.feeds.set(v, Tensor.fromArray(t.name, t.dataType, t.dims, m));
    }
    return { evaluator: new ProbeEvaluator(model, inputs, scope), B, S, P };
  });
}

function probeSite(
  site: CachedAttentionSite,
  probe: DecoderProbe,
  seed: number,
  bias: Value | undefined,
): CachedAttentionMeaning | string {
  const { evaluator, B, S, P } = probe;
  const qDims = evaluator.dimsOf(site.q);
  const kDims = evaluator.dimsOf(site.kNew);
  const vDims = evaluator.dimsOf(site.vNew);
  if (qDims.length !== 4 || qDims[0] !== B || qDims[2] !== S)
    return `q is shaped [${qDims}], not (${B}, heads, ${S}, head size)`;
  const [, N, , H] = qDims as [number, number, number, number];
  const Nkv = kDims[1]!;
  if (kDims.join() !== [B, Nkv, S, H].join() || vDims.join() !== kDims.join())
    return `new keys/values are shaped [${kDims}] and [${vDims}], not (${B}, kv heads, ${S}, ${H})`;
  if (N % Nkv) return `${N} query heads do not share ${Nkv} kv heads evenly`;
  const Pp = site.past ? P : 0;
  const T = Pp + S;
  const q = lcgFloats(B * N * S * H, seed);
  const k = lcgFloats(B * Nkv * S * H, seed + 1);
  const v = lcgFloats(B * Nkv * S * H, seed + 2);
  const overrides = new Map<Value, Tensor>([
    [site.q, Tensor.fromArray('', DataType.FLOAT, qDims, q)],
    [site.kNew, Tensor.fromArray('', DataType.FLOAT, kDims, k)],
    [site.vNew, Tensor.fromArray('', DataType.FLOAT, vDims, v)],
  ]);
  let pk: Float32Array = new Float32Array(0);
  let pv: Float32Array = new Float32Array(0);
  if (site.past) {
    [pk, pv] = [lcgFloats(B * Nkv * P * H, seed + 3), lcgFloats(B * Nkv * P * H, seed + 4)];
    overrides.set(site.past.key, Tensor.fromArray('', DataType.FLOAT, [B, Nkv, P, H], pk));
    overrides.set(site.past.value, Tensor.fromArray('', DataType.FLOAT, [B, Nkv, P, H], pv));
  }
  const evaluate = evaluator.with(overrides);
  const group = N / Nkv;
  const key = (b: number, n: number, j: number, h: number, cache: Float32Array, fresh: Float32Array) => {
    const kv = Math.floor(n / group);
    return j < Pp ? cache[((b * Nkv + kv) * Pp + j) * H + h]! : fresh[((b * Nkv + kv) * S + j - Pp) * H + h]!;
  };
  const dot = (b: number, n: number, i: number, j: number) => {
    let acc = 0;
    for (let h = 0; h < H; h++) acc += q[((b * N + n) * S + i) * H + h]! * key(b, n, j, h, pk, k);
    return acc;
  };
  const zs = scoresCopy(evaluate(site.scores), [B, N, S, T]);
  if (typeof zs === 'string') return zs;
  let added: Float32Array | undefined;
  if (bias) {
    const t = evaluate(bias);
    added = broadcastBias(t, [B, N, S, T]);
    if (!added) return `the mask is shaped [${t.dims}], not (${B}|1, ${N}|1, ${S}, ${T})`;
    if (t.dataType !== DataType.FLOAT) return 'the mask is not float32';
  }
  const infiniteBias = !!added?.includes(-Infinity);
  // scale (and softcap) from the unmasked scores
  const at = (b: number, n: number, i: number, j: number) => ((b * N + n) * S + i) * T + j;
  const raw: number[] = [];
  const ratios: number[] = [];
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++)
      for (let i = 0; i < S; i++)
        for (let j = 0; j < T; j++) {
          const zz = zs[at(b, n, i, j)]! - (added ? added[at(b, n, i, j)]! : 0);
          if (zs[at(b, n, i, j)]! < MASKED || (added && added[at(b, n, i, j)]! < MASKED)) continue;
          const d = dot(b, n, i, j);
          raw.push(zz, d);
          if (Math.abs(d) > 1e-3) ratios.push(zz / d);
        }
  if (!ratios.length) return 'no unmasked scores to measure the scale from';
  let scale = median(ratios);
  let softcap = 0;
  if (site.softcap) {
    // zz = c · tanh(scale · d / c): c is the cap the graph multiplies tanh by, scale from the smallest scores
    const mul = site.softcap.tanh.output(0).uses[0]?.node;
    const c = mul?.inputs
      .map((x) => x?.constantTensor())
      .find((t) => t?.size === 1)
      ?.toNumbers()[0];
    if (!c) return "the softcap's cap is not a constant";
    softcap = c;
    scale = median(
      ratios
        .map((_, i) => (Math.atanh(Math.max(-0.999999, Math.min(0.999999, raw[2 * i]! / c))) * c) / raw[2 * i + 1]!)
        .filter((r) => Number.isFinite(r)),
    );
  }
  const logit = (d: number) => (softcap ? softcap * Math.tanh((scale * d) / softcap) : scale * d);
  // every score explained: the (capped) scaled dot product plus the mask, or masked
  let causal = true;
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++)
      for (let i = 0; i < S; i++)
        for (let j = 0; j < T; j++) {
          const zz = zs[at(b, n, i, j)]!;
          const term = added ? added[at(b, n, i, j)]! : 0;
          const masked = zz < MASKED;
          if (j > Pp + i && !masked) causal = false;
          if (masked) {
            if (!(term < MASKED)) return 'scores are masked where the mask is not';
            continue;
          }
          const expect = logit(dot(b, n, i, j)) + term;
          if (Math.abs(zz - expect) > 1e-3 * (1 + Math.abs(expect)))
            return `scores are not ${softcap ? 'a softcapped' : 'a'} scaled q·kᵀ${bias ? ' plus the mask' : ''}`;
        }
  // the output against a reference, over the queries that see at least one key
  const shapes = site.outputCandidates.map((o) => evaluate(o).dims.join());
  const idx = shapes.indexOf([B, S, N * H].join());
  if (idx < 0) return `no value after the context is shaped [${[B, S, N * H]}]`;
  const output = site.outputCandidates[idx]!;
  const got = evaluate(output).toFloat32();
  let worst = 0;
  const logits = new Float64Array(T);
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++)
      for (let i = 0; i < S; i++) {
        let max = -Infinity;
        for (let j = 0; j < T; j++) {
          const term = added ? added[at(b, n, i, j)]! : 0;
          logits[j] = term < MASKED || (causal && j > Pp + i) ? -Infinity : logit(dot(b, n, i, j)) + term;
          max = Math.max(max, logits[j]!);
        }
        if (max === -Infinity) continue;
        let sum = 0;
        for (let j = 0; j < T; j++) sum += logits[j] = Math.exp(logits[j]! - max);
        for (let h = 0; h < H; h++) {
          let acc = 0;
          for (let j = 0; j < T; j++) acc += (logits[j]! / sum) * key(b, n, j, h, pv, v);
          worst = Math.max(worst, Math.abs(acc - got[(b * S + i) * N * H + n * H + h]!));
        }
      }
  if (!(worst <= 1e-4)) return `the site's output differs from grouped-query attention by ${worst.toExponential(2)}`;
  return {
    numHeads: N,
    kvHeads: Nkv,
    headSize: H,
    scale,
    softcap,
    causal,
    output,
    ...(bias ? { bias } : {}),
    ...(infiniteBias ? { infiniteBias } : {}),
  };
}

/** The meaning if every probe agrees, trying each addend of the scores as the mask; else the reasons. */
export function verifyCachedAttention(
  site: CachedAttentionSite,
  probes: DecoderProbe[],
): CachedAttentionMeaning | string {
  const reasons: string[] = [];
  // a mask first: decoders' scores carry one, and each refused try costs a full evaluation
  for (const bias of [...site.addends, undefined]) {
    if (bias && dependsOnSite(bias, site)) {
      reasons.push(`'${bias.name}' is computed from q, k or v`);
      continue;
    }
    let first: CachedAttentionMeaning | undefined;
    let why: string | undefined;
    for (const [i, probe] of probes.entries()) {
      let m: CachedAttentionMeaning | string;
      try {
        m = probeSite(site, probe, 501 + 7 * i, bias);
      } catch (e) {
        m = `cannot evaluate the site: ${(e as Error).message}`;
      }
      if (typeof m === 'string') {
        why = m;
        break;
      }
      if (
        first &&
        (first.numHeads !== m.numHeads ||
          first.kvHeads !== m.kvHeads ||
          first.causal !== m.causal ||
          first.output !== m.output ||
          Math.abs(first.scale - m.scale) > 1e-4 * Math.abs(first.scale))
      ) {
        why = 'probes of different sizes disagree about the site';
        break;
      }
      if (first && m.infiniteBias) first.infiniteBias = true;
      first ??= m;
    }
    if (!why && first) return first;
    reasons.push(bias ? `with '${bias.name}' as the mask: ${why}` : why!);
  }
  return reasons.join('; ');
}

/** Whether a value is computed from the site's q, k or v (then it is no mask). */
function dependsOnSite(v: Value, site: CachedAttentionSite): boolean {
  const stops = new Set<Value>([site.q, site.kNew, site.vNew]);
  const seen = new Set<Value>();
  const pending = [v];
  while (pending.length) {
    const cur = pending.pop()!;
    if (stops.has(cur)) return true;
    if (seen.has(cur) || seen.size > 2000) continue;
    seen.add(cur);
    const n = cur.producer;
    if (!n || (n.opType === 'Shape' && n.domain === '')) continue;
    for (const i of n.inputs) if (i) pending.push(i);
  }
  return false;
}
