// fuse-gqa on a synthetic decoder layer written as transformers writes it: per-head q/k/v, a KV cache appended by
// Concat, repeat_kv as Unsqueeze/Expand/Reshape, and the export's own causal + padding (+ window) mask added to the
// scores. Fused models must match the unfused ones in onnxruntime-node with left and right padding, and keep the
// cache's names and layout.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fuseGqaPass } from '../../passes/fuse-gqa.js';
import { attr, Model, Tensor, Value, tensorType, type Attribute, type Graph } from '../../src/ir/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { opCounts, runPass } from '../kit/index.js';
import { runModel, type Outputs } from './fusion-helpers.js';

const [N, NKV, H] = [4, 2, 16];
const D = N * H;

function randomValues(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5);
}

class Builder {
  readonly model = new Model();
  readonly g: Graph = this.model.graph;
  private seed = 11;
  constructor() {
    this.model.opsetImports.push({ domain: '', version: 17 });
  }
  input(name: string, dims: (number | string)[], type: number = DataType.FLOAT): Value {
    return this.g.addInput(new Value(name, tensorType(type, dims)));
  }
  weight(name: string, dims: number[]): Value {
    return this.g.addInitializer(
      name,
      Tensor.fromArray(
        name,
        DataType.FLOAT,
        dims,
        randomValues(
          dims.reduce((a, b) => a * b, 1),
          this.seed++,
        ),
      ),
    );
  }
  ints(name: string, values: number[], scalar = false): Value {
    return this.g.addInitializer(name, Tensor.fromArray(name, DataType.INT64, scalar ? [] : [values.length], values));
  }
  scalar(name: string, value: number): Value {
    return this.g.addInitializer(name, Tensor.fromArray(name, DataType.FLOAT, [], [value]));
  }
  node(opType: string, inputs: (Value | null)[], name: string, attributes: Attribute[] = []): Value {
    return this.g.createNode({ opType, inputs, outputs: [this.g.newValue(name)], attributes, name }).output(0);
  }
}

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
  const b = new Builder();
  const kvHeads = layer.kvHeads ?? NKV;
  const x = b.input('x', ['batch_size', 'sequence_length', D]);
  const mask = b.input('attention_mask', ['batch_size', 'total_sequence_length'], DataType.INT64);
  const heads = (v: Value, n: number, name: string) =>
    b.node(
      'Transpose',
      [b.node('Reshape', [v, b.ints(`${name}_shape`, [0, 0, n, H])], `${name}_bsnh`)],
      `${name}_bnsh`,
      [attr('perm', [0, 2, 1, 3])],
    );
  // rotary on q and k, as the rotary fusion leaves it (the site's q is a RotaryEmbedding output)
  const positions = b.input('position_ids', ['batch_size', 'sequence_length'], DataType.INT64);
  const table = (f: (x: number) => number) =>
    Float32Array.from({ length: 64 * (H / 2) }, (_, i) =>
      f(Math.floor(i / (H / 2)) / 10000 ** ((2 * (i % (H / 2))) / H)),
    );
  const cos = b.g.addInitializer('cos_cache', Tensor.fromArray('', DataType.FLOAT, [64, H / 2], table(Math.cos)));
  const sin = b.g.addInitializer('sin_cache', Tensor.fromArray('', DataType.FLOAT, [64, H / 2], table(Math.sin)));
  const rotary = (t: Value, name: string) => {
    const out = b.g
      .createNode({
        opType: 'RotaryEmbedding',
        domain: 'com.microsoft',
        inputs: [t, positions, cos, sin],
        outputs: [b.g.newValue(name)],
        name,
      })
      .output(0);
    out.type = tensorType(DataType.FLOAT, ['batch_size', undefined, 'sequence_length', H]);
    return out;
  };
  b.model.opsetImports.push({ domain: 'com.microsoft', version: 1 });
  let [qh, kh, vh]: Value[] = [];
  if (layer.fusedQkv) {
    const qkv = b.node(
      'Reshape',
      [b.node('MatMul', [x, b.weight('Wqkv', [D, 3 * D])], 'qkv_proj'), b.ints('qkv_shape', [0, 0, 3, N, H])],
      'qkv',
    );
    const parts = b.g.createNode({
      opType: 'Split',
      inputs: [qkv, b.ints('qkv_split', [1, 1, 1])],
      outputs: ['q_part', 'k_part', 'v_part'].map((n) => b.g.newValue(n)),
      attributes: [attr('axis', 2)],
      name: 'qkv_split',
    });
    [qh, kh, vh] = parts.outputs.map((part, i) =>
      b.node('Transpose', [b.node('Squeeze', [part!, b.ints(`squeeze_${i}`, [2])], `qkv_${i}_bsnh`)], `qkv_${i}_bnsh`, [
        attr('perm', [0, 2, 1, 3]),
      ]),
    );
  } else {
    qh = heads(b.node('MatMul', [x, b.weight('Wq', [D, N * H])], 'q_proj'), N, 'q');
    kh = heads(b.node('MatMul', [x, b.weight('Wk', [D, kvHeads * H])], 'k_proj'), kvHeads, 'k');
    vh = heads(b.node('MatMul', [x, b.weight('Wv', [D, kvHeads * H])], 'v_proj'), kvHeads, 'v');
  }
  const q = rotary(qh!, 'q_rot');
  let k = rotary(kh!, 'k_rot');
  let v = vh!;
  if (layer.cache) {
    const pk = b.input('past_key_values.0.key', ['batch_size', kvHeads, 'past_sequence_length', H]);
    const pv = b.input('past_key_values.0.value', ['batch_size', kvHeads, 'past_sequence_length', H]);
    k = b.g
      .createNode({
        opType: 'Concat',
        inputs: [pk, k],
        outputs: [
          new Value('present.0.key', tensorType(DataType.FLOAT, ['batch_size', kvHeads, 'total_sequence_length', H])),
        ],
        attributes: [attr('axis', 2)],
        name: 'cat_k',
      })
      .output(0);
    v = b.g
      .createNode({
        opType: 'Concat',
        inputs: [pv, v],
        outputs: [
          new Value('present.0.value', tensorType(DataType.FLOAT, ['batch_size', kvHeads, 'total_sequence_length', H])),
        ],
        attributes: [attr('axis', 2)],
        name: 'cat_v',
      })
      .output(0);
    b.g.outputs.push(k, v);
  }
  // repeat_kv: (B, Nkv, T, H) -> (B, Nkv, 1, T, H) -> expand (B, Nkv, rep, T, H) -> (B, N, T, H)
  const repeat = (t: Value, name: string) => {
    if (kvHeads === N) return t;
    const shape = b.node('Shape', [t], `${name}_shape`);
    const bt = b.node('Gather', [shape, b.ints(`${name}_b_idx`, [0])], `${name}_b`);
    const tt = b.node('Gather', [shape, b.ints(`${name}_t_idx`, [2])], `${name}_t`);
    const five = b.node(
      'Concat',
      [bt, b.ints(`${name}_kv`, [kvHeads, N / kvHeads]), tt, b.ints(`${name}_h`, [H])],
      `${name}_5d`,
      [attr('axis', 0)],
    );
    const four = b.node('Concat', [bt, b.ints(`${name}_n`, [N]), tt, b.ints(`${name}_h4`, [H])], `${name}_4d`, [
      attr('axis', 0),
    ]);
    const e = b.node('Expand', [b.node('Unsqueeze', [t, b.ints(`${name}_ax`, [2])], `${name}_u`), five], `${name}_e`);
    return b.node('Reshape', [e, four], `${name}_rep`);
  };
  const kr = repeat(k, 'krep');
  const vr = repeat(v, 'vrep');
  // the export's mask: key j visible to query i (absolute position P + i) when j <= P + i, mask[b, j] = 1, and
  // (with a window) j > P + i - window
  const T = b.node('Gather', [b.node('Shape', [mask], 'mask_shape'), b.ints('one_idx', [1], true)], 'T');
  const S = b.node('Gather', [b.node('Shape', [x], 'x_shape'), b.ints('one_idx2', [1], true)], 'S');
  const P = b.node('Sub', [T, S], 'P');
  const keys = b.node('Range', [b.ints('zero', [0], true), T, b.ints('step', [1], true)], 'keys');
  const queries = b.node(
    'Add',
    [b.node('Range', [b.ints('zero2', [0], true), S, b.ints('step2', [1], true)], 'qrange'), P],
    'qpos',
  );
  const qcol = b.node('Unsqueeze', [queries, b.ints('ax1', [1])], 'qcol');
  let visible = layer.bidirectional
    ? b.node('Cast', [b.node('Equal', [qcol, qcol], 'ones_eq')], 'all', [attr('to', DataType.BOOL)])
    : b.node('LessOrEqual', [keys, qcol], 'causal');
  if (layer.bidirectional)
    visible = b.node(
      'Expand',
      [
        visible,
        b.node(
          'Concat',
          [b.node('Unsqueeze', [S, b.ints('ax0s', [0])], 'S1'), b.node('Unsqueeze', [T, b.ints('ax0t', [0])], 'T1')],
          'ST',
          [attr('axis', 0)],
        ),
      ],
      'all_st',
    );
  if (layer.band) {
    const distance = b.node('Abs', [b.node('Sub', [keys, qcol], 'k_minus_q')], 'distance');
    visible = b.node(
      'And',
      [visible, b.node('LessOrEqual', [distance, b.ints('band', [layer.band], true)], 'in_band')],
      'banded',
    );
  }
  if (layer.window)
    visible = b.node(
      'And',
      [
        visible,
        b.node('Greater', [keys, b.node('Sub', [qcol, b.ints('w', [layer.window], true)], 'win_lo')], 'in_window'),
      ],
      'windowed',
    );
  const pad = b.node(
    'Unsqueeze',
    [b.node('Cast', [mask], 'mask_bool', [attr('to', DataType.BOOL)]), b.ints('ax12', [1, 2])],
    'pad4',
  );
  const ok = b.node('And', [b.node('Unsqueeze', [visible, b.ints('ax01', [0, 1])], 'vis4'), pad], 'ok');
  const bias = b.node(
    'Where',
    [ok, b.scalar('zero_f', 0), b.scalar('lowest', layer.fill ?? -3.4028234663852886e38)],
    'mask4d',
  );
  let scaled: Value;
  if (layer.dynamoSdpa) {
    const shape = b.node('Shape', [kr], 'kr_shape');
    const dims = (start: number, end: number, name: string) =>
      b.node('Slice', [shape, b.ints(`${name}_s`, [start]), b.ints(`${name}_e`, [end])], name);
    const [lead, t, h] = [dims(0, 2, 'kr_bn'), dims(2, 3, 'kr_t'), dims(3, 4, 'kr_h')];
    const flat = b.node(
      'Reshape',
      [kr, b.node('Concat', [b.ints('minus_one', [-1]), t, h], 'k_flat_shape', [attr('axis', 0)])],
      'k_flat',
    );
    const flatT = b.node('Transpose', [flat], 'k_flat_t', [attr('perm', [0, 2, 1])]);
    const kT = b.node('Reshape', [flatT, b.node('Concat', [lead, h, t], 'kT_shape', [attr('axis', 0)])], 'kT');
    const root = b.scalar('sqrt_scale', 1 / Math.sqrt(Math.sqrt(H)));
    scaled = b.node('MatMul', [b.node('Mul', [q, root], 'q_scaled'), b.node('Mul', [kT, root], 'kT_scaled')], 'scaled');
  } else
    scaled = b.node(
      'Mul',
      [
        b.node('MatMul', [q, b.node('Transpose', [kr], 'kT', [attr('perm', [0, 1, 3, 2])])], 'qk'),
        b.scalar('scale', 1 / Math.sqrt(H)),
      ],
      'scaled',
    );
  if (layer.softcap)
    scaled = b.node(
      'Mul',
      [
        b.node('Tanh', [b.node('Div', [scaled, b.scalar('cap_in', layer.softcap)], 'capped_in')], 'capped'),
        b.scalar('cap_out', layer.softcap),
      ],
      'softcapped',
    );
  const scores = b.node('Add', [scaled, bias], 'scores');
  const probs = b.node('Softmax', [scores], 'probs', [attr('axis', -1)]);
  const ctx = b.node('MatMul', [probs, vr], 'ctx');
  const merged = b.node(
    'Reshape',
    [b.node('Transpose', [ctx], 'ctx_t', [attr('perm', [0, 2, 1, 3])]), b.ints('merge', [0, 0, D])],
    'attn_out',
  );
  const y = b.node('MatMul', [merged, b.weight('Wo', [D, D])], 'y');
  b.g.outputs.push(y);
  return b.model;
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
    x: new ort.Tensor('float32', randomValues(B * S * D, 5), [B, S, D]),
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
    out['past_key_values.0.key'] = new ort.Tensor('float32', randomValues(B * kv * P * H, 6), [B, kv, P, H]);
    out['past_key_values.0.value'] = new ort.Tensor('float32', randomValues(B * kv * P * H, 7), [B, kv, P, H]);
  }
  return out;
}

/** Largest difference over the rows of real (unpadded) queries, and over whole other outputs. */
function diffValidRows(a: Outputs, b: Outputs, f: Record<string, ort.Tensor>, S: number): number {
  const mask = f.attention_mask!;
  const [B, T] = mask.dims as [number, number];
  let worst = 0;
  for (const name of Object.keys(a)) {
    const [x, y] = [a[name]!, b[name]!];
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
  void B;
  return worst;
}

async function expectParity(
  layer: Layer,
  op: string,
  cases: [number, number, number, number, number][],
): Promise<Model> {
  const model = decoderLayer(layer);
  const reference = decoderLayer(layer);
  const result = runPass(fuseGqaPass, model, true);
  expect(result.stats, (result.notes ?? []).join('\n')).toEqual({ [op]: 1 });
  expect(opCounts(model).Softmax ?? 0).toBe(0);
  for (const [B, S, P, left, right] of cases) {
    const f = feeds(reference, B, S, P, left, right);
    const expected = await runModel(reference, f, 'disabled');
    for (const level of ['disabled', 'all'] as const)
      expect(diffValidRows(expected, await runModel(model, f, level), f, S)).toBeLessThan(1e-4);
  }
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
      const out = await runModel(model, feeds(model, B, S, P, left, right), 'all');
      expect(out.y!.every(Number.isFinite)).toBe(true);
    }
  });
});
