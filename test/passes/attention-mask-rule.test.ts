// explainMask: which rule a probe's masked scores follow. Where the probe's key mask hides every later key, both the
// key mask alone and the key mask with causality fit: the probe cannot tell, and must not say "not causal" (with
// unlucky probe inputs a GPT-2's attention was once read as bidirectional by one probe and refused).
import { describe, expect, it } from 'vitest';
import { Value } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';
import { explainMask } from '../../passes/attention/verify.js';

/** Probe inputs holding one int64 (B, Sk) mask, and the scores it masks (b, i, j), causally or not. */
function probe(mask: number[][], causal: boolean, Sq = mask[0]!.length) {
  const B = mask.length;
  const Sk = mask[0]!.length;
  const input = new Value('attention_mask', tensorType(DataType.INT64, [B, Sk]));
  const feeds = new Map([[input, Tensor.fromArray('', DataType.INT64, [B, Sk], mask.flat())]]);
  const masked = new Uint8Array(B * Sq * Sk);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < Sq; i++)
      for (let j = 0; j < Sk; j++)
        masked[(b * Sq + i) * Sk + j] = mask[b]![j] === 0 || (causal && j > i + Sk - Sq) ? 1 : 0;
  const rows = Array.from({ length: Sq }, (_, i) => i);
  return { input, rule: explainMask({ dims: {}, feeds }, masked, B, Sq, Sk, rows) };
}

describe('explainMask', () => {
  it.each([true, false])('reads causal = %s where the key mask leaves a later key visible', (causal) => {
    const { input, rule } = probe(
      [
        [1, 1, 0],
        [1, 0, 1],
      ],
      causal,
    );
    expect(rule).toEqual({ maskCandidates: [input], causal });
  });

  it('leaves causality undecided where the key mask hides every later key', () => {
    for (const causal of [false, true]) {
      const { input, rule } = probe(
        [
          [1, 0],
          [1, 0],
        ],
        causal,
      );
      expect(rule).toEqual({ maskCandidates: [input] });
    }
  });

  it('offsets causality by the past keys when queries are fewer than keys', () => {
    // two queries over three keys (one past): query i sees keys up to i + 1
    const { input, rule } = probe(
      [
        [1, 1, 1],
        [1, 1, 1],
      ],
      true,
      2,
    );
    expect(rule).toEqual({ maskCandidates: [], causal: true });
    expect(input).toBeDefined();
  });

  it('says so when no rule fits', () => {
    // query 0 sees key 1 but not key 0: no key mask, with or without causality, does that
    const masked = new Uint8Array([1, 0, 1, 0, 0, 1, 0, 0, 0]);
    expect(explainMask({ dims: {}, feeds: new Map() }, masked, 1, 3, 3, [0, 1, 2])).toBe(
      'the masked scores follow no key mask input or causal rule',
    );
  });
});
