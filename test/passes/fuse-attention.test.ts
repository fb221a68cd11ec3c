// fuse-attention on synthetic BERT-like blocks: plain attention becomes Attention, attention with an additive term
// not computed from q/k/v becomes MultiHeadAttention taking that term as attention_bias, and terms it cannot take
// are refused with a note. Fused models must match the unfused ones in onnxruntime-node.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fuseAttentionPass, probeBatch } from '../../passes/fuse-attention.js';
import { readModelBytes } from '../../src/io/read.js';
import { attr, Graph, Model, Tensor, Value, tensorType, type Attribute } from '../../src/ir/index.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DataType } from '../../src/tensor/dtype.js';
import { opCounts, runPass } from '../kit/index.js';
import { maxAbsDiff, runModel } from './fusion-helpers.js';
import { uniformFloats } from '../kit/random.js';

const HEADS = 2;
const HEAD_SIZE = 4;
const HIDDEN = HEADS * HEAD_SIZE;
const BATCH = 2;
const SEQ = 5;

class Builder {
  readonly model = new Model();
  readonly g: Graph = this.model.graph;
  private seed = 7;

  constructor() {
    this.model.opsetImports.push({ domain: '', version: 17 });
  }

  input(name: string, dims: (number | string)[], type: number = DataType.FLOAT): Value {
    return this.g.addInput(new Value(name, tensorType(type, dims)));
  }

  weight(name: string, dims: number[]): Value {
    const count = dims.reduce((a, b) => a * b, 1);
    return this.g.addInitializer(name, Tensor.fromArray(name, DataType.FLOAT, dims, uniformFloats(count, this.seed++)));
  }

  ints(name: string, values: number[]): Value {
    return this.g.addInitializer(name, Tensor.fromArray(name, DataType.INT64, [values.length], values));
  }

  scalar(name: string, value: number): Value {
    return this.g.addInitializer(name, Tensor.fromArray(name, DataType.FLOAT, [], [value]));
  }

  node(opType: string, inputs: Value[], name: string, attributes: Attribute[] = []): Value {
    return this.g.createNode({ opType, inputs, outputs: [this.g.newValue(name)], attributes, name }).output(0);
  }
}

/** Builds the scores' additive term from the builder, the attention input x and the q projection (B, S, D). */
type BiasMaker = (b: Builder, x: Value, qProjection: Value) => Value;

/**
 * x (batch, seq, 8) -> q/k/v = x·W + b -> heads (B, 2, S, 4) -> MatMul(q, kᵀ) / divisor [+ bias] [+ (1 - mask) · -10000]
 * -> Softmax -> ·v -> back to (B, S, 8) -> an output MatMul, so the attention output is not a graph output. With
 * several divisors, one such layer per divisor, each feeding the next (a bias only with one layer).
 */
function attentionBlock(options: { mask?: boolean; bias?: BiasMaker; divisors?: number[]; seq?: number } = {}): Model {
  const b = new Builder();
  let x = b.input('x', ['batch', options.seq ?? 'seq', HIDDEN]);
  const heads = b.ints('heads_shape', [0, 0, HEADS, HEAD_SIZE]);
  const mask = (options.mask ?? true) ? b.input('attention_mask', ['batch', 'seq'], DataType.INT64) : undefined;
  const divisors = options.divisors ?? [Math.sqrt(HEAD_SIZE)];
  divisors.forEach((divisor, layer) => {
    const at = divisors.length > 1 ? `l${layer}_` : '';
    const projection = (name: string) =>
      b.node(
        'Add',
        [
          b.node('MatMul', [x, b.weight(`${at}W${name}`, [HIDDEN, HIDDEN])], `${at}${name}_matmul`),
          b.weight(`${at}b${name}`, [HIDDEN]),
        ],
        `${at}${name}_proj`,
      );
    const split = (value: Value, name: string, perm: number[]) =>
      b.node('Transpose', [b.node('Reshape', [value, heads], `${at}${name}_heads`)], `${at}${name}_t`, [
        attr('perm', perm),
      ]);
    const qProjection = projection('q');
    const q = split(qProjection, 'q', [0, 2, 1, 3]);
    const k = split(projection('k'), 'k', [0, 2, 3, 1]);
    const v = split(projection('v'), 'v', [0, 2, 1, 3]);
    let scores = b.node('Div', [b.node('MatMul', [q, k], `${at}qk`), b.scalar(`${at}divisor`, divisor)], `${at}scaled`);
    if (options.bias) scores = b.node('Add', [scores, options.bias(b, x, qProjection)], 'biased');
    if (mask) {
      const keep = b.node('Cast', [mask], `${at}mask_float`, [attr('to', DataType.FLOAT)]);
      const additive = b.node(
        'Mul',
        [b.node('Sub', [b.scalar(`${at}one`, 1), keep], `${at}mask_inverted`), b.scalar(`${at}filter`, -10000)],
        `${at}mask_additive`,
      );
      scores = b.node(
        'Add',
        [scores, b.node('Unsqueeze', [additive, b.ints(`${at}mask_axes`, [1, 2])], `${at}mask_4d`)],
        `${at}masked`,
      );
    }
    const probabilities = b.node('Softmax', [scores], `${at}probabilities`, [attr('axis', -1)]);
    const context = b.node('Transpose', [b.node('MatMul', [probabilities, v], `${at}context`)], `${at}context_t`, [
      attr('perm', [0, 2, 1, 3]),
    ]);
    const merged = b.node('Reshape', [context, b.ints(`${at}merged_shape`, [0, 0, HIDDEN])], `${at}merged`);
    x = b.node('MatMul', [merged, b.weight(`${at}Wo`, [HIDDEN, HIDDEN])], `${at}y`);
  });
  b.g.outputs.push(x);
  return b.model;
}

/** position_bias (batch, 2, seq, seq) from a graph input. */
const biasInput: BiasMaker = (b) => b.input('position_bias', ['batch', HEADS, 'seq', 'seq']);

/** (1, 2, seq, seq) sliced from a constant (2, 16, 16) table by the sequence length of x: a relative position bias. */
const biasFromTable: BiasMaker = (b, x) => {
  const length = b.node('Shape', [x], 'seq_length', [attr('start', 1), attr('end', 2)]);
  const ends = b.node('Concat', [length, length], 'table_ends', [attr('axis', 0)]);
  const sliced = b.node(
    'Slice',
    [b.weight('bias_table', [HEADS, 16, 16]), b.ints('table_starts', [0, 0]), ends, b.ints('table_axes', [1, 2])],
    'table_slice',
  );
  return b.node('Unsqueeze', [sliced, b.ints('table_axis', [0])], 'table_bias');
};

/** The sum of each key's q projection, broadcast to (B, 1, 1, S): an additive term that reads q. */
const biasFromQ: BiasMaker = (b, _x, qProjection) => {
  const sums = b.node('ReduceSum', [qProjection, b.ints('sum_axes', [-1])], 'q_sums', [attr('keepdims', 1)]);
  const perKey = b.node('Transpose', [sums], 'q_sums_t', [attr('perm', [0, 2, 1])]);
  return b.node('Unsqueeze', [perKey, b.ints('q_sums_axes', [1])], 'q_bias');
};

/** A (seq, seq) input: rank 2, which MultiHeadAttention's attention_bias does not take. */
const biasRank2: BiasMaker = (b) => b.input('position_bias', ['seq', 'seq']);

const copy = (m: Model): Model => readModelBytes(encodeModel(m));
const fuse = (m: Model) => runPass(fuseAttentionPass, m);

/** Feeds for every input the model has: batch 2, seq 5, the second row padded after 3 tokens. */
function feedsFor(model: Model): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  model.graph.inputs.forEach((input, i) => {
    if (input.name === 'attention_mask') {
      const rows = [
        [1, 1, 1, 1, 1],
        [1, 1, 1, 0, 0],
      ];
      feeds[input.name] = new ort.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [BATCH, SEQ]);
      return;
    }
    const type = input.type?.kind === 'tensor' ? input.type : undefined;
    const dims = type!.shape!.map((d) => d.value ?? (d.param === 'batch' ? BATCH : SEQ));
    feeds[input.name] = new ort.Tensor(
      'float32',
      uniformFloats(
        dims.reduce((a, b) => a * b, 1),
        1000 + i,
      ),
      dims,
    );
  });
  return feeds;
}

/** The fused model gives the unfused model's outputs within 1e-4 at both optimization levels. */
async function expectParity(unfused: Model, fused: Model): Promise<void> {
  const feeds = feedsFor(unfused);
  for (const level of ['disabled', 'all'] as const) {
    const [expected, actual] = [await runModel(unfused, feeds, level), await runModel(fused, feeds, level)];
    expect(maxAbsDiff(expected, actual), level).toBeLessThanOrEqual(1e-4);
  }
}

const msNodes = (m: Model, opType: string) =>
  m.graph.nodes.filter((n) => n.domain === 'com.microsoft' && n.opType === opType);
const softmaxNote = (notes: readonly string[] | undefined) =>
  (notes ?? []).filter((n) => n.startsWith("Attention at Softmax 'probabilities':"));

describe('fuse-attention: plain attention', () => {
  it('fuses into one Attention with the mask and matches the unfused model', async () => {
    const unfused = attentionBlock();
    const model = copy(unfused);
    const result = fuse(model);
    expect(result.stats).toEqual({ Attention: 1 });
    const [attention] = msNodes(model, 'Attention');
    expect(attention!.attrInt('num_heads', 0)).toBe(HEADS);
    expect(attention!.inputs[0]!.name).toBe('x');
    // The int64 mask reaches Attention through an int32 cast.
    expect(attention!.inputs[3]!.producer?.input(0).name).toBe('attention_mask');
    expect(opCounts(model).Softmax).toBeUndefined();
    await expectParity(unfused, model);
  });
});

describe('fuse-attention: layers that repeat one attention', () => {
  it('carries one verified meaning to layers that differ only in weights, and tells apart layers that do not', async () => {
    const unfused = attentionBlock({ divisors: [2, 2, 4] });
    const model = copy(unfused);
    expect(fuse(model).stats).toEqual({ Attention: 3 });
    // layers 0 and 1 share a signature; layer 2's other divisor is its own: a scale of 1/4 where 1/sqrt(4) is the default
    expect(msNodes(model, 'Attention').map((n) => Math.fround(n.attrFloat('scale', 0)))).toEqual([0, 0, 0.25]);
    await expectParity(unfused, model);
  });
});

describe('fuse-attention: additive bias', () => {
  it('takes a (batch, 2, seq, seq) input as attention_bias of a MultiHeadAttention', async () => {
    const unfused = attentionBlock({ bias: biasInput });
    const model = copy(unfused);
    expect(fuse(model).stats).toEqual({ MultiHeadAttention: 1 });
    expect(msNodes(model, 'Attention')).toHaveLength(0);
    const [mha] = msNodes(model, 'MultiHeadAttention');
    expect(mha!.inputs).toHaveLength(6);
    expect(mha!.inputs[4]!.producer?.input(0).name).toBe('attention_mask');
    expect(mha!.inputs[5]!.name).toBe('position_bias');
    expect(opCounts(model).Softmax).toBeUndefined();
    await expectParity(unfused, model);
  });

  it('takes a (1, 2, seq, seq) bias sliced from a constant table by the length of x', async () => {
    const unfused = attentionBlock({ bias: biasFromTable });
    const model = copy(unfused);
    expect(fuse(model).stats).toEqual({ MultiHeadAttention: 1 });
    const [mha] = msNodes(model, 'MultiHeadAttention');
    expect(mha!.inputs[5]!.producer?.opType).toBe('Unsqueeze');
    expect(mha!.inputs[5]!.producer?.input(0).producer?.opType).toBe('Slice');
    await expectParity(unfused, model);
  });

  it('is idempotent: a second run changes no node, input or initializer', () => {
    const model = attentionBlock({ bias: biasInput });
    fuse(model);
    const graphOf = (m: Model) => ({
      nodes: m.graph.nodes.map(
        (n) => `${n.domain}::${n.opType}(${n.inputs.map((v) => v?.name ?? '')}) -> ${n.outputs.map((v) => v?.name)}`,
      ),
      initializers: m.graph.initializers.map((v) => v.name),
    });
    const once = graphOf(model);
    expect(fuse(model).changed).toBe(false);
    expect(graphOf(model)).toEqual(once);
  });

  it('serializes byte-identically after a second run', () => {
    const model = attentionBlock({ bias: biasInput });
    fuse(model);
    const once = encodeModel(model);
    fuse(model);
    expect(Buffer.from(encodeModel(model)).equals(Buffer.from(once))).toBe(true);
  });
});

describe('fuse-attention: refusals', () => {
  it('skips an additive term computed from the q projection and leaves a runnable model', async () => {
    const unfused = attentionBlock({ bias: biasFromQ });
    const model = copy(unfused);
    const result = fuse(model);
    expect(result.changed).toBe(false);
    const [note] = softmaxNote(result.notes);
    expect(note).toMatch(
      /^Attention at Softmax 'probabilities': scores are not a scaled q·kᵀ, and no additive term is a bias: /,
    );
    expect(note).toMatch(/'[^']+' is computed from q, k or v/);
    expect(msNodes(model, 'MultiHeadAttention')).toHaveLength(0);
    await expectParity(unfused, model);
  });

  it('refuses a rank-2 (seq, seq) bias, saying how it is shaped', async () => {
    const unfused = attentionBlock({ bias: biasRank2 });
    const model = copy(unfused);
    const result = fuse(model);
    expect(result.changed).toBe(false);
    const [note] = softmaxNote(result.notes);
    expect(note).toMatch(/'position_bias' as a bias: the additive term is shaped \[\d+,\d+\]/);
    expect(opCounts(model).Softmax).toBe(1);
    await expectParity(unfused, model);
  });
});

describe('fuse-attention: every Softmax it leaves is explained', () => {
  it('says why a Softmax that is no attention was left: no candidate', () => {
    const b = new Builder();
    const x = b.input('x', ['batch', HIDDEN]);
    const probabilities = b.node(
      'Softmax',
      [b.node('MatMul', [x, b.weight('W', [HIDDEN, 3])], 'logits')],
      'classifier',
      [attr('axis', -1)],
    );
    b.g.outputs.push(probabilities);
    const result = fuse(b.model);
    expect(result.changed).toBe(false);
    expect(result.notes).toEqual([
      "Attention at Softmax 'classifier': no candidate: its input is not MatMul(q, kᵀ) through scalings, Adds, Where or Cast (reached MatMul 'logits')",
    ]);
  });
});

describe('fuse-attention: Softmax in a subgraph', () => {
  it('enters If branches and explains each Softmax there', () => {
    const b = new Builder();
    const x = b.input('x', ['batch', HIDDEN]);
    const flag = b.input('flag', [], DataType.BOOL);
    const branch = (name: string) => {
      const g = new Graph(name, b.g);
      const y = g
        .createNode({ opType: 'Softmax', inputs: [x], name: `${name}_softmax`, attributes: [attr('axis', -1)] })
        .output();
      y.type = tensorType(DataType.FLOAT, ['batch', HIDDEN]);
      g.outputs.push(y);
      return g;
    };
    const y = b.node('If', [flag], 'choice', [
      attr('then_branch', branch('then')),
      attr('else_branch', branch('else')),
    ]);
    b.g.outputs.push(y);
    const result = fuse(b.model);
    // a Softmax of x alone is no attention: each branch's is looked at and refused, not skipped as a subgraph's
    const notes = result.notes ?? [];
    expect(notes).toHaveLength(2);
    for (const n of ['then_softmax', 'else_softmax']) {
      const line = notes.find((l) => l.startsWith(`Attention at Softmax '${n}': `));
      expect(line, n).toBeDefined();
      expect(line).not.toContain('subgraph');
    }
  });
});

describe('fuse-attention: a long static sequence', () => {
  it('checks sampled query rows of a static sequence longer than 64', async () => {
    const unfused = attentionBlock({ mask: false, seq: 100 });
    const model = copy(unfused);
    expect(fuse(model).stats).toEqual({ Attention: 1 });
    await expectParity(unfused, model);
  });

  it('probes at batch 1 where batch-2 scores would pass what the evaluator computes', () => {
    const scores = (dims: (number | string)[]) => new Value('scores', tensorType(DataType.FLOAT, dims));
    // Whisper's encoder: 6 heads over 1500 frames, 54 MB of scores a batch row
    expect(probeBatch([scores(['batch', 4, 16, 16]), scores(['batch', 6, 1500, 1500])])).toBe(1);
    expect(probeBatch([scores(['batch', 4, 'seq', 'seq']), scores(['batch', 12, 512, 512])])).toBe(2);
  });
});
