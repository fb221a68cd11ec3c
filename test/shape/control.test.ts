import { describe, expect, test } from 'vitest';
import { attr } from '../../src/ir/attribute.js';
import { Graph, Value } from '../../src/ir/graph.js';
import { tensorType } from '../../src/ir/types.js';
import { inferShapes } from '../../src/shape/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { GraphMaker, modelMaker } from '../kit/index.js';
import { dims, elemType } from './build.js';

/** A subgraph whose body `fill` builds from its inputs; returns the graph. */
function body(parent: Graph, name: string, inputs: Value[], fill: (g: GraphMaker, ins: Value[]) => Value[]): Graph {
  const g = new Graph(name, parent);
  for (const v of inputs) g.addInput(v);
  g.outputs.push(...fill(new GraphMaker(g), inputs));
  return g;
}

describe('control flow', () => {
  test('If: branches are inferred; the output keeps what both agree on', () => {
    const b = modelMaker();
    const x = b.input('x', ['batch', 8]);
    const cond = b.input('cond', [], DataType.BOOL);
    let inner: Value | undefined;
    const thenBranch = body(b.graph, 'then', [], (g) => {
      inner = g.op('Relu', [x]);
      return [g.op('Neg', [inner]), g.op('Abs', [x])];
    });
    const elseBranch = body(b.graph, 'else', [], (g) => [
      g.op('Sigmoid', [x]),
      g.op('Slice', [x, b.ints('s', [0]), b.ints('e', [4]), b.ints('a', [1])]),
    ]);
    const [same, differs] = b.graph.createNode({
      opType: 'If',
      inputs: [cond],
      outputs: 2,
      attributes: [attr('then_branch', thenBranch), attr('else_branch', elseBranch)],
    }).outputs as Value[];
    inferShapes(b.model);
    expect(dims(same!)).toEqual(['batch', 8]);
    expect(dims(differs!)).toEqual(['batch', undefined]);
    expect(thenBranch.valueInfo).toEqual([inner]);
    expect(b.graph.valueInfo).not.toContain(inner);
  });

  test('Loop: carried state and stacked scan outputs with a constant trip count', () => {
    const b = modelMaker();
    const start = b.input('start', [2]);
    const step = b.zeros('step', [2]);
    const loopBody = body(b.graph, 'body', [new Value('i'), new Value('c'), new Value('v')], (g, [, c, v]) => {
      const next = g.op('Add', [v!, step]);
      return [g.op('Identity', [c!]), next, g.op('Mul', [next, step])];
    });
    const [final, stacked] = b.graph.createNode({
      opType: 'Loop',
      inputs: [b.ints('trips', [3], []), null, start],
      outputs: 2,
      attributes: [attr('body', loopBody)],
    }).outputs as Value[];
    inferShapes(b.model);
    expect(dims(final!)).toEqual([2]);
    expect(dims(stacked!)).toEqual([3, 2]);
    expect(elemType(loopBody.outputs[0]!)).toBe(DataType.BOOL);
  });

  test('Scan: slices along the scan axis, outputs stacked along it', () => {
    const b = modelMaker(11);
    const scanBody = body(b.graph, 'body', [new Value('sum_in'), new Value('row')], (g, [sum, row]) => {
      const next = g.op('Add', [sum!, row!]);
      return [next, g.op('Identity', [next])];
    });
    const [total, partials] = b.graph.createNode({
      opType: 'Scan',
      inputs: [b.input('init', [2]), b.input('xs', ['steps', 2])],
      outputs: 2,
      attributes: [attr('body', scanBody), attr('num_scan_inputs', 1)],
    }).outputs as Value[];
    inferShapes(b.model);
    expect(dims(total!)).toEqual([2]);
    expect(dims(partials!)).toEqual(['steps', 2]);
  });

  test('bodies of ops without a rule are still inferred, with their declared inputs', () => {
    const b = modelMaker();
    const inside = body(b.graph, 'fn', [new Value('a', tensorType(DataType.FLOAT, ['n', 3]))], (g, [a]) => [
      g.op('Relu', [a!]),
    ]);
    b.graph.createNode({ opType: 'Mystery', domain: 'x', inputs: [], attributes: [attr('body', inside)] });
    inferShapes(b.model);
    expect(dims(inside.outputs[0]!)).toEqual(['n', 3]);
  });
});
