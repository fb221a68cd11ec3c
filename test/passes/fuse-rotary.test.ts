// fuse-rotary on synthetic rotary blocks written the ways transformers writes them: rotate-half and interleaved
// pairs, full and partial rotary, positions from an input or from a range, cos/sin computed from inv_freq or
// gathered from a table. Fused models must match the unfused ones in onnxruntime-node; near misses are refused.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fuseRotaryPass } from '../../passes/fuse-rotary.js';
import { attr, Model, Tensor, Value, tensorType, type Attribute, type Graph } from '../../src/ir/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { opCounts, runPass } from '../kit/index.js';
import { maxAbsDiff, runModel } from './fusion-helpers.js';

const [B, N, S, H] = [2, 2, 5, 8];

class Builder {
  readonly model = new Model();
  readonly g: Graph = this.model.graph;
  constructor() {
    this.model.opsetImports.push({ domain: '', version: 17 });
  }
  input(name: string, dims: (number | string)[], type: number = DataType.FLOAT): Value {
    return this.g.addInput(new Value(name, tensorType(type, dims)));
  }
  ints(name: string, values: number[]): Value {
    return this.g.addInitializer(name, Tensor.fromArray(name, DataType.INT64, [values.length], values));
  }
  floats(name: string, dims: number[], values: number[]): Value {
    return this.g.addInitializer(name, Tensor.fromArray(name, DataType.FLOAT, dims, values));
  }
  node(opType: string, inputs: (Value | null)[], name: string, attributes: Attribute[] = []): Value {
    return this.g.createNode({ opType, inputs, outputs: [this.g.newValue(name)], attributes, name }).output(0);
  }
  output(v: Value): void {
    this.g.outputs.push(v);
  }
}

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
function rotaryBlock(form: Form = {}): Model {
  const b = new Builder();
  const R = form.rotaryDim ?? H;
  const half = R / 2;
  const heads = (name: string): Value => {
    if (!form.maskCumsum) return b.input(name, ['batch', N, 'seq', H]);
    const hidden = b.input(`${name}_hidden`, ['batch', 'seq', N * H]);
    const split = b.node('Reshape', [hidden, b.ints(`${name}_heads_shape`, [0, 0, N, H])], `${name}_heads`);
    return b.node('Transpose', [split], `${name}_bnsh`, [attr('perm', [0, 2, 1, 3])]);
  };
  const q = heads('q');
  const k = heads('k');
  const scalar = (name: string, value: number) =>
    b.g.addInitializer(name, Tensor.fromArray(name, DataType.INT64, [], [value]));
  let pos: Value;
  if (form.range) {
    const seq = b.node('Gather', [b.node('Shape', [q], 'q_shape'), scalar('two', 2)], 'seq_len');
    const r = b.node('Range', [scalar('zero', 0), seq, scalar('one', 1)], 'positions_range');
    pos = form.outer ? r : b.node('Unsqueeze', [r, b.ints('ax0', form.freqsMatMul ? [0, 1] : [0])], 'position_ids_row');
  } else if (form.maskCumsum) {
    // transformers' generate(): position_ids = mask.cumsum(-1) - 1, masked_fill(mask == 0, 1)
    const mask = b.input('attention_mask', ['batch', 'total_sequence_length'], DataType.INT64);
    const counted = b.node(
      'Sub',
      [b.node('CumSum', [mask, scalar('last_axis', 1)], 'mask_cumsum'), scalar('one', 1)],
      'mask_positions',
    );
    const padded = b.node('Equal', [mask, scalar('zero', 0)], 'mask_padded');
    pos = b.node('Where', [padded, scalar('pad_position', 1), counted], 'position_ids');
  } else pos = b.input('position_ids', ['batch', 'seq'], DataType.INT64);
  if (form.freqsMatMul && !form.range) pos = b.node('Unsqueeze', [pos, b.ints('ax1_pos', [1])], 'position_ids_b1s');
  const invFreq = Array.from({ length: half }, (_, i) => 1 / 10000 ** ((2 * i) / R));
  let cos: Value, sin: Value;
  if (form.freqsMatMul) {
    const batch = b.node('Shape', [q], 'batch_dim', [attr('start', 0), attr('end', 1)]);
    const to = b.node('Concat', [batch, b.ints('half_one', [half, 1])], 'inv_freq_shape', [attr('axis', 0)]);
    const inv = b.node('Expand', [b.floats('inv_freq', [1, half, 1], invFreq), to], 'inv_freq_expanded');
    const posF = b.node('Cast', [pos], 'positions_float', [attr('to', DataType.FLOAT)]);
    const freqs = b.node('Transpose', [b.node('MatMul', [inv, posF], 'freqs_bhs')], 'freqs', [attr('perm', [0, 2, 1])]);
    let emb: Value;
    if (form.interleaved) {
      // repeat_interleave(freqs, 2) as dynamo writes it: reshaped to the shape it reads off freqs, (B, S) + (-1)
      const pair = b.node(
        'Expand',
        [b.node('Unsqueeze', [freqs, b.ints('axm1', [-1])], 'freqs_col'), b.ints('pair_shape', [1, 1, 1, 2])],
        'freqs_pair',
      );
      const to = b.node(
        'Concat',
        [b.node('Shape', [freqs], 'freqs_lead', [attr('start', 0), attr('end', -1)]), b.ints('minus_one', [-1])],
        'emb_shape',
        [attr('axis', 0)],
      );
      emb = b.node('Reshape', [pair, to], 'emb');
    } else emb = b.node('Concat', [freqs, freqs], 'emb', [attr('axis', -1)]);
    cos = b.node('Unsqueeze', [b.node('Cos', [emb], 'cos_raw'), b.ints('ax1', [1])], 'cos');
    sin = b.node('Unsqueeze', [b.node('Sin', [emb], 'sin_raw'), b.ints('ax1b', [1])], 'sin');
  } else if (form.table) {
    const rows = form.table;
    const table = (f: (x: number) => number) =>
      Array.from({ length: rows * R }, (_, j) => {
        const [p, i] = [Math.floor(j / R), j % R];
        return f(p * invFreq[form.interleaved ? Math.floor(i / 2) : i % half]!);
      });
    cos = b.node(
      'Unsqueeze',
      [b.node('Gather', [b.floats('cos_cached', [rows, R], table(Math.cos)), pos], 'cos_g'), b.ints('ax1', [1])],
      'cos',
    );
    sin = b.node(
      'Unsqueeze',
      [b.node('Gather', [b.floats('sin_cached', [rows, R], table(Math.sin)), pos], 'sin_g'), b.ints('ax1b', [1])],
      'sin',
    );
  } else {
    // as transformers writes it: position_ids[..., None].float() (unsqueezed while still integer)
    const posF = b.node('Cast', [b.node('Unsqueeze', [pos, b.ints('axm1', [-1])], 'pos_col_int')], 'pos_col', [
      attr('to', DataType.FLOAT),
    ]);
    const freqs = b.node('Mul', [posF, b.floats('inv_freq', [half], invFreq)], 'freqs');
    let emb: Value;
    if (form.interleaved) {
      // repeat_interleave(freqs, 2): (.., half, 1) twice along the last axis, then flattened
      const col = b.node('Unsqueeze', [freqs, b.ints('axm1b', [-1])], 'freqs_col');
      const pair = b.node('Concat', [col, col], 'freqs_pair', [attr('axis', -1)]);
      emb = b.node('Reshape', [pair, b.ints('emb_shape', [0, 0, R])], 'emb');
    } else emb = b.node('Concat', [freqs, freqs], 'emb', [attr('axis', -1)]);
    const lift = (v: Value, name: string) =>
      form.outer ? v : b.node('Unsqueeze', [v, b.ints(`${name}_ax1`, [1])], name);
    cos = lift(b.node('Cos', [emb], 'cos_raw'), 'cos');
    sin = lift(b.node('Sin', [emb], 'sin_raw'), 'sin');
  }
  const slice = (x: Value, start: number, end: number, name: string, step = 1) =>
    b.node(
      'Slice',
      [
        x,
        b.ints(`${name}_s`, [start]),
        b.ints(`${name}_e`, [end]),
        b.ints(`${name}_a`, [3]),
        b.ints(`${name}_t`, [step]),
      ],
      name,
    );
  for (const [name, x] of [
    ['q', q],
    ['k', k],
  ] as const) {
    const rotated = R < H ? slice(x, 0, R, `${name}_rot`) : x;
    let turned: Value;
    if (form.interleaved) {
      const even = b.node(
        'Unsqueeze',
        [slice(rotated, 0, R, `${name}_even`, 2), b.ints(`${name}_u1`, [-1])],
        `${name}_even_u`,
      );
      const odd = b.node(
        'Unsqueeze',
        [slice(rotated, 1, R, `${name}_odd`, 2), b.ints(`${name}_u2`, [-1])],
        `${name}_odd_u`,
      );
      const stacked = b.node('Concat', [b.node('Neg', [odd], `${name}_neg`), even], `${name}_stack`, [
        attr('axis', -1),
      ]);
      turned = b.node('Reshape', [stacked, b.ints(`${name}_flat`, [0, 0, 0, R])], `${name}_turned`);
    } else {
      const x1 = slice(rotated, 0, half, `${name}_x1`);
      const x2 = slice(rotated, half, R, `${name}_x2`);
      turned = form.wrongSign
        ? b.node('Concat', [x2, b.node('Neg', [x1], `${name}_neg`)], `${name}_turned`, [attr('axis', -1)])
        : b.node('Concat', [b.node('Neg', [x2], `${name}_neg`), x1], `${name}_turned`, [attr('axis', -1)]);
    }
    let y = b.node(
      'Add',
      [b.node('Mul', [rotated, cos], `${name}_cos`), b.node('Mul', [turned, sin], `${name}_sin`)],
      `${name}_embed`,
    );
    if (R < H) y = b.node('Concat', [y, slice(x, R, H, `${name}_pass`)], `${name}_full`, [attr('axis', -1)]);
    b.output(b.node('Identity', [y], `${name}_out`));
  }
  return b.model;
}

function feeds(model: Model, seed = 3): Record<string, ort.Tensor> {
  let s = seed;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5;
  const out: Record<string, ort.Tensor> = {};
  for (const input of model.graph.inputs) {
    if (input.name === 'position_ids')
      out[input.name] = new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: B * S }, (_, i) => BigInt((i * 5 + 3) % 11)),
        [B, S],
      );
    // row 1 padded by 2 on the left, as generate() pads
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

async function expectFusedParity(form: Form): Promise<Model> {
  const model = rotaryBlock(form);
  const before = await runModel(model, feeds(model), 'disabled');
  const result = runPass(fuseRotaryPass, model, true);
  expect(result.stats, (result.notes ?? []).join('\n')).toEqual({ RotaryEmbedding: 2 });
  expect(opCounts(model)['com.microsoft::RotaryEmbedding']).toBe(2);
  expect(opCounts(model).Cos ?? 0).toBe(0);
  for (const level of ['disabled', 'all'] as const)
    expect(maxAbsDiff(before, await runModel(model, feeds(model), level))).toBeLessThan(1e-5);
  return model;
}

describe('fuse-rotary', () => {
  it('fuses rotate-half rotary with positions from an input and cos/sin from inv_freq', async () => {
    const model = await expectFusedParity({});
    const node = model.graph.nodes.find((n) => n.opType === 'RotaryEmbedding')!;
    expect(node.attrInt('interleaved', 0)).toBe(0);
    expect(node.input(2).initializer!.dims).toEqual([4096, H / 2]);
  });

  it('fuses interleaved (GPT-J style) rotary', async () => {
    const model = await expectFusedParity({ interleaved: true });
    expect(model.graph.nodes.find((n) => n.opType === 'RotaryEmbedding')!.attrInt('interleaved', 0)).toBe(1);
  });

  it('fuses partial rotary with the unrotated dims passed through', async () => {
    const model = await expectFusedParity({ rotaryDim: 4 });
    const node = model.graph.nodes.find((n) => n.opType === 'RotaryEmbedding')!;
    expect(node.attrInt('rotary_embedding_dim', 0)).toBe(4);
    expect(node.attrInt('num_heads', 0)).toBe(N);
  });

  it('fuses positions computed from a range, expanded to the batch', async () => {
    await expectFusedParity({ range: true });
  });

  it("fuses dynamo's form: inv_freq expanded to the batch, MatMul with (B, 1, S) positions", async () => {
    const model = await expectFusedParity({ freqsMatMul: true });
    expect(model.graph.nodes.find((n) => n.opType === 'RotaryEmbedding')!.input(2).initializer!.dims).toEqual([
      4096,
      H / 2,
    ]);
  });

  it("fuses dynamo's form with a range unsqueezed to (1, 1, S) positions", async () => {
    await expectFusedParity({ freqsMatMul: true, range: true });
  });

  it("fuses dynamo's interleaved form, whose repeat_interleave reshapes to the token count it reads off the graph", async () => {
    const model = await expectFusedParity({ freqsMatMul: true, interleaved: true });
    const node = model.graph.nodes.find((n) => n.opType === 'RotaryEmbedding')!;
    expect(node.attrInt('interleaved', 0)).toBe(1);
    expect(node.input(2).initializer!.dims).toEqual([4096, H / 2]);
  });

  it('fuses cos/sin of an outer product of a 1-D range with inv_freq, (S, 1) positions', async () => {
    await expectFusedParity({ range: true, outer: true });
  });

  it('fuses positions computed from the attention_mask cumsum, whose length the probes size apart', async () => {
    const model = await expectFusedParity({ maskCumsum: true });
    expect(model.graph.nodes.find((n) => n.opType === 'RotaryEmbedding')!.input(1).producer?.opType).not.toBe('CumSum');
    expect(opCounts(model).CumSum).toBe(1);
  });

  it('takes a gathered table as the cache, with its own length', async () => {
    const model = await expectFusedParity({ table: 32 });
    expect(model.graph.nodes.find((n) => n.opType === 'RotaryEmbedding')!.input(2).initializer!.dims).toEqual([
      32,
      H / 2,
    ]);
  });

  it('shares one cos/sin cache between sites', async () => {
    const model = await expectFusedParity({});
    expect(model.graph.initializers.filter((v) => v.name.startsWith('cos_cache'))).toHaveLength(1);
  });

  it("writes ONNX's own RotaryEmbedding (its input order) at opset 23", async () => {
    const model = rotaryBlock({});
    model.opsetImports[0]!.version = 23;
    const before = await runModel(model, feeds(model), 'disabled');
    const result = runPass(fuseRotaryPass, model, true);
    expect(result.stats, (result.notes ?? []).join('\n')).toEqual({ RotaryEmbedding: 2 });
    const node = model.graph.nodes.find((n) => n.opType === 'RotaryEmbedding')!;
    expect(node.domain).toBe('');
    expect(node.input(3).name).toBe('position_ids');
    for (const level of ['disabled', 'all'] as const)
      expect(maxAbsDiff(before, await runModel(model, feeds(model), level))).toBeLessThan(1e-5);
  });

  it('refuses a rotation that is not a rotary embedding, saying why', () => {
    const model = rotaryBlock({ wrongSign: true });
    const result = runPass(fuseRotaryPass, model, true);
    expect(result.changed).toBe(false);
    expect(result.notes!.join('\n')).toMatch(/differs from RotaryEmbedding/);
  });
});
