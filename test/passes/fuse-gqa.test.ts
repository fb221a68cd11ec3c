// fuse-gqa on a synthetic decoder layer written as transformers writes it: per-head q/k/v, a KV cache appended by
// Concat, repeat_kv as Unsqueeze/Expand/Reshape, and the export's own causal + padding (+ window) mask added to the
// scores. Fused models must match the unfused ones in onnxruntime-node with left and right padding, and keep the
// cache's names and layout.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fuseGqaPass } from '../../passes/fuse-gqa.js';
import { tensorType, type Model, type Value } from '../../src/ir/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import {
  buildModel,
  expectFusion,
  runOrt,
  uniformFloats,
  type GraphMaker,
  type OrtOutput,
  type WeightDraw,
} from '../kit/index.js';

const [N, NKV, H] = [4, 2, 16];
const D = N * H;

/** The weights these tests' tolerances were set on: uniform in [-0.5, 0.5), seeds from 11. */
const WEIGHTS: WeightDraw = { shape: 'uniform', firstSeed: 11 };

interface Layer {
  cache?: boolean;
  window?: number;
  /** kv heads; N (no repeat) or NKV */
  kvHeads?: number;
  bidirectional?: boolean;
  /** ModernBERT's local layers: a key is visible within this distance of the query, on both sides. */
  band?: number;
  /** ModernBERT: q, k, v from one projection, (B, S, 3, N, H) split on axis 2, squeezed, then transposed. */
  fusedQkv?: boolean;
  /** What the mask adds at a masked key: float32's lowest (transformers' masks) or -∞ (TorchScript's sdpa exports). */
  fill?: number;
  /** Gemma 2's attention softcap: cap · tanh(scores / cap) before the mask. */
  softcap?: number;
  /** torch.export's sdpa decomposition: q and kᵀ each scaled by √scale, kᵀ transposed on a 3-D (B·N, T, H) view. */
  dynamoSdpa?: boolean;
}

/** One decoder layer: x (B, S, D) -> attention -> · Wo, with optional past_key_values.0.* -> present.0.*. */
function decoderLayer(layer: Layer = {}): Model {
  return buildModel((g) => decoderLayerInto(g, layer), 17, WEIGHTS);
}

function decoderLayerInto(g: GraphMaker, layer: Layer): void {
  const kvHeads = layer.kvHeads ?? NKV;
  const x = g.input('x', ['batch_size', 'sequence_length', D]);
  const mask = g.input('attention_mask', ['batch_size', 'total_sequence_length'], DataType.INT64);
  const heads = (v: Value, n: number, name: string) =>
    g.op('Transpose', [g.op('Reshape', [v, g.ints(`${name}_shape`, [0, 0, n, H])], { name: `${name}_bsnh` })], {
      name: `${name}_bnsh`,
      attrs: { perm: [0, 2, 1, 3] },
    });
  // rotary on q and k, as the rotary fusion leaves it (the site's q is a RotaryEmbedding output)
  const positions = g.input('position_ids', ['batch_size', 'sequence_length'], DataType.INT64);
  const table = (f: (x: number) => number) =>
    Float32Array.from({ length: 64 * (H / 2) }, (_, i) =>
      f(Math.floor(i / (H / 2)) / 10000 ** ((2 * (i % (H / 2))) / H)),
    );
  const cos = g.init('cos_cache', table(Math.cos), [64, H / 2]);
  const sin = g.init('sin_cache', table(Math.sin), [64, H / 2]);
  const rotary = (t: Value, name: string) => {
    const out = g.op('RotaryEmbedding', [t, positions, cos, sin], { name, domain: 'com.microsoft' });
    out.type = tensorType(DataType.FLOAT, ['batch_size', undefined, 'sequence_length', H]);
    return out;
  };
  let [qh, kh, vh]: Value[] = [];
  if (layer.fusedQkv) {
    const qkv = g.op(
      'Reshape',
      [g.op('MatMul', [x, g.weight('Wqkv', [D, 3 * D])], { name: 'qkv_proj' }), g.ints('qkv_shape', [0, 0, 3, N, H])],
      { name: 'qkv' },
    );
    const parts = g.opOutputs('Split', [qkv, g.ints('qkv_split', [1, 1, 1])], {
      name: 'qkv_split',
      outputs: 3,
      attrs: { axis: 2 },
    });
    [qh, kh, vh] = parts.map((part, i) =>
      g.op('Transpose', [g.op('Squeeze', [part!, g.ints(`squeeze_${i}`, [2])], { name: `qkv_${i}_bsnh` })], {
        name: `qkv_${i}_bnsh`,
        attrs: { perm: [0, 2, 1, 3] },
      }),
    );
  } else {
    qh = heads(g.op('MatMul', [x, g.weight('Wq', [D, N * H])], { name: 'q_proj' }), N, 'q');
    kh = heads(g.op('MatMul', [x, g.weight('Wk', [D, kvHeads * H])], { name: 'k_proj' }), kvHeads, 'k');
    vh = heads(g.op('MatMul', [x, g.weight('Wv', [D, kvHeads * H])], { name: 'v_proj' }), kvHeads, 'v');
  }
  const q = rotary(qh!, 'q_rot');
  let k = rotary(kh!, 'k_rot');
  let v = vh!;
  if (layer.cache) {
    const pk = g.input('past_key_values.0.key', ['batch_size', kvHeads, 'past_sequence_length', H]);
    const pv = g.input('past_key_values.0.value', ['batch_size', kvHeads, 'past_sequence_length', H]);
    const present = ['batch_size', kvHeads, 'total_sequence_length', H];
    k = g.output(g.op('Concat', [pk, k], { name: 'present.0.key', attrs: { axis: 2 } }), present);
    v = g.output(g.op('Concat', [pv, v], { name: 'present.0.value', attrs: { axis: 2 } }), present);
  }
  // repeat_kv: (B, Nkv, T, H) -> (B, Nkv, 1, T, H) -> expand (B, Nkv, rep, T, H) -> (B, N, T, H)
  const repeat = (t: Value, name: string) => {
    if (kvHeads === N) return t;
    const shape = g.op('Shape', [t], { name: `${name}_shape` });
    const bt = g.op('Gather', [shape, g.ints(`${name}_b_idx`, [0])], { name: `${name}_b` });
    const tt = g.op('Gather', [shape, g.ints(`${name}_t_idx`, [2])], { name: `${name}_t` });
    const five = g.op('Concat', [bt, g.ints(`${name}_kv`, [kvHeads, N / kvHeads]), tt, g.ints(`${name}_h`, [H])], {
      name: `${name}_5d`,
      attrs: { axis: 0 },
    });
    const four = g.op('Concat', [bt, g.ints(`${name}_n`, [N]), tt, g.ints(`${name}_h4`, [H])], {
      name: `${name}_4d`,
      attrs: { axis: 0 },
    });
    const e = g.op('Expand', [g.op('Unsqueeze', [t, g.ints(`${name}_ax`, [2])], { name: `${name}_u` }), five], {
      name: `${name}_e`,
    });
    return g.op('Reshape', [e, four], { name: `${name}_rep` });
  };
  const kr = repeat(k, 'krep');
  const vr = repeat(v, 'vrep');
  // the export's mask: key j visible to query i (absolute position P + i) when j <= P + i, mask[b, j] = 1, and
  // (with a window) j > P + i - window
  const T = g.op('Gather', [g.op('Shape', [mask], { name: 'mask_shape' }), g.ints('one_idx', [1], [])], { name: 'T' });
  const S = g.op('Gather', [g.op('Shape', [x], { name: 'x_shape' }), g.ints('one_idx2', [1], [])], { name: 'S' });
  const P = g.op('Sub', [T, S], { name: 'P' });
  const keys = g.op('Range', [g.ints('zero', [0], []), T, g.ints('step', [1], [])], { name: 'keys' });
  const queries = g.op(
    'Add',
    [g.op('Range', [g.ints('zero2', [0], []), S, g.ints('step2', [1], [])], { name: 'qrange' }), P],
    { name: 'qpos' },
  );
  const qcol = g.op('Unsqueeze', [queries, g.ints('ax1', [1])], { name: 'qcol' });
  let visible = layer.bidirectional
    ? g.op('Cast', [g.op('Equal', [qcol, qcol], { name: 'ones_eq' })], { name: 'all', attrs: { to: DataType.BOOL } })
    : g.op('LessOrEqual', [keys, qcol], { name: 'causal' });
  if (layer.bidirectional)
    visible = g.op(
      'Expand',
      [
        visible,
        g.op(
          'Concat',
          [
            g.op('Unsqueeze', [S, g.ints('ax0s', [0])], { name: 'S1' }),
            g.op('Unsqueeze', [T, g.ints('ax0t', [0])], { name: 'T1' }),
          ],
          { name: 'ST', attrs: { axis: 0 } },
        ),
      ],
      { name: 'all_st' },
    );
  if (layer.band) {
    const distance = g.op('Abs', [g.op('Sub', [keys, qcol], { name: 'k_minus_q' })], { name: 'distance' });
    visible = g.op(
      'And',
      [visible, g.op('LessOrEqual', [distance, g.ints('band', [layer.band], [])], { name: 'in_band' })],
      { name: 'banded' },
    );
  }
  if (layer.window)
    visible = g.op(
      'And',
      [
        visible,
        g.op('Greater', [keys, g.op('Sub', [qcol, g.ints('w', [layer.window], [])], { name: 'win_lo' })], {
          name: 'in_window',
        }),
      ],
      { name: 'windowed' },
    );
  const pad = g.op(
    'Unsqueeze',
    [g.op('Cast', [mask], { name: 'mask_bool', attrs: { to: DataType.BOOL } }), g.ints('ax12', [1, 2])],
    { name: 'pad4' },
  );
  const ok = g.op('And', [g.op('Unsqueeze', [visible, g.ints('ax01', [0, 1])], { name: 'vis4' }), pad], { name: 'ok' });
  const bias = g.op('Where', [ok, g.init('zero_f', 0), g.init('lowest', layer.fill ?? -3.4028234663852886e38)], {
    name: 'mask4d',
  });
  let scaled: Value;
  if (layer.dynamoSdpa) {
    const shape = g.op('Shape', [kr], { name: 'kr_shape' });
    const dims = (start: number, end: number, name: string) =>
      g.op('Slice', [shape, g.ints(`${name}_s`, [start]), g.ints(`${name}_e`, [end])], { name: name });
    const [lead, t, h] = [dims(0, 2, 'kr_bn'), dims(2, 3, 'kr_t'), dims(3, 4, 'kr_h')];
    const flat = g.op(
      'Reshape',
      [kr, g.op('Concat', [g.ints('minus_one', [-1]), t, h], { name: 'k_flat_shape', attrs: { axis: 0 } })],
      { name: 'k_flat' },
    );
    const flatT = g.op('Transpose', [flat], { name: 'k_flat_t', attrs: { perm: [0, 2, 1] } });
    const kT = g.op('Reshape', [flatT, g.op('Concat', [lead, h, t], { name: 'kT_shape', attrs: { axis: 0 } })], {
      name: 'kT',
    });
    const root = g.init('sqrt_scale', 1 / Math.sqrt(Math.sqrt(H)));
    scaled = g.op(
      'MatMul',
      [g.op('Mul', [q, root], { name: 'q_scaled' }), g.op('Mul', [kT, root], { name: 'kT_scaled' })],
      { name: 'scaled' },
    );
  } else
    scaled = g.op(
      'Mul',
      [
        g.op('MatMul', [q, g.op('Transpose', [kr], { name: 'kT', attrs: { perm: [0, 1, 3, 2] } })], { name: 'qk' }),
        g.init('scale', 1 / Math.sqrt(H)),
      ],
      { name: 'scaled' },
    );
  if (layer.softcap)
    scaled = g.op(
      'Mul',
      [
        g.op('Tanh', [g.op('Div', [scaled, g.init('cap_in', layer.softcap)], { name: 'capped_in' })], {
          name: 'capped',
        }),
        g.init('cap_out', layer.softcap),
      ],
      { name: 'softcapped' },
    );
  const scores = g.op('Add', [scaled, bias], { name: 'scores' });
  const probs = g.op('Softmax', [scores], { name: 'probs', attrs: { axis: -1 } });
  const ctx = g.op('MatMul', [probs, vr], { name: 'ctx' });
  const merged = g.op(
    'Reshape',
    [g.op('Transpose', [ctx], { name: 'ctx_t', attrs: { perm: [0, 2, 1, 3] } }), g.ints('merge', [0, 0, D])],
    { name: 'attn_out' },
  );
  const y = g.op('MatMul', [merged, g.weight('Wo', [D, D])], { name: 'y' });
  g.output(y, null);
}

function feeds(
  model: Model,
  B: number,
  S: number,
  P: number,
  padLeft: number,
  padRight: number,
): Record<string, ort.Tensor> {
  const T = P + S;
  const kv =
    (
      model.graph.inputs.find((i) => i.name === 'past_key_values.0.key')?.type as
        { shape: { value?: number }[] } | undefined
    )?.shape[1]?.value ?? NKV;
  const out: Record<string, ort.Tensor> = {
    x: new ort.Tensor('float32', uniformFloats(B * S * D, 5), [B, S, D]),
    attention_mask: new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: B * T }, (_, i) => {
        const [row, j] = [Math.floor(i / T), i % T];
        return BigInt(row === 1 && (j < padLeft || j >= T - padRight) ? 0 : 1);
      }),
      [B, T],
    ),
  };
  // positions as generate() computes them: the attention_mask's cumsum - 1, the new tokens' part
  const m = out.attention_mask!.data as BigInt64Array;
  out.position_ids = new ort.Tensor(
    'int64',
    BigInt64Array.from({ length: B * S }, (_, i) => {
      const [row, s] = [Math.floor(i / S), i % S];
      let seen = 0n;
      for (let j = 0; j <= P + s; j++) seen += m[row * T + j]!;
      return seen > 0n ? seen - 1n : 1n;
    }),
    [B, S],
  );
  if (model.graph.inputs.some((i) => i.name.startsWith('past_'))) {
    out['past_key_values.0.key'] = new ort.Tensor('float32', uniformFloats(B * kv * P * H, 6), [B, kv, P, H]);
    out['past_key_values.0.value'] = new ort.Tensor('float32', uniformFloats(B * kv * P * H, 7), [B, kv, P, H]);
  }
  return out;
}

/** Largest difference over the rows of real (unpadded) queries, and over whole other outputs. */
function diffValidRows(
  a: Record<string, OrtOutput>,
  b: Record<string, OrtOutput>,
  f: Record<string, ort.Tensor>,
): number {
  const mask = f.attention_mask!;
  const T = mask.dims[1]!;
  const S = f.x!.dims[1]!;
  let worst = 0;
  for (const name of Object.keys(a)) {
    const [x, y] = [a[name]!.data, b[name]!.data];
    expect(y.length).toBe(x.length);
    const rowWidth = name === 'y' ? D : 0;
    for (let i = 0; i < x.length; i++) {
      if (rowWidth) {
        const [row, s] = [Math.floor(i / (S * rowWidth)), Math.floor(i / rowWidth) % S];
        if ((mask.data as BigInt64Array)[row * T + T - S + s] === 0n) continue;
      }
      worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
    }
  }
  return worst;
}

/**
 * The kit's checks (op and stats, idempotence, determinism), with parity on the rows of real queries within 1e-4 at
 * both optimization levels for each case: batch, new tokens, cached tokens, row 1's left and right padding.
 */
async function expectParity(
  layer: Layer,
  op: string,
  cases: [number, number, number, number, number][],
): Promise<Model> {
  const unfused = decoderLayer(layer);
  const { model } = await expectFusion(fuseGqaPass, unfused, {
    ops: { [`com.microsoft::${op}`]: 1, Softmax: 0 },
    stats: { [op]: 1 },
    feeds: cases.map(([B, S, P, left, right]) => feeds(unfused, B, S, P, left, right)),
    difference: diffValidRows,
    tolerance: 1e-4,
    levels: ['disabled', 'all'],
  });
  return model;
}

describe('fuse-gqa', () => {
  it('fuses grouped-query causal attention without a cache, left and right padded', async () => {
    await expectParity({}, 'GroupQueryAttention', [
      [2, 5, 0, 2, 0],
      [2, 5, 0, 0, 2],
      [1, 4, 0, 0, 0],
    ]);
  });

  it('fuses a cached layer, keeping the cache names and layout (prompt, decode step, batch-1 chunk)', async () => {
    const model = await expectParity({ cache: true }, 'GroupQueryAttention', [
      [2, 4, 0, 1, 0],
      [2, 1, 5, 2, 0],
      [1, 3, 4, 0, 0],
    ]);
    expect(model.graph.outputs.map((o) => o.name)).toEqual(['present.0.key', 'present.0.value', 'y']);
    expect(model.graph.outputs[0]!.producer!.opType).toBe('GroupQueryAttention');
  });

  it('fuses a sliding window through the mask', async () => {
    await expectParity({ window: 3, cache: true }, 'GroupQueryAttention', [
      [2, 6, 0, 1, 0],
      [2, 1, 6, 0, 0],
    ]);
  });

  it("fuses softcapped scores (Gemma 2) with GroupQueryAttention's softcap", async () => {
    const model = await expectParity({ softcap: 2, cache: true }, 'GroupQueryAttention', [
      [2, 5, 0, 1, 0],
      [2, 1, 5, 2, 0],
    ]);
    expect(model.graph.nodes.find((n) => n.opType === 'GroupQueryAttention')!.attrFloat('softcap', 0)).toBeCloseTo(2);
  });

  it("fuses torch.export's sdpa form (kᵀ on a 3-D view, q and kᵀ scaled by √scale each), with a cache", async () => {
    const model = await expectParity({ dynamoSdpa: true, cache: true }, 'GroupQueryAttention', [
      [2, 4, 0, 1, 0],
      [2, 1, 5, 2, 0],
    ]);
    expect(model.graph.outputs.map((o) => o.name)).toEqual(['present.0.key', 'present.0.value', 'y']);
    expect(model.graph.nodes.find((n) => n.opType === 'GroupQueryAttention')!.attrFloat('scale', 0)).toBe(0);
  });

  it('fuses MHA-shaped causal attention (kv heads = heads) as GroupQueryAttention', async () => {
    await expectParity({ kvHeads: N }, 'GroupQueryAttention', [[2, 5, 0, 1, 0]]);
  });

  it('fuses bidirectional attention with a padding mask as MultiHeadAttention', async () => {
    await expectParity({ kvHeads: N, bidirectional: true }, 'MultiHeadAttention', [[2, 5, 0, 0, 2]]);
  });

  // ModernBERT: one qkv projection split after the reshape (its head split is Split, Squeeze, Transpose), a local
  // layer's band mask, and dynamo's 3-D kᵀ
  it.each([
    ['global', { fusedQkv: true }],
    ['local band', { fusedQkv: true, band: 2 }],
    ["local band, dynamo's sdpa", { fusedQkv: true, band: 2, dynamoSdpa: true }],
  ] as const)('fuses ModernBERT attention (%s) as MultiHeadAttention', async (_, form) => {
    await expectParity({ kvHeads: N, bidirectional: true, ...form }, 'MultiHeadAttention', [
      [2, 6, 0, 0, 2],
      [2, 6, 0, 1, 0],
    ]);
  });

  // a -∞ mask leaves a padded query whose band holds only padding with no key: the export's own softmax row is NaN
  // there (ModernBERT guards it with IsNaN/Where), and a NaN row spoils what reads the whole tensor (quantize's
  // per-tensor DynamicQuantizeMatMul). MultiHeadAttention gets the mask raised to float32's lowest and stays
  // finite; GroupQueryAttention is finite on such rows by itself and takes the mask as it is.
  it.each([
    ['MultiHeadAttention', { kvHeads: N, bidirectional: true, fusedQkv: true, band: 1 }, 1],
    ['GroupQueryAttention', {}, 0],
  ] as const)('keeps %s finite on rows a -∞ mask masks whole', async (op, form, maxNodes) => {
    const layer = { ...form, fill: -Infinity };
    const model = await expectParity(layer, op, [
      [2, 6, 0, 0, 2],
      [2, 6, 0, 2, 0],
    ]);
    expect(model.graph.nodes.filter((n) => n.opType === 'Max')).toHaveLength(maxNodes);
    for (const [B, S, P, left, right] of [
      [2, 6, 0, 0, 2],
      [2, 6, 0, 2, 0],
    ] as const) {
      const out = await runOrt(model, feeds(model, B, S, P, left, right), 'all');
      expect(out.y!.data.every(Number.isFinite)).toBe(true);
    }
  });
});
