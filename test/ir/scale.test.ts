// Scale: a 200k-node graph goes through clean, fold and fuse (no stack overflow from spreading arrays, no
// whole-graph work per removed node). Speed is measured by `npm run bench -- scale`, not here.
import { describe, expect, it } from 'vitest';
import { cleanPass } from '../../passes/clean.js';
import { foldPass } from '../../passes/fold.js';
import { fusePass } from '../../passes/fuse.js';
import { Graph, Value } from '../../src/ir/graph.js';
import { tensorType } from '../../src/ir/types.js';
import { decodeModel } from '../../src/serde/decode.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DataType } from '../../src/tensor/dtype.js';
import { bigModel } from '../bench/big-graph.js';
import { opCounts, runPass } from '../kit/index.js';

const NODES = 200_000;

describe('a 200k-node graph', () => {
  it('clean removes the dead, duplicate and Identity nodes of every block', () => {
    const { model, blocks } = bigModel(NODES);
    expect(model.graph.nodes.length).toBeGreaterThanOrEqual(NODES);
    const result = runPass(cleanPass, model);
    expect(result.stats).toMatchObject({ identities: blocks, duplicateNodes: blocks, deadNodes: blocks });
  }, 300_000);

  it('fold folds the whole constant chain into one initializer', () => {
    const { model, constantChain } = bigModel(NODES);
    const before = model.graph.nodes.length;
    const result = runPass(foldPass, model);
    expect(result.stats.foldedNodes).toBe(constantChain);
    expect(model.graph.nodes.length).toBe(before - constantChain);
  }, 300_000);

  it('fuse makes one LayerNormalization-family node and one Gelu per block, and the result encodes and decodes', () => {
    const { model, blocks } = bigModel(NODES);
    runPass(fusePass, model);
    const ops = opCounts(model);
    expect((ops['LayerNormalization'] ?? 0) + (ops['com.microsoft::SkipLayerNormalization'] ?? 0)).toBe(blocks);
    expect(ops['com.microsoft::Gelu'] ?? ops['Gelu']).toBe(blocks);
    const decoded = decodeModel(encodeModel(model));
    expect(decoded.graph.nodes.length).toBe(model.graph.nodes.length);
  }, 300_000);
});

describe('node list edits', () => {
  /** A graph of n chained Relu nodes named r0..r(n-1). */
  function chain(n: number): Graph {
    const g = new Graph('chain');
    let v = g.addInput(new Value('x', tensorType(DataType.FLOAT, [1])));
    for (let i = 0; i < n; i++) v = g.createNode({ opType: 'Relu', inputs: [v], name: `r${i}` }).output(0);
    g.outputs.push(v);
    return g;
  }
  const names = (g: Graph) => g.nodes.map((n) => n.name);

  it('keeps the order of nodes inserted before, after and at the end, interleaved with removals', () => {
    const g = chain(3);
    const [r0, r1, r2] = g.nodes;
    const x = g.inputs[0]!;
    const a = g.createNode({ opType: 'Neg', inputs: [x], name: 'a', before: r1 });
    g.createNode({ opType: 'Neg', inputs: [x], name: 'b', before: r1 });
    g.createNode({ opType: 'Neg', inputs: [x], name: 'c', before: a });
    g.createNode({ opType: 'Neg', inputs: [x], name: 'd', after: a });
    g.createNode({ opType: 'Neg', inputs: [x], name: 'e', after: r0! });
    g.createNode({ opType: 'Neg', inputs: [x], name: 'f', after: r0! });
    const end = g.createNode({ opType: 'Neg', inputs: [x], name: 'end' });
    g.createNode({ opType: 'Neg', inputs: [x], name: 'beforeEnd', before: end });
    g.createNode({ opType: 'Neg', inputs: [x], name: 'afterEnd', after: end });
    g.createNode({ opType: 'Neg', inputs: [x], name: 'afterR2', after: r2! });
    g.removeNodes([a]);
    expect(names(g)).toEqual(['r0', 'f', 'e', 'c', 'd', 'b', 'r1', 'r2', 'afterR2', 'beforeEnd', 'end', 'afterEnd']);
  });

  it('drops removed outputs from value_info, and a removed node can be inserted again', () => {
    const g = chain(3);
    const [, r1] = g.nodes;
    const dead = g.createNode({ opType: 'Neg', inputs: [g.inputs[0]!], name: 'dead', after: r1 });
    g.valueInfo.push(dead.output(0), r1!.output(0));
    g.removeNodes([dead]);
    expect(g.valueInfo).toEqual([r1!.output(0)]);
    g.insertNode(dead, { before: r1 });
    expect(names(g)).toEqual(['r0', 'dead', 'r1', 'r2']);
    expect(() => g.removeNodes([dead, dead])).not.toThrow();
    expect(() => g.createNode({ opType: 'Neg', inputs: [], before: dead })).toThrow(/not in graph/);
  });
});
