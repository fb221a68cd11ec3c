import { describe, expect, it } from 'vitest';
import { OnnxOptError } from '../../src/errors.js';
import { Graph, Value } from '../../src/ir/graph.js';
import { DataType } from '../../src/tensor/dtype.js';
import { tensorType } from '../../src/ir/types.js';
import { applyRules, bySize, float, floats, rule, rulePass, type Rule } from '../../src/pattern/index.js';
import { encodeModel } from '../../src/serde/encode.js';
import { buildModel, F, type GraphMaker, maxDifference, opsOf, runOrt } from '../kit/index.js';
import * as ort from 'onnxruntime-node';

/** Neg(Neg(x)) is x. */
const doubleNeg = rule({
  name: 'DoubleNeg',
  pattern: (p) => p.op('Neg', [p.op('Neg', [p.var('x')])]),
  rewrite: (_, m) => m.value('x'),
});

function negChain(length: number) {
  return buildModel((g) => {
    let v = g.input('x');
    for (let i = 1; i <= length; i++) v = g.op('Neg', [v], { name: `n${i}` });
    g.output(g.op('Relu', [v], { name: 'y' }));
  });
}

describe('applyRules', () => {
  it('rewrites to a fixpoint and counts per rule', () => {
    const even = negChain(6);
    expect(applyRules(even, [doubleNeg])).toMatchObject({ counts: { DoubleNeg: 3 }, changed: true, converged: true });
    expect(opsOf(even.graph)).toEqual(['Relu']);
    expect(even.graph.nodes[0]!.inputs[0]).toBe(even.graph.inputs[0]);
    const odd = negChain(5);
    applyRules(odd, [doubleNeg]);
    expect(opsOf(odd.graph)).toEqual(['Neg', 'Relu']);
  });

  it('reports no change when nothing applies', () => {
    expect(applyRules(negChain(1), [doubleNeg])).toMatchObject({
      counts: { DoubleNeg: 0 },
      changed: false,
      iterations: 1,
    });
  });

  it('runs further sweeps for nodes the rewrites created', () => {
    // Relu(Relu(x)) -> one new Relu: a chain of four collapses, the last sweep finding nothing.
    const reluTwice = rule({
      name: 'ReluTwice',
      pattern: (p) => p.op('Relu', [p.op('Relu', [p.var('x')])]),
      rewrite: (b, m) => b.op('', 'Relu', [m.value('x')]),
    });
    const model = buildModel((g) => {
      let v = g.input('x');
      for (let i = 0; i < 4; i++) v = g.op('Relu', [v]);
      g.output(v);
    });
    const result = applyRules(model, [reluTwice]);
    expect(opsOf(model.graph)).toEqual(['Relu']);
    expect(result.counts.ReluTwice).toBe(3);
    expect(result.converged).toBe(true);
  });

  it('stops at the sweep cap when rules never settle', () => {
    const churn = rule({
      name: 'Churn',
      pattern: (p) => p.op('Relu', [p.var('x')]),
      rewrite: (b, m) => b.op('', 'Relu', [m.value('x')]),
    });
    const result = applyRules(negChain(0), [churn], { maxIterations: 5 });
    expect(result).toMatchObject({ converged: false, iterations: 5, counts: { Churn: 5 } });
  });

  it('is deterministic: the same model and rules give the same bytes', () => {
    const run = () => {
      const m = negChain(7);
      applyRules(m, [
        doubleNeg,
        rule({
          name: 'NegToMul',
          pattern: (p) => p.op('Neg', [p.var('x')]),
          rewrite: (b, mm) => b.op('', 'Mul', [mm.value('x'), b.tensor('minus_one', F, [], [-1])]),
        }),
      ]);
      return encodeModel(m);
    };
    expect(run()).toEqual(run());
  });

  it('gives the new output the old name, type and value_info entry', () => {
    const model = buildModel((g) => {
      const n = g.op('Neg', [g.input('x')], { name: 'neg' });
      n.type = tensorType(F, [2, 3]);
      g.graph.valueInfo.push(n);
      g.output(g.op('Relu', [n], { name: 'y' }));
    });
    const toSub = rule({
      name: 'NegToSub',
      pattern: (p) => p.op('Neg', [p.var('x')]),
      rewrite: (b, m) => b.op('', 'Sub', [b.tensor('zero', F, [], [0]), m.value('x')]),
    });
    applyRules(model, [toSub]);
    const sub = model.graph.nodes[0]!;
    expect(sub.opType).toBe('Sub');
    expect(sub.output(0).name).toBe('neg');
    expect(sub.output(0).type).toEqual(tensorType(F, [2, 3]));
    expect(model.graph.valueInfo).toEqual([sub.output(0)]);
    expect(model.graph.nodes[1]!.inputs[0]).toBe(sub.output(0));
  });

  it('keeps matched nodes the rewrite still reads, and removes the rest', () => {
    const model = buildModel((g) =>
      g.output(g.op('Relu', [g.op('Neg', [g.input('x')], { name: 'neg' })], { name: 'y' })),
    );
    const r = rule({
      name: 'ReluOfNeg',
      pattern: (p) => p.op('Relu', [p.op('Neg', [p.var('x')]).as('neg')]),
      rewrite: (b, m) => b.op('', 'Abs', [m.node('neg').output(0)]),
    });
    applyRules(model, [r]);
    expect(opsOf(model.graph)).toEqual(['Neg', 'Abs']);
    expect(model.graph.outputs[0]!.name).toBe('y');
  });

  it('rejects a match whose intermediate is a graph output', () => {
    const model = buildModel((g) => {
      const inner = g.op('Neg', [g.input('x')], { name: 'inner' });
      g.output(g.op('Neg', [inner], { name: 'outer' }));
      g.output(inner);
    });
    const result = applyRules(model, [doubleNeg], { explain: true });
    expect(result.counts.DoubleNeg).toBe(0);
    // 'inner' fails at its own operand, which is no near-miss; 'outer' matches all but the driver's check.
    expect(result.nearMisses.DoubleNeg).toEqual([{ node: 'outer', reason: "intermediate 'inner' is a graph output" }]);
  });

  it('leaves alone values a subgraph returns as they are (use lists do not show that read)', () => {
    const model = buildModel((g) => {
      const twice = g.op('Neg', [g.op('Neg', [g.input('x')])], { name: 'twice' });
      const returnsTwice = (name: string) => {
        const body = new Graph(name, g.graph);
        body.outputs.push(twice);
        return body;
      };
      const node = g.graph.createNode({
        opType: 'If',
        inputs: [g.input('cond', [], DataType.BOOL)],
        outputs: [new Value('y')],
        attributes: [
          { name: 'then_branch', type: 'graph', value: returnsTwice('then') },
          { name: 'else_branch', type: 'graph', value: returnsTwice('else') },
        ],
      });
      g.output(node.output(0));
    });
    const result = applyRules(model, [doubleNeg], { explain: true });
    expect(result.counts.DoubleNeg).toBe(0);
    expect(result.nearMisses.DoubleNeg?.at(-1)).toEqual({
      node: 'twice',
      reason: "'twice' is returned by a subgraph as is",
    });
  });

  it("reports no near-miss where the match fails at the root's own operands", () => {
    const model = buildModel((g) =>
      g.output(g.op('Neg', [g.op('Abs', [g.input('x')], { name: 'abs' })], { name: 'neg' })),
    );
    expect(applyRules(model, [doubleNeg], { explain: true }).nearMisses).toEqual({});
  });

  it('tries rules in order at each node; bySize puts larger patterns first', () => {
    const tag = (name: string, pattern: Rule['pattern']) =>
      rule({ name, pattern, rewrite: (b, m) => b.op('com.test', name, m.root.inputs as Value[]) });
    const small = tag('Small', (p) => p.op('Mul', [p.var('x'), p.var('c')]));
    const big = tag('Big', (p) => p.op('Mul', [p.op('Add', [p.var('a'), p.var('b')]), p.var('c')]));
    const model = () =>
      buildModel((g) =>
        g.output(g.op('Mul', [g.op('Add', [g.input('a'), g.input('b')]), g.input('c')], { name: 'y' })),
      );
    expect(applyRules(model(), [small, big]).counts).toEqual({ Small: 1, Big: 0 });
    expect(bySize([small, big]).map((r) => r.name)).toEqual(['Big', 'Small']);
    expect(applyRules(model(), bySize([small, big])).counts).toEqual({ Big: 1, Small: 0 });
  });

  it('matches patterns with several outputs and replaces each', () => {
    const pair = rule({
      name: 'ReluNeg',
      pattern: (p) => {
        const x = p.var('x');
        return [p.op('Relu', [x]), p.op('Neg', [x])];
      },
      rewrite: (b, m) => b.op('com.test', 'ReluNeg', [m.value('x')], {}, { outputs: 2 }),
    });
    const model = buildModel((g) => {
      const x = g.input('x');
      g.output(g.op('Relu', [x], { name: 'r' }));
      g.output(g.op('Abs', [g.op('Neg', [x], { name: 'n' })], { name: 'a' }));
    });
    expect(applyRules(model, [pair]).counts).toEqual({ ReluNeg: 1 });
    expect(opsOf(model.graph)).toEqual(['com.test::ReluNeg', 'Abs']);
    const fused = model.graph.nodes[0]!;
    expect(fused.outputs.map((v) => v!.name)).toEqual(['r', 'n']);
    expect(model.graph.outputs.map((v) => v.name)).toEqual(['r', 'a']);
    expect(model.graph.nodes[1]!.inputs[0]).toBe(fused.outputs[1]);
  });

  it('refuses a rewrite that returns the wrong number of values', () => {
    const bad = rule({
      name: 'Bad',
      pattern: (p) => p.op('Relu', [p.var('x')]),
      rewrite: (_, m) => [m.value('x'), m.value('x')],
    });
    expect(() => applyRules(negChain(0), [bad])).toThrow(OnnxOptError);
  });

  it('rewrites inside If branches, keeping branch output names, with the same results', async () => {
    const model = buildModel((g) => {
      const cond = g.input('cond', [], DataType.BOOL);
      const x = g.input('x');
      const branch = (name: string, wrap: boolean) => {
        const body = new Graph(name, g.graph);
        const twice = body
          .createNode({ opType: 'Neg', inputs: [body.createNode({ opType: 'Neg', inputs: [x] }).output(0)] })
          .output(0);
        const out = wrap ? body.createNode({ opType: 'Relu', inputs: [twice] }).output(0) : twice;
        out.type = tensorType(F, [2, 3]);
        body.outputs.push(out);
        return body;
      };
      const ifNode = g.graph.createNode({
        opType: 'If',
        inputs: [cond],
        outputs: [new Value('y')],
        attributes: [
          { name: 'then_branch', type: 'graph', value: branch('then', true) },
          { name: 'else_branch', type: 'graph', value: branch('else', false) },
        ],
      });
      g.output(ifNode.output(0));
    });
    const x = new ort.Tensor('float32', Float32Array.from([1, -2, 3, -4, 5, -6]), [2, 3]);
    const feeds = (c: boolean) => ({ cond: new ort.Tensor('bool', Uint8Array.from([c ? 1 : 0]), []), x });
    const before = [await runOrt(model, feeds(true)), await runOrt(model, feeds(false))];
    const elseOutput = model.graph.nodes[0]!.subgraphs()[1]!.outputs[0]!.name;
    expect(applyRules(model, [doubleNeg]).counts).toEqual({ DoubleNeg: 2 });
    const [thenBody, elseBody] = model.graph.nodes[0]!.subgraphs();
    expect(opsOf(thenBody!)).toEqual(['Relu']);
    expect(opsOf(elseBody!)).toEqual(['Identity']); // an outer value cannot take the branch output's name
    expect(elseBody!.outputs[0]!.name).toBe(elseOutput);
    expect(maxDifference(before[0]!, await runOrt(model, feeds(true)))).toBe(0);
    expect(maxDifference(before[1]!, await runOrt(model, feeds(false)))).toBe(0);
  });
});

describe('rulePass', () => {
  it('reports nonzero counts as stats and near-misses as notes when asked to explain', () => {
    const pass = rulePass({ name: 'negs', description: 'cancel double negations', rules: [doubleNeg] });
    const log: string[] = [];
    const model = buildModel((g: GraphMaker) => {
      const x = g.input('x');
      g.output(g.op('Neg', [g.op('Neg', [x])]));
      const kept = g.op('Neg', [x], { name: 'kept' });
      g.output(g.op('Neg', [kept], { name: 'lonely' }));
      g.output(kept);
    });
    const result = pass.run(model, { options: { explain: true }, log: (m) => log.push(m) });
    expect(result).toEqual({
      changed: true,
      stats: { DoubleNeg: 1 },
      notes: ["DoubleNeg at 'lonely': intermediate 'kept' is a graph output"],
    });
    expect(log).toEqual([]);
  });
});

describe('RewriteBuilder', () => {
  it('builds nodes before the root with typed attributes, fresh names and new initializers', () => {
    const model = buildModel((g) => {
      const x = g.input('x');
      g.output(g.op('Relu', [g.op('LeakyRelu', [x], { attrs: { alpha: 0.25 }, name: 'leaky' })], { name: 'y' }));
    });
    const r = rule({
      name: 'Rebuild',
      pattern: (p) => p.op('Relu', [p.op('LeakyRelu', [p.var('x')]).as('leaky')]),
      rewrite: (b, m) => {
        const scaled = b.op('', 'Mul', [m.value('x'), b.tensor('scale', F, [], [2])]);
        const [a] = b.op(
          '',
          'Split',
          [scaled, b.tensor('split', DataType.INT64, [1], [3])],
          { axis: 1 },
          { outputs: 1 },
        );
        const elu = b.op('', 'Elu', [a!], { alpha: float(1) });
        const leaky = b.op(
          '',
          'LeakyRelu',
          [elu],
          { alpha: m.attribute('leaky', 'alpha'), unused: undefined },
          { name: 'again' },
        );
        return b.op('com.test', 'Tag', [leaky], { weights: floats([1, 2]), note: 'kept' });
      },
    });
    applyRules(model, [r]);
    const g = model.graph;
    expect(g.nodes.map((n) => n.name)).toEqual(['Mul', 'Split', 'Elu', 'again', 'Tag']);
    expect(g.initializers.map((v) => v.name)).toEqual(['scale', 'split']);
    const attrOf = (i: number, name: string) => g.nodes[i]!.attributes.get(name);
    expect(attrOf(1, 'axis')).toMatchObject({ type: 'int', value: 1 });
    expect(attrOf(2, 'alpha')).toMatchObject({ type: 'float', value: 1 });
    expect(attrOf(3, 'alpha')).toMatchObject({ name: 'alpha', type: 'float', value: 0.25 });
    expect(g.nodes[3]!.attributes.has('unused')).toBe(false);
    expect(attrOf(4, 'weights')).toMatchObject({ type: 'floats', value: [1, 2] });
    expect(g.nodes[4]!.attrString('note')).toBe('kept');
    expect(g.outputs[0]!.name).toBe('y');
  });

  it('rejects an undefined input, as a misspelt capture name gives', () => {
    const r = rule({
      name: 'Typo',
      pattern: (p) => p.op('Relu', [p.var('x')]),
      rewrite: (b, m) => b.op('', 'Neg', [m.values.typo!]),
    });
    expect(() => applyRules(negChain(0), [r])).toThrow("rule 'Typo': input 0 of the new Neg is undefined");
    const strict = rule({
      name: 'Strict',
      pattern: (p) => p.op('Relu', [p.var('x')]),
      rewrite: (b, m) => b.op('', 'Neg', [m.value('typo')]),
    });
    expect(() => applyRules(negChain(0), [strict])).toThrow("rule 'Strict': the match has no value named 'typo'");
  });
});
