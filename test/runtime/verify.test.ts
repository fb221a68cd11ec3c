// --verify's building blocks: a pass that keeps the numbers passes, a broken pass is named, and with skip the
// pipeline carries on from the last model that kept parity.
import { describe, expect, it } from 'vitest';
import { readModel } from '../../src/io/read.js';
import { writeModel } from '../../src/io/write.js';
import type { Model } from '../../src/ir/model.js';
import { definePass, type PassContext } from '../../src/pipeline.js';
import { checkParity } from '../../src/runtime/parity.js';
import { PassVerifier, snapshotModel, verifyStep } from '../../src/runtime/verify.js';
import { embeddingModel, nudgeInitializer } from './helpers.js';
import { tempFolder } from '../kit/temp.js';

const dir = tempFolder('verify');

/** Rewrites the embeddings' a + b as a - (-b): a different graph, bitwise the same numbers. */
const addAsSub = definePass({
  name: 'add-as-sub',
  description: 'a + b -> a - (-b)',
  run(model) {
    const g = model.graph;
    const add = g.nodes.find((n) => n.opType === 'Add')!;
    const negated = g.createNode({ opType: 'Neg', inputs: [add.input(1)], before: add }).output();
    const sub = g.createNode({ opType: 'Sub', inputs: [add.input(0), negated], after: add }).output();
    g.replaceAllUses(add.output(), sub);
    g.removeNode(add);
    return { changed: true, stats: { rewritten: 1 } };
  },
});

/** Changes a weight: what a buggy fusion that loses or alters a constant looks like. */
const breakWeights = definePass({
  name: 'break-weights',
  description: 'nudges the first element of every word embedding',
  run(model) {
    nudgeInitializer(model, 'word_embeddings', 0, 0.25);
    for (let row = 1; row < 50; row++) nudgeInitializer(model, 'word_embeddings', row * 4, 0.25);
    return { changed: true, stats: {} };
  },
});

const context: PassContext = { options: {}, log: () => {} };
const ops = (m: Model) => m.graph.nodes.map((n) => n.opType);

describe('verifyStep', () => {
  it('passes a rewrite that keeps the numbers and names a pass that breaks them', async () => {
    const model = embeddingModel();
    const before = snapshotModel(model);
    addAsSub.run(model, context);
    const good = await verifyStep(before, model, 'add-as-sub', { threads: 1 });
    expect(good.pass).toBe(true);
    expect(good.message).toBe("pass 'add-as-sub' keeps parity (bitwise identical)");

    const beforeBreak = snapshotModel(model);
    breakWeights.run(model, context);
    const bad = await verifyStep(beforeBreak, model, 'break-weights', { threads: 1 });
    expect(bad.pass).toBe(false);
    expect(bad.message).toMatch(
      /^pass 'break-weights' breaks parity: output 'last_hidden_state': \d+ of \d+ elements outside/,
    );
    expect(bad.report.reference).toBe('before break-weights');
  });

  it('judges a lossy pass by cosine similarity', async () => {
    const model = embeddingModel();
    const before = snapshotModel(model);
    nudgeInitializer(model, 'word_embeddings', 0, 0.01);
    for (let row = 1; row < 50; row++) nudgeInitializer(model, 'word_embeddings', row * 4, 0.01);
    expect((await verifyStep(before, model, 'quantize', { threads: 1 })).pass).toBe(false);
    const lossy = await verifyStep(before, model, 'quantize', { threads: 1, lossy: true });
    expect(lossy.pass).toBe(true);
    expect(lossy.report.minCosine).toBe(0.99);
  });
});

describe('PassVerifier', () => {
  it('with skip semantics, discards the breaking pass and keeps the others', async () => {
    const original = embeddingModel();
    let model = embeddingModel();
    const verifier = new PassVerifier(model, { threads: 1 });
    const discarded: string[] = [];
    // The loop the pipeline runs with --verify=skip.
    for (const pass of [addAsSub, breakWeights]) {
      const result = pass.run(model, context);
      if (!result.changed) continue;
      const verdict = await verifier.check(model, pass.name);
      if (!verdict.pass) {
        discarded.push(verdict.message);
        model = verifier.restore();
      }
    }
    expect(discarded).toHaveLength(1);
    expect(discarded[0]).toMatch(/^pass 'break-weights' breaks parity/);
    expect(ops(model)).toContain('Sub');
    expect(ops(model)).not.toContain('Add');
    const final = await checkParity(original, model, { threads: 1 });
    expect(final).toMatchObject({ pass: true, exact: true });
  });

  it('keeps external data external in its snapshots and in the model it restores', async () => {
    const path = `${dir}/external.onnx`;
    writeModel(embeddingModel(300, 8), path, { externalData: 'always' });
    let model = readModel(path);
    const verifier = new PassVerifier(model, { threads: 1 }, path);
    breakWeights.run(model, context);
    const verdict = await verifier.check(model, breakWeights.name);
    expect(verdict.pass).toBe(false);
    model = verifier.restore();
    const table = model.graph.initializers.find((v) => v.name === 'word_embeddings')!.initializer!;
    expect(table.externalSource?.where.location).toBe('external.onnx_data');
    expect((await checkParity(path, model, { threads: 1 })).exact).toBe(true);
  });
});
