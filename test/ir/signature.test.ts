// computationSignature: equal exactly when two outputs are the same function of their inputs, reading the same
// other values. Fusions share one verification among sites with one signature, so a false "equal" would fuse a
// site nobody verified.
import { describe, expect, it } from 'vitest';
import { Graph, Value } from '../../src/ir/graph.js';
import { computationSignature } from '../../src/ir/signature.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';

const F = DataType.FLOAT;

/** x·table + rotate(x)·scale for each of `layers` inputs, reading one shared table. */
function layers(
  variants: { scale?: number; table?: 'shared' | 'own'; axis?: number; bigConstant?: 'shared' | 'own' }[],
) {
  const graph = new Graph('main');
  const shared = graph.addInput(new Value('table', tensorType(F, [4])));
  const big = graph.addInitializer('big', Tensor.fromArray('', F, [5000], new Float32Array(5000)));
  const sites = variants.map((v, i) => {
    const x = graph.addInput(new Value(`x${i}`, tensorType(F, [2, 4])));
    const table = v.table === 'own' ? graph.addInput(new Value(`table${i}`, tensorType(F, [4]))) : shared;
    const scale = graph.addInitializer(`scale${i}`, Tensor.fromArray('', F, [], [v.scale ?? 2]));
    const plain = graph.createNode({ opType: 'Mul', inputs: [x, table] }).output(0);
    const turned = graph
      .createNode({
        opType: 'Concat',
        inputs: [x, x],
        attributes: [{ name: 'axis', type: 'int', value: v.axis ?? 1 }],
      })
      .output(0);
    const bigValue =
      v.bigConstant === 'own'
        ? graph.addInitializer(`big${i}`, Tensor.fromArray('', F, [5000], new Float32Array(5000)))
        : big;
    const scaled = graph.createNode({ opType: 'Mul', inputs: [turned, scale] }).output(0);
    const out = graph.createNode({ opType: 'Add', inputs: [plain, scaled] }).output(0);
    const withBig = v.bigConstant ? graph.createNode({ opType: 'Add', inputs: [out, bigValue] }).output(0) : out;
    return { x, out: withBig };
  });
  const identities = new Map<Value, number>();
  return sites.map((s) => computationSignature([s.out], new Map([[s.x, 'x']]), identities));
}

describe('computationSignature', () => {
  it('is equal for the same ops, attributes, small constants and shared values, whatever the names', () => {
    const [a, b] = layers([{}, {}]);
    expect(a).toBe(b);
    expect(a).toContain('::Concat(x x)[axis=1]');
  });

  it('differs with a small constant, an attribute, a value read by identity or a large constant', () => {
    expect(new Set(layers([{}, { scale: 3 }])).size).toBe(2);
    expect(new Set(layers([{}, { axis: 0 }])).size).toBe(2);
    expect(new Set(layers([{}, { table: 'own' }])).size).toBe(2);
    expect(new Set(layers([{ bigConstant: 'shared' }, { bigConstant: 'shared' }])).size).toBe(1);
    expect(new Set(layers([{ bigConstant: 'shared' }, { bigConstant: 'own' }])).size).toBe(2);
  });

  it('never matches a computation holding a subgraph', () => {
    const graph = new Graph('main');
    const sites = [0, 1].map((i) => {
      const x = graph.addInput(new Value(`x${i}`, tensorType(DataType.BOOL, [])));
      const branch = new Graph(`branch${i}`, graph);
      const out = graph
        .createNode({
          opType: 'If',
          inputs: [x],
          attributes: [
            { name: 'then_branch', type: 'graph', value: branch },
            { name: 'else_branch', type: 'graph', value: branch },
          ],
        })
        .output(0);
      return { x, out };
    });
    const identities = new Map<Value, number>();
    const [a, b] = sites.map((s) => computationSignature([s.out], new Map([[s.x, 'x']]), identities));
    expect(a).not.toBe(b);
  });
});
