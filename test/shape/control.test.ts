import { describe, expect, test } from 'vitest';
import { attr } from '../../src/ir/attribute.js';
import { Graph, Value } from '../../src/ir/graph.js';
import { tensorType } from '../../src/ir/types.js';
import { inferShapes } from '../../src/shape/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { modelMaker } from '../kit/index.js';
import { dims, elemType } from './build.js';

/** A subgraph whose body `fill` builds from its inputs; returns the graph. */
function body(parent: Graph, name: string, inputs: Value[], fill: (g: Graph, ins: Value[]) => Value[]): Graph {
  const g = new Graph(name, parent);
  for (const v of inputs) g.addInput(v);
  g.outputs.push(...fill(g, inputs));
  return g;
}

const op = (g: Graph, opType: string, inputs: Value[], attrs: ReturnType<typeof attr>[] = []) =>
  g.createNode({ opType, inputs, attributes: attrs }).output();

describe('control flow', () => {
  test('If: branches are inferred; the output keeps what both agree on', () => {
    const b = modelMaker();
    const x = b.input('x', ['batch', 8]);
    const cond = b.input('cond', [], DataType.BOOL);
    let inner: Value | undefined;
    const thenBranch = body(b.graph, 'then', [], (g) => {
      inner = op(g, 'Relu', [x]);
      return [op(g, 'Neg', [inner]), op(g, 'Abs', [x])];
    });
    const elseBranch = body(b.graph, 'else', [], (g) => [op(g, 'Sigmoid', [x]), op(g, 'Slice', [x, b.ints('s', [0]), b.ints('e', [4]), b.ints('a', [1])])]);
    const [same, differs] = b.graph.createNode({
      opType: 'If', inputs: [cond], outputs: 2, attributes: [attr('then_branch', thenBranch), attr('else_branch', elseBranch)],
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
      const next = op(g, 'Add', [v!, step]);
      return [op(g, 'Identity', [c!]), next, op(g, 'Mul', [next, step])];
    });
    const [final, stacked] = b.graph.createNode({
      opType: 'Loop', inputs: [b.ints('trips', [3], []), null, start], outputs: 2, attributes: [attr('body', loopBody)],
    }).outputs as Value[];
    inferShapes(b.model);
    expect(dims(final!)).toEqual([2]);
    expect(dims(stacked!)).toEqual([3, 2]);
    expect(elemType(loopBody.outputs[0]!)).toBe(DataType.BOOL);
  });

  test('Scan: slices along the scan axis, outputs stacked along it', () => {
    const b = modelMaker(11);
    const scanBody = body(b.graph, 'body', [new Value('sum_in'), new Value('row')], (g, [sum, row]) => {
      const next = op(g, 'Add', [sum!, row!]);
      return [next, op(g, 'Identity', [next])];
    });
    const [total, partials] = b.graph.createNode({
      opType: 'Scan', inputs: [b.input('init', [2]), b.input('xs', ['steps', 2])], outputs: 2,
      attributes: [attr('body', scanBody), attr('num_scan_inputs', 1)],
    }).outputs as Value[];
    inferShapes(b.model);
    expect(dims(total!)).toEqual([2]);
    expect(dims(partials!)).toEqual(['steps', 2]);
  });

  test('bodies of ops without a rule are still inferred, with their declared inputs', () => {
    const b = modelMaker();
    const inside = body(b.graph, 'fn', [new Value('a', tensorType(DataType.FLOAT, ['n', 3]))], (g, [a]) => [op(g, 'Relu', [a!])]);
    b.graph.createNode({ opType: 'Mystery', domain: 'x', inputs: [], attributes: [attr('body', inside)] });
    inferShapes(b.model);
    expect(dims(inside.outputs[0]!)).toEqual(['n', 3]);
  });
});
