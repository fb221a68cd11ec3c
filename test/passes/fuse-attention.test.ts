// fuse-attention on synthetic BERT-like blocks: plain attention becomes Attention, attention with an additive term
// not computed from q/k/v becomes MultiHeadAttention taking that term as attention_bias, and terms it cannot take
// are refused with a note. Fused models must match the unfused ones in onnxruntime-node.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fuseAttentionPass, probeBatch } from '../../passes/fuse-attention.js';
import { Graph, Value, tensorType, type Model } from '../../src/ir/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import {
  buildModel,
  expectFusion,
  GraphMaker,
  runPass,
  uniformFloats,
  type Fusion,
  type FusionExpectation,
  type WeightDraw,
} from '../kit/index.js';

const HEADS = 2;
const HEAD_SIZE = 4;
const HIDDEN = HEADS * HEAD_SIZE;
const BATCH = 2;
const SEQ = 5;
/** The weights these tests' tolerances were set on: uniform in [-0.5, 0.5), seeds from 7. */
const WEIGHTS: WeightDraw = { shape: 'uniform', firstSeed: 7 };

/** Builds the scores' additive term from the graph, the attention input x and the q projection (B, S, D). */
type BiasMaker = (g: GraphMaker, x: Value, qProjection: Value) => Value;

/**
 * x (batch, seq, 8) -> q/k/v = x·W + b -> heads (B, 2, S, 4) -> MatMul(q, kᵀ) / divisor [+ bias] [+ (1 - mask) · -10000]
 * -> Softmax -> ·v -> back to (B, S, 8) -> an output MatMul, so the attention output is not a graph output. With
 * several divisors, one such layer per divisor, each feeding the next (a bias only with one layer).
 */
function attentionBlock(options: { mask?: boolean; bias?: BiasMaker; divisors?: number[]; seq?: number } = {}): Model {
  return buildModel(
    (g) => {
      let x = g.input('x', ['batch', options.seq ?? 'seq', HIDDEN]);
      const heads = g.ints('heads_shape', [0, 0, HEADS, HEAD_SIZE]);
      const mask = (options.mask ?? true) ? g.input('attention_mask', ['batch', 'seq'], DataType.INT64) : undefined;
      const divisors = options.divisors ?? [Math.sqrt(HEAD_SIZE)];
      divisors.forEach((divisor, layer) => {
        const at = divisors.length > 1 ? `l${layer}_` : '';
        const projection = (name: string) =>
          g.op(
            'Add',
            [
              g.op('MatMul', [x, g.weight(`${at}W${name}`, [HIDDEN, HIDDEN])], { name: `${at}${name}_matmul` }),
              g.weight(`${at}b${name}`, [HIDDEN]),
            ],
            { name: `${at}${name}_proj` },
          );
        const split = (value: Value, name: string, perm: number[]) =>
          g.op('Transpose', [g.op('Reshape', [value, heads], { name: `${at}${name}_heads` })], {
            name: `${at}${name}_t`,
            attrs: { perm },
          });
        const qProjection = projection('q');
        const q = split(qProjection, 'q', [0, 2, 1, 3]);
        const k = split(projection('k'), 'k', [0, 2, 3, 1]);
        const v = split(projection('v'), 'v', [0, 2, 1, 3]);
        let scores = g.op('Div', [g.op('MatMul', [q, k], { name: `${at}qk` }), g.init(`${at}divisor`, divisor)], {
          name: `${at}scaled`,
        });
        if (options.bias) scores = g.op('Add', [scores, options.bias(g, x, qProjection)], { name: 'biased' });
        if (mask) {
          const keep = g.op('Cast', [mask], { name: `${at}mask_float`, attrs: { to: DataType.FLOAT } });
          const additive = g.op(
            'Mul',
            [g.op('Sub', [g.init(`${at}one`, 1), keep], { name: `${at}mask_inverted` }), g.init(`${at}filter`, -10000)],
            { name: `${at}mask_additive` },
          );
          scores = g.op(
            'Add',
            [scores, g.op('Unsqueeze', [additive, g.ints(`${at}mask_axes`, [1, 2])], { name: `${at}mask_4d` })],
            { name: `${at}masked` },
          );
        }
        const probabilities = g.op('Softmax', [scores], { name: `${at}probabilities`, attrs: { axis: -1 } });
        const context = g.op('Transpose', [g.op('MatMul', [probabilities, v], { name: `${at}context` })], {
          name: `${at}context_t`,
          attrs: { perm: [0, 2, 1, 3] },
        });
        const merged = g.op('Reshape', [context, g.ints(`${at}merged_shape`, [0, 0, HIDDEN])], { name: `${at}merged` });
        x = g.op('MatMul', [merged, g.weight(`${at}Wo`, [HIDDEN, HIDDEN])], { name: `${at}y` });
      });
      g.output(x, null);
    },
    17,
    WEIGHTS,
  );
}

/** position_bias (batch, 2, seq, seq) from a graph input. */
const biasInput: BiasMaker = (g) => g.input('position_bias', ['batch', HEADS, 'seq', 'seq']);

/** (1, 2, seq, seq) sliced from a constant (2, 16, 16) table by the sequence length of x: a relative position bias. */
const biasFromTable: BiasMaker = (g, x) => {
  const length = g.op('Shape', [x], { name: 'seq_length', attrs: { start: 1, end: 2 } });
  const ends = g.op('Concat', [length, length], { name: 'table_ends', attrs: { axis: 0 } });
  const sliced = g.op(
    'Slice',
    [g.weight('bias_table', [HEADS, 16, 16]), g.ints('table_starts', [0, 0]), ends, g.ints('table_axes', [1, 2])],
    { name: 'table_slice' },
  );
  return g.op('Unsqueeze', [sliced, g.ints('table_axis', [0])], { name: 'table_bias' });
};

/** The sum of each key's q projection, broadcast to (B, 1, 1, S): an additive term that reads q. */
const biasFromQ: BiasMaker = (g, _x, qProjection) => {
  const sums = g.op('ReduceSum', [qProjection, g.ints('sum_axes', [-1])], { name: 'q_sums', attrs: { keepdims: 1 } });
  const perKey = g.op('Transpose', [sums], { name: 'q_sums_t', attrs: { perm: [0, 2, 1] } });
  return g.op('Unsqueeze', [perKey, g.ints('q_sums_axes', [1])], { name: 'q_bias' });
};

/** A (seq, seq) input: rank 2, which MultiHeadAttention's attention_bias does not take. */
const biasRank2: BiasMaker = (g) => g.input('position_bias', ['seq', 'seq']);

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

/** The kit's checks, with the fused model matching the unfused one within 1e-4 at both optimization levels. */
const fuses = (unfused: Model, expected: Pick<FusionExpectation, 'ops' | 'stats' | 'explains'>) =>
  expectFusion(fuseAttentionPass, unfused, {
    ...expected,
    tolerance: 1e-4,
    feeds: feedsFor(unfused),
    levels: ['disabled', 'all'],
  });

const msNodes = (m: Model, opType: string) =>
  m.graph.nodes.filter((n) => n.domain === 'com.microsoft' && n.opType === opType);
const ATTENTION = 'com.microsoft::Attention';
const MHA = 'com.microsoft::MultiHeadAttention';

type Form = [name: string, model: () => Model, expected: Parameters<typeof fuses>[1], check?: (fused: Fusion) => void];

/** Exporter forms it fuses: the ops and stats after, and what each fused node reads. */
const FUSED: Form[] = [
  [
    'plain attention with a mask: one Attention, the int64 mask through an int32 cast',
    () => attentionBlock(),
    { ops: { [ATTENTION]: 1, Softmax: 0 }, stats: { Attention: 1 } },
    ({ model }) => {
      const [attention] = msNodes(model, 'Attention');
      expect(attention!.attrInt('num_heads', 0)).toBe(HEADS);
      expect(attention!.inputs[0]!.name).toBe('x');
      expect(attention!.inputs[3]!.producer?.input(0).name).toBe('attention_mask');
    },
  ],
  [
    'plain attention without a mask: one Attention',
    () => attentionBlock({ mask: false }),
    { ops: { [ATTENTION]: 1, Softmax: 0 }, stats: { Attention: 1 } },
    ({ model }) => expect(msNodes(model, 'Attention')[0]!.inputs[0]!.name).toBe('x'),
  ],
  [
    'layers that repeat one attention: one verified meaning for layers that differ only in weights',
    () => attentionBlock({ divisors: [2, 2, 4] }),
    { ops: { [ATTENTION]: 3, Softmax: 0 }, stats: { Attention: 3 } },
    // layers 0 and 1 share a signature; layer 2's other divisor is its own: a scale of 1/4 where 1/sqrt(4) is the default
    ({ model }) =>
      expect(msNodes(model, 'Attention').map((n) => Math.fround(n.attrFloat('scale', 0)))).toEqual([0, 0, 0.25]),
  ],
  [
    'a (batch, 2, seq, seq) input bias: MultiHeadAttention taking it as attention_bias',
    () => attentionBlock({ bias: biasInput }),
    { ops: { [ATTENTION]: 0, [MHA]: 1, Softmax: 0 }, stats: { MultiHeadAttention: 1 } },
    ({ model }) => {
      const [mha] = msNodes(model, 'MultiHeadAttention');
      expect(mha!.inputs).toHaveLength(6);
      expect(mha!.inputs[4]!.producer?.input(0).name).toBe('attention_mask');
      expect(mha!.inputs[5]!.name).toBe('position_bias');
    },
  ],
  [
    'a (1, 2, seq, seq) bias sliced from a constant table by the length of x: MultiHeadAttention',
    () => attentionBlock({ bias: biasFromTable }),
    { ops: { [MHA]: 1, Softmax: 0 }, stats: { MultiHeadAttention: 1 } },
    ({ model }) => {
      const [mha] = msNodes(model, 'MultiHeadAttention');
      expect(mha!.inputs[5]!.producer?.opType).toBe('Unsqueeze');
      expect(mha!.inputs[5]!.producer?.input(0).producer?.opType).toBe('Slice');
    },
  ],
  [
    'a static sequence longer than 64, checked on sampled query rows: one Attention',
    () => attentionBlock({ mask: false, seq: 100 }),
    { ops: { [ATTENTION]: 1, Softmax: 0 }, stats: { Attention: 1 } },
  ],
];

/** Forms it leaves as they are, each with its one note (a Softmax left is always explained). */
const REFUSED: Form[] = [
  [
    'an additive term computed from the q projection',
    () => attentionBlock({ bias: biasFromQ }),
    {
      ops: { [ATTENTION]: 0, [MHA]: 0, Softmax: 1 },
      explains: [
        "Attention at Softmax 'probabilities': scores are not a scaled q·kᵀ, and no additive term is a bias: ",
      ],
    },
    ({ result }) => {
      expect(result.notes![0]).toMatch(
        /^Attention at Softmax 'probabilities': scores are not a scaled q·kᵀ, and no additive term is a bias: /,
      );
      expect(result.notes![0]).toMatch(/'[^']+' is computed from q, k or v/);
    },
  ],
  [
    'a rank-2 (seq, seq) bias, saying how it is shaped',
    () => attentionBlock({ bias: biasRank2 }),
    { ops: { [ATTENTION]: 0, [MHA]: 0, Softmax: 1 }, explains: ["Attention at Softmax 'probabilities': "] },
    ({ result }) =>
      expect(result.notes![0]).toMatch(
        /^Attention at Softmax 'probabilities': .*'position_bias' as a bias: the additive term is shaped \[\d+,\d+\]/,
      ),
  ],
  [
    'a Softmax that is no attention: no candidate',
    () =>
      buildModel(
        (g) => {
          const logits = g.op('MatMul', [g.input('x', ['batch', HIDDEN]), g.weight('W', [HIDDEN, 3])], {
            name: 'logits',
          });
          g.output(g.op('Softmax', [logits], { name: 'classifier', attrs: { axis: -1 } }), null);
        },
        17,
        WEIGHTS,
      ),
    {
      ops: ['MatMul', 'Softmax'],
      explains: [
        "Attention at Softmax 'classifier': no candidate: its input is not MatMul(q, kᵀ) through scalings, Adds, Where or Cast (reached MatMul 'logits')",
      ],
    },
  ],
];

describe('fuse-attention: exporter forms it fuses (parity at both levels, idempotent, deterministic)', () => {
  it.each(FUSED)('%s', async (_, form, expected, check) => check?.(await fuses(form(), expected)));
});

describe('fuse-attention: forms it refuses, explained, leaving a runnable model', () => {
  it.each(REFUSED)('%s', async (_, form, expected, check) => {
    const fusion = await fuses(form(), expected);
    expect(fusion.result.changed).toBe(false);
    check?.(fusion);
  });
});

describe('fuse-attention: Softmax in a subgraph', () => {
  it('enters If branches and explains each Softmax there', () => {
    const model = buildModel((g) => {
      const x = g.input('x', ['batch', HIDDEN]);
      const flag = g.input('flag', [], DataType.BOOL);
      const branch = (name: string) => {
        const body = new GraphMaker(new Graph(name, g.graph));
        body.output(body.op('Softmax', [x], { name: `${name}_softmax`, attrs: { axis: -1 } }), ['batch', HIDDEN]);
        return body.graph;
      };
      const y = g.op('If', [flag], {
        name: 'choice',
        attrs: { then_branch: branch('then'), else_branch: branch('else') },
      });
      g.output(y, null);
    });
    const result = runPass(fuseAttentionPass, model, true);
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
  it('probes at batch 1 where batch-2 scores would pass what the evaluator computes', () => {
    const scores = (dims: (number | string)[]) => new Value('scores', tensorType(DataType.FLOAT, dims));
    // Whisper's encoder: 6 heads over 1500 frames, 54 MB of scores a batch row
    expect(probeBatch([scores(['batch', 4, 16, 16]), scores(['batch', 6, 1500, 1500])])).toBe(1);
    expect(probeBatch([scores(['batch', 4, 'seq', 'seq']), scores(['batch', 12, 512, 512])])).toBe(2);
  });
});
