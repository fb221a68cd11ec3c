// fuse-rotary on synthetic rotary blocks written the ways transformers writes them: rotate-half and interleaved
// pairs, full and partial rotary, positions from an input or from a range, cos/sin computed from inv_freq or
// gathered from a table. Fused models must match the unfused ones in onnxruntime-node; near misses are refused.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fuseRotaryPass } from '../../passes/fuse-rotary.js';
import type { Model, Value } from '../../src/ir/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { buildModel, expectFusion, lcg, opCounts, opsOf, type GraphMaker } from '../kit/index.js';

const [B, N, S, H] = [2, 2, 5, 8];

interface Form {
  interleaved?: boolean;
  /** Rotated width per head; the rest passes through. */
  rotaryDim?: number;
  /** Positions from a Range over the sequence instead of a position_ids input. */
  range?: boolean;
  /** cos/sin gathered from constant tables instead of computed from inv_freq. */
  table?: number;
  /** A deliberately wrong rotation: the sign of rotate_half flipped. */
  wrongSign?: boolean;
  /**
   * As torch.export (dynamo) writes it: inv_freq (1, half, 1) expanded to the batch, times the positions made
   * (B | 1, 1, S) float by MatMul, transposed; a range is unsqueezed twice to (1, 1, S).
   */
  freqsMatMul?: boolean;
  /** Positions from the attention_mask's cumsum (padding at 1), q and k split from (B, S, N·H) hidden states. */
  maskCumsum?: boolean;
  /** With `range`: freqs = outer(range(S), inv_freq), (S, R) cos/sin broadcast over batch and heads as they are. */
  outer?: boolean;
}

/** x (B, N, S, H) -> x·cos + rotate(x)·sin for q and k, as transformers' apply_rotary_pos_emb writes it. */
function rotaryBlock(form: Form = {}, opset = 17): Model {
  return buildModel((g) => rotaryBlockInto(g, form), opset);
}

function rotaryBlockInto(g: GraphMaker, form: Form): void {
  const R = form.rotaryDim ?? H;
  const half = R / 2;
  const heads = (name: string): Value => {
    if (!form.maskCumsum) return g.input(name, ['batch', N, 'seq', H]);
    const hidden = g.input(`${name}_hidden`, ['batch', 'seq', N * H]);
    const split = g.op('Reshape', [hidden, g.ints(`${name}_heads_shape`, [0, 0, N, H])], { name: `${name}_heads` });
    return g.op('Transpose', [split], { name: `${name}_bnsh`, attrs: { perm: [0, 2, 1, 3] } });
  };
  const q = heads('q');
  const k = heads('k');
  const scalar = (name: string, value: number) => g.ints(name, [value], []);
  let pos: Value;
  if (form.range) {
    const seq = g.op('Gather', [g.op('Shape', [q], { name: 'q_shape' }), scalar('two', 2)], { name: 'seq_len' });
    const r = g.op('Range', [scalar('zero', 0), seq, scalar('one', 1)], { name: 'positions_range' });
    pos = form.outer
      ? r
      : g.op('Unsqueeze', [r, g.ints('ax0', form.freqsMatMul ? [0, 1] : [0])], { name: 'position_ids_row' });
  } else if (form.maskCumsum) {
    // transformers' generate(): position_ids = mask.cumsum(-1) - 1, masked_fill(mask == 0, 1)
    const mask = g.input('attention_mask', ['batch', 'total_sequence_length'], DataType.INT64);
    const counted = g.op(
      'Sub',
      [g.op('CumSum', [mask, scalar('last_axis', 1)], { name: 'mask_cumsum' }), scalar('one', 1)],
      { name: 'mask_positions' },
    );
    const padded = g.op('Equal', [mask, scalar('zero', 0)], { name: 'mask_padded' });
    pos = g.op('Where', [padded, scalar('pad_position', 1), counted], { name: 'position_ids' });
  } else pos = g.input('position_ids', ['batch', 'seq'], DataType.INT64);
  if (form.freqsMatMul && !form.range)
    pos = g.op('Unsqueeze', [pos, g.ints('ax1_pos', [1])], { name: 'position_ids_b1s' });
  const invFreq = Array.from({ length: half }, (_, i) => 1 / 10000 ** ((2 * i) / R));
  let cos: Value, sin: Value;
  if (form.freqsMatMul) {
    const batch = g.op('Shape', [q], { name: 'batch_dim', attrs: { start: 0, end: 1 } });
    const to = g.op('Concat', [batch, g.ints('half_one', [half, 1])], { name: 'inv_freq_shape', attrs: { axis: 0 } });
    const inv = g.op('Expand', [g.init('inv_freq', invFreq, [1, half, 1]), to], { name: 'inv_freq_expanded' });
    const posF = g.op('Cast', [pos], { name: 'positions_float', attrs: { to: DataType.FLOAT } });
    const freqs = g.op('Transpose', [g.op('MatMul', [inv, posF], { name: 'freqs_bhs' })], {
      name: 'freqs',
      attrs: { perm: [0, 2, 1] },
    });
    let emb: Value;
    if (form.interleaved) {
      // repeat_interleave(freqs, 2) as dynamo writes it: reshaped to the shape it reads off freqs, (B, S) + (-1)
      const pair = g.op(
        'Expand',
        [g.op('Unsqueeze', [freqs, g.ints('axm1', [-1])], { name: 'freqs_col' }), g.ints('pair_shape', [1, 1, 1, 2])],
        { name: 'freqs_pair' },
      );
      const to = g.op(
        'Concat',
        [g.op('Shape', [freqs], { name: 'freqs_lead', attrs: { start: 0, end: -1 } }), g.ints('minus_one', [-1])],
        { name: 'emb_shape', attrs: { axis: 0 } },
      );
      emb = g.op('Reshape', [pair, to], { name: 'emb' });
    } else emb = g.op('Concat', [freqs, freqs], { name: 'emb', attrs: { axis: -1 } });
    cos = g.op('Unsqueeze', [g.op('Cos', [emb], { name: 'cos_raw' }), g.ints('ax1', [1])], { name: 'cos' });
    sin = g.op('Unsqueeze', [g.op('Sin', [emb], { name: 'sin_raw' }), g.ints('ax1b', [1])], { name: 'sin' });
  } else if (form.table) {
    const rows = form.table;
    const table = (f: (x: number) => number) =>
      Array.from({ length: rows * R }, (_, j) => {
        const [p, i] = [Math.floor(j / R), j % R];
        return f(p * invFreq[form.interleaved ? Math.floor(i / 2) : i % half]!);
      });
    cos = g.op(
      'Unsqueeze',
      [g.op('Gather', [g.init('cos_cached', table(Math.cos), [rows, R]), pos], { name: 'cos_g' }), g.ints('ax1', [1])],
      { name: 'cos' },
    );
    sin = g.op(
      'Unsqueeze',
      [g.op('Gather', [g.init('sin_cached', table(Math.sin), [rows, R]), pos], { name: 'sin_g' }), g.ints('ax1b', [1])],
      { name: 'sin' },
    );
  } else {
    // as transformers writes it: position_ids[..., None].float() (unsqueezed while still integer)
    const posF = g.op('Cast', [g.op('Unsqueeze', [pos, g.ints('axm1', [-1])], { name: 'pos_col_int' })], {
      name: 'pos_col',
      attrs: { to: DataType.FLOAT },
    });
    const freqs = g.op('Mul', [posF, g.init('inv_freq', invFreq, [half])], { name: 'freqs' });
    let emb: Value;
    if (form.interleaved) {
      // repeat_interleave(freqs, 2): (.., half, 1) twice along the last axis, then flattened
      const col = g.op('Unsqueeze', [freqs, g.ints('axm1b', [-1])], { name: 'freqs_col' });
      const pair = g.op('Concat', [col, col], { name: 'freqs_pair', attrs: { axis: -1 } });
      emb = g.op('Reshape', [pair, g.ints('emb_shape', [0, 0, R])], { name: 'emb' });
    } else emb = g.op('Concat', [freqs, freqs], { name: 'emb', attrs: { axis: -1 } });
    const lift = (v: Value, name: string) =>
      form.outer ? v : g.op('Unsqueeze', [v, g.ints(`${name}_ax1`, [1])], { name: name });
    cos = lift(g.op('Cos', [emb], { name: 'cos_raw' }), 'cos');
    sin = lift(g.op('Sin', [emb], { name: 'sin_raw' }), 'sin');
  }
  const slice = (x: Value, start: number, end: number, name: string, step = 1) =>
    g.op(
      'Slice',
      [
        x,
        g.ints(`${name}_s`, [start]),
        g.ints(`${name}_e`, [end]),
        g.ints(`${name}_a`, [3]),
        g.ints(`${name}_t`, [step]),
      ],
      { name: name },
    );
  for (const [name, x] of [
    ['q', q],
    ['k', k],
  ] as const) {
    const rotated = R < H ? slice(x, 0, R, `${name}_rot`) : x;
    let turned: Value;
    if (form.interleaved) {
      const even = g.op('Unsqueeze', [slice(rotated, 0, R, `${name}_even`, 2), g.ints(`${name}_u1`, [-1])], {
        name: `${name}_even_u`,
      });
      const odd = g.op('Unsqueeze', [slice(rotated, 1, R, `${name}_odd`, 2), g.ints(`${name}_u2`, [-1])], {
        name: `${name}_odd_u`,
      });
      const stacked = g.op('Concat', [g.op('Neg', [odd], { name: `${name}_neg` }), even], {
        name: `${name}_stack`,
        attrs: { axis: -1 },
      });
      turned = g.op('Reshape', [stacked, g.ints(`${name}_flat`, [0, 0, 0, R])], { name: `${name}_turned` });
    } else {
      const x1 = slice(rotated, 0, half, `${name}_x1`);
      const x2 = slice(rotated, half, R, `${name}_x2`);
      turned = form.wrongSign
        ? g.op('Concat', [x2, g.op('Neg', [x1], { name: `${name}_neg` })], {
            name: `${name}_turned`,
            attrs: { axis: -1 },
          })
        : g.op('Concat', [g.op('Neg', [x2], { name: `${name}_neg` }), x1], {
            name: `${name}_turned`,
            attrs: { axis: -1 },
          });
    }
    let y = g.op(
      'Add',
      [g.op('Mul', [rotated, cos], { name: `${name}_cos` }), g.op('Mul', [turned, sin], { name: `${name}_sin` })],
      { name: `${name}_embed` },
    );
    if (R < H) y = g.op('Concat', [y, slice(x, R, H, `${name}_pass`)], { name: `${name}_full`, attrs: { axis: -1 } });
    g.output(g.op('Identity', [y], { name: `${name}_out` }), null);
  }
}

/** Positions, a left-padded mask for row 1 as generate() pads, and uniform values for q and k from one stream. */
function feeds(model: Model, seed = 3): Record<string, ort.Tensor> {
  const next = lcg(seed);
  const rand = () => next() - 0.5;
  const out: Record<string, ort.Tensor> = {};
  for (const input of model.graph.inputs) {
    if (input.name === 'position_ids')
      out[input.name] = new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: B * S }, (_, i) => BigInt((i * 5 + 3) % 11)),
        [B, S],
      );
    else if (input.name === 'attention_mask')
      out[input.name] = new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: B * S }, (_, i) => (i >= S && i < S + 2 ? 0n : 1n)),
        [B, S],
      );
    else if (input.name.endsWith('_hidden'))
      out[input.name] = new ort.Tensor('float32', Float32Array.from({ length: B * S * N * H }, rand), [B, S, N * H]);
    else out[input.name] = new ort.Tensor('float32', Float32Array.from({ length: B * N * S * H }, rand), [B, N, S, H]);
  }
  return out;
}

const rotaryNode = (model: Model) => model.graph.nodes.find((n) => n.opType === 'RotaryEmbedding')!;

/** name, form, opset, the form's own checks on the fused model. */
const FORMS: [string, Form, number, ((fused: Model) => void)?][] = [
  [
    'rotate-half rotary with positions from an input and cos/sin from inv_freq',
    {},
    17,
    (model) => {
      expect(rotaryNode(model).attrInt('interleaved', 0)).toBe(0);
      expect(rotaryNode(model).input(2).initializer!.dims).toEqual([4096, H / 2]);
      // one cos/sin cache shared by the sites
      expect(model.graph.initializers.filter((v) => v.name.startsWith('cos_cache'))).toHaveLength(1);
    },
  ],
  [
    'interleaved (GPT-J style) rotary',
    { interleaved: true },
    17,
    (model) => expect(rotaryNode(model).attrInt('interleaved', 0)).toBe(1),
  ],
  [
    'partial rotary with the unrotated dims passed through',
    { rotaryDim: 4 },
    17,
    (model) => {
      expect(rotaryNode(model).attrInt('rotary_embedding_dim', 0)).toBe(4);
      expect(rotaryNode(model).attrInt('num_heads', 0)).toBe(N);
    },
  ],
  ['positions computed from a range, expanded to the batch', { range: true }, 17],
  [
    "dynamo's form: inv_freq expanded to the batch, MatMul with (B, 1, S) positions",
    { freqsMatMul: true },
    17,
    (model) => expect(rotaryNode(model).input(2).initializer!.dims).toEqual([4096, H / 2]),
  ],
  ["dynamo's form with a range unsqueezed to (1, 1, S) positions", { freqsMatMul: true, range: true }, 17],
  [
    "dynamo's interleaved form, whose repeat_interleave reshapes to the token count it reads off the graph",
    { freqsMatMul: true, interleaved: true },
    17,
    (model) => {
      expect(rotaryNode(model).attrInt('interleaved', 0)).toBe(1);
      expect(rotaryNode(model).input(2).initializer!.dims).toEqual([4096, H / 2]);
    },
  ],
  ['cos/sin of an outer product of a 1-D range with inv_freq, (S, 1) positions', { range: true, outer: true }, 17],
  [
    'positions computed from the attention_mask cumsum, whose length the probes size apart',
    { maskCumsum: true },
    17,
    (model) => {
      expect(rotaryNode(model).input(1).producer?.opType).not.toBe('CumSum');
      expect(opCounts(model).CumSum).toBe(1);
    },
  ],
  [
    'a gathered table as the cache, with its own length',
    { table: 32 },
    17,
    (model) => expect(rotaryNode(model).input(2).initializer!.dims).toEqual([32, H / 2]),
  ],
  [
    "ONNX's own RotaryEmbedding (its input order) at opset 23",
    {},
    23,
    (model) => {
      expect(rotaryNode(model).domain).toBe('');
      expect(rotaryNode(model).input(3).name).toBe('position_ids');
    },
  ],
];

describe('fuse-rotary', () => {
  it.each(FORMS)('fuses %s', async (_, form, opset, check) => {
    const unfused = rotaryBlock(form, opset);
    const rotary = opset >= 23 ? 'RotaryEmbedding' : 'com.microsoft::RotaryEmbedding';
    const { model } = await expectFusion(fuseRotaryPass, unfused, {
      ops: { [rotary]: 2, Cos: 0 },
      stats: { RotaryEmbedding: 2 },
      feeds: feeds(unfused),
      levels: ['disabled', 'all'],
    });
    check?.(model);
  });

  it('refuses a rotation that is not a rotary embedding, saying why', async () => {
    const unfused = rotaryBlock({ wrongSign: true });
    const { result } = await expectFusion(fuseRotaryPass, unfused, {
      ops: opsOf(unfused.graph),
      feeds: feeds(unfused),
    });
    expect(result.changed).toBe(false);
    expect(result.notes!.join('\n')).toMatch(/differs from RotaryEmbedding/);
  });
});
