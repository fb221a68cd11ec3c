import { describe, expect, it } from 'vitest';
import type { Node, Value } from '../../src/ir/graph.js';
import { tensorType } from '../../src/ir/types.js';
import {
  hasRank,
  matchAt,
  rule,
  scalarNear,
  type Match,
  type MatchOutcome,
  type PatternBuilder,
  type PatternOutput,
} from '../../src/pattern/index.js';
import { encodeModel } from '../../src/serde/encode.js';
import { buildModel, F, type GraphMaker } from '../kit/index.js';

/** A rule whose rewrite is never called: these tests only match. */
function matcherOf(pattern: (p: PatternBuilder) => PatternOutput, check?: (m: Match) => boolean | string) {
  return rule({
    name: 'test',
    pattern,
    check,
    rewrite: () => {
      throw new Error('not rewriting here');
    },
  });
}

/** Builds a graph, then matches the rule at the node named `at`. */
function tryAt(r: ReturnType<typeof matcherOf>, at: string, fill: (g: GraphMaker) => void): MatchOutcome {
  const model = buildModel(fill);
  const root = model.graph.nodes.find((n) => n.name === at);
  if (!root) throw new Error(`no node '${at}'`);
  return matchAt(r, root);
}

const reasonOf = (o: MatchOutcome) => (o.match ? 'matched' : o.reason);

describe('commutative operands', () => {
  const addOfMul = (commutative: boolean) =>
    matcherOf((p) => p.op('Add', [p.op('Mul', [p.var('x'), p.const('c')]), p.var('y')], { commutative }));
  const graph = (g: GraphMaker) => {
    const x = g.input('x');
    const y = g.input('y');
    const m = g.op('Mul', [x, g.init('two', 2)], { name: 'mul' });
    g.output(g.op('Add', [y, m], { name: 'add' }));
  };

  it('matches either operand order with the flag, and binds the names', () => {
    const o = tryAt(addOfMul(true), 'add', graph);
    expect(o.match?.values.x?.name).toBe('x');
    expect(o.match?.values.y?.name).toBe('y');
    expect(o.match?.values.c?.name).toBe('two');
    expect(o.match?.matchedNodes.map((n) => n.name)).toEqual(['add', 'mul']);
  });

  it('tries only the written order without it, and says where it failed', () => {
    expect(reasonOf(tryAt(addOfMul(false), 'add', graph))).toBe(
      "Add at node 'add': operand 0 ('y') is a graph input, expected the output of Mul",
    );
  });

  it('backtracks into an inner commutative node when a later operand disagrees', () => {
    // Sub(Add(a, b), b) against Sub(Add(p, q), p): only the swapped order of the Add binds b consistently.
    const r = matcherOf((p) => p.op('Sub', [p.op('Add', [p.var('a'), p.var('b')], { commutative: true }), p.var('b')]));
    const o = tryAt(r, 'sub', (g) => {
      const [pv, qv] = [g.input('p'), g.input('q')];
      g.output(g.op('Sub', [g.op('Add', [pv, qv]), pv], { name: 'sub' }));
    });
    expect(o.match?.values.a?.name).toBe('q');
    expect(o.match?.values.b?.name).toBe('p');
  });
});

describe('optional nodes', () => {
  const r = matcherOf((p) => p.op('Mul', [p.optional('Cast', p.var('x')).as('cast'), p.const('c')]));

  it('matches with the node present and captures it', () => {
    const o = tryAt(r, 'mul', (g) => {
      g.output(
        g.op('Mul', [g.op('Cast', [g.input('a')], { attrs: { to: F }, name: 'cast' }), g.init('c', 3)], {
          name: 'mul',
        }),
      );
    });
    expect(o.match?.values.x?.name).toBe('a');
    expect(o.match?.has('cast')).toBe(true);
    expect(o.match?.nodes.cast?.name).toBe('cast');
    expect(o.match?.attr('cast', 'to', 0)).toBe(F);
    expect(o.match?.attr('cast', 'saturate', 1)).toBe(1); // absent: the fallback
  });

  it('matches with the node absent', () => {
    const o = tryAt(r, 'mul', (g) => {
      g.output(g.op('Mul', [g.input('a'), g.init('c', 3)], { name: 'mul' }));
    });
    expect(o.match?.values.x?.name).toBe('a');
    expect(o.match?.has('cast')).toBe(false);
  });

  it('leaves a present node out of the match when its output is also used elsewhere', () => {
    const o = tryAt(r, 'mul', (g) => {
      const cast = g.op('Cast', [g.input('a')], { attrs: { to: F }, name: 'cast' });
      g.output(g.op('Mul', [cast, g.init('c', 3)], { name: 'mul' }));
      g.output(g.op('Relu', [cast], { name: 'other' }));
    });
    expect(o.match?.values.x?.name).toBe('cast');
    expect(o.match?.has('cast')).toBe(false);
  });
});

describe('same-name binding', () => {
  const r = matcherOf((p) => {
    const x = p.var('x');
    return p.op('Sub', [x, p.op('ReduceMean', [x], { attrs: { axes: [-1] } })]);
  });

  it('binds one value to every use of a name', () => {
    const o = tryAt(r, 'sub', (g) => {
      const a = g.input('a');
      g.output(g.op('Sub', [a, g.op('ReduceMean', [a], { attrs: { axes: [-1] } })], { name: 'sub' }));
    });
    expect(o.match?.values.x?.name).toBe('a');
  });

  it('rejects two different values under one name', () => {
    const o = tryAt(r, 'sub', (g) => {
      g.output(
        g.op('Sub', [g.input('a'), g.op('ReduceMean', [g.input('b')], { attrs: { axes: [-1] }, name: 'rm' })], {
          name: 'sub',
        }),
      );
    });
    expect(reasonOf(o)).toBe("ReduceMean at node 'rm': operand 0 ('b') must be the same value as 'x' ('a')");
  });

  it('requires a node pattern used twice to be one node', () => {
    const shared = matcherOf((p) => {
      const diff = p.op('Sub', [p.var('x'), p.var('mean')]);
      return p.op('Div', [diff, p.op('Sqrt', [p.op('Mul', [diff, diff])])]);
    });
    const build = (twoSubs: boolean) => (g: GraphMaker) => {
      const [x, mean] = [g.input('x'), g.input('mean')];
      const d1 = g.op('Sub', [x, mean], { name: 'd1' });
      const d2 = twoSubs ? g.op('Sub', [x, mean], { name: 'd2' }) : d1;
      g.output(g.op('Div', [d1, g.op('Sqrt', [g.op('Mul', [d1, d2], { name: 'sq' })])], { name: 'div' }));
    };
    expect(reasonOf(tryAt(shared, 'div', build(false)))).toBe('matched');
    expect(reasonOf(tryAt(shared, 'div', build(true)))).toBe(
      "Mul at node 'sq': operand 1 ('d2') must be output 0 of node 'd1' matched before",
    );
  });
});

describe('constants', () => {
  const half = matcherOf((p) => p.op('Mul', [p.var('x'), p.const('half', scalarNear(0.5))]));
  const mulBy = (c: (g: GraphMaker) => Value) => (g: GraphMaker) => {
    g.output(g.op('Mul', [g.input('x'), c(g)], { name: 'mul' }));
  };

  it('accepts initializers and Constant nodes that satisfy the predicate', () => {
    expect(
      reasonOf(
        tryAt(
          half,
          'mul',
          mulBy((g) => g.init('h', 0.5000001)),
        ),
      ),
    ).toBe('matched');
    const o = tryAt(
      half,
      'mul',
      mulBy((g) => g.constant('h', 0.5)),
    );
    expect(o.match?.scalar('half')).toBe(0.5);
    expect(o.match?.matchedNodes.map((n) => n.opType)).toEqual(['Mul']); // the Constant node is an operand, not part of the match
  });

  it("gives the predicate's reason, or says the operand is not constant", () => {
    expect(
      reasonOf(
        tryAt(
          half,
          'mul',
          mulBy((g) => g.init('h', 0.7)),
        ),
      ),
    ).toBe("Mul at node 'mul': operand 1 ('h') constant is 0.7, expected 0.5");
    expect(
      reasonOf(
        tryAt(
          half,
          'mul',
          mulBy((g) => g.init('h', [0.5, 0.5])),
        ),
      ),
    ).toBe("Mul at node 'mul': operand 1 ('h') constant is a tensor [2], expected the scalar 0.5");
    expect(
      reasonOf(
        tryAt(
          half,
          'mul',
          mulBy((g) => g.input('h')),
        ),
      ),
    ).toBe("Mul at node 'mul': operand 1 ('h') is not a constant (for 'half')");
  });

  it('takes inline predicates; a bad question about the data is a reason, not a crash', () => {
    const small = matcherOf((p) => p.op('Add', [p.var('x'), p.const('eps', (c) => c.value() < 1e-3)]));
    const addEps = (eps: number | number[]) => (g: GraphMaker) => {
      g.output(g.op('Add', [g.input('x'), g.init('eps', eps)], { name: 'add' }));
    };
    expect(reasonOf(tryAt(small, 'add', addEps(1e-5)))).toBe('matched');
    expect(reasonOf(tryAt(small, 'add', addEps(0.1)))).toBe("Add at node 'add': operand 1 ('eps') fails the predicate");
    expect(reasonOf(tryAt(small, 'add', addEps([1, 2])))).toBe(
      "Add at node 'add': operand 1 ('eps') constant 'eps' is not a scalar (dims [2])",
    );
  });
});

describe('op types, domains, attributes, shapes', () => {
  it('accepts alternative op types', () => {
    const r = matcherOf((p) => p.op('Erf', [p.op(['Div', 'Mul'], [p.var('x'), p.const('s')]).as('scale')]));
    for (const op of ['Div', 'Mul']) {
      const o = tryAt(r, 'erf', (g) => {
        g.output(g.op('Erf', [g.op(op, [g.input('x'), g.init('s', 1.4)])], { name: 'erf' }));
      });
      expect(o.match?.nodes.scale?.opType).toBe(op);
    }
    const o = tryAt(r, 'erf', (g) => {
      g.output(g.op('Erf', [g.op('Add', [g.input('x'), g.init('s', 1.4)], { name: 'a' })], { name: 'erf' }));
    });
    expect(reasonOf(o)).toBe("Erf at node 'erf': operand 0 ('a') is produced by Add 'a', expected Div|Mul");
  });

  it('tells domains apart', () => {
    const r = matcherOf((p) => p.op('Relu', [p.op({ domain: 'com.microsoft', type: 'Gelu' }, [p.var('x')])]));
    const build = (domain: string) => (g: GraphMaker) => {
      g.output(g.op('Relu', [g.op('Gelu', [g.input('x')], { domain, name: 'gelu' })], { name: 'relu' }));
    };
    expect(reasonOf(tryAt(r, 'relu', build('com.microsoft')))).toBe('matched');
    expect(reasonOf(tryAt(r, 'relu', build('')))).toBe(
      "Relu at node 'relu': operand 0 ('gelu') is produced by Gelu 'gelu', expected com.microsoft::Gelu",
    );
  });

  it('checks attributes by value or by predicate', () => {
    const r = matcherOf((p) =>
      p.op('Softmax', [p.op('Transpose', [p.var('x')], { attrs: { perm: [0, 2, 1] } })], {
        attrs: { axis: (a) => (a ?? -1) === -1 || `axis ${a}` },
      }),
    );
    const build = (perm: number[], axis?: number) => (g: GraphMaker) => {
      const t = g.op('Transpose', [g.input('x', [1, 2, 3])], { attrs: { perm }, name: 't' });
      g.output(g.op('Softmax', [t], { attrs: axis === undefined ? {} : { axis }, name: 'sm' }), [1, 3, 2]);
    };
    expect(reasonOf(tryAt(r, 'sm', build([0, 2, 1])))).toBe('matched');
    expect(reasonOf(tryAt(r, 'sm', build([0, 2, 1], -1)))).toBe('matched');
    expect(reasonOf(tryAt(r, 'sm', build([0, 2, 1], 1)))).toBe("Softmax at node 'sm': attribute axis: axis 1");
    expect(reasonOf(tryAt(r, 'sm', build([1, 0, 2])))).toBe(
      "Transpose at node 't': attribute perm is [1,0,2], expected [0,2,1]",
    );
  });

  it('checks value predicates such as rank', () => {
    const r = matcherOf((p) => p.op('Relu', [p.var('x', hasRank(3))]));
    expect(
      reasonOf(tryAt(r, 'relu', (g) => g.output(g.op('Relu', [g.input('x', [1, 2, 3])], { name: 'relu' }), [1, 2, 3]))),
    ).toBe('matched');
    expect(reasonOf(tryAt(r, 'relu', (g) => g.output(g.op('Relu', [g.input('x', [2, 3])], { name: 'relu' }))))).toBe(
      "Relu at node 'relu': operand 0 ('x') does not fit 'x': 'x' has rank 2, expected 3",
    );
  });

  it('requires the listed operand count unless more inputs are allowed', () => {
    const exact = matcherOf((p) => p.op('ReduceMean', [p.var('x')]));
    const loose = matcherOf((p) => p.op('ReduceMean', [p.var('x')], { moreInputs: true }));
    const build = (g: GraphMaker) => {
      g.output(g.op('ReduceMean', [g.input('x'), g.ints('axes', [-1])], { name: 'rm' }), [2, 1]);
    };
    expect(reasonOf(tryAt(exact, 'rm', build))).toBe(
      "ReduceMean at node 'rm': has 2 inputs, ReduceMean pattern expects 1",
    );
    expect(reasonOf(tryAt(loose, 'rm', build))).toBe('matched');
  });

  it('runs the rule check on a complete match and reports its reason', () => {
    const r = matcherOf(
      (p) => p.op('Relu', [p.var('x')]),
      (m) => m.values.x!.name === 'wanted' || `x is '${m.values.x!.name}'`,
    );
    expect(reasonOf(tryAt(r, 'relu', (g) => g.output(g.op('Relu', [g.input('other')], { name: 'relu' }))))).toBe(
      "x is 'other'",
    );
  });
});

describe('matching', () => {
  it('never changes the graph, whether it matches or not', () => {
    const model = buildModel((g) => {
      const x = g.input('x');
      const cast = g.op('Cast', [x], { attrs: { to: F }, name: 'cast' });
      g.output(g.op('Add', [g.op('Mul', [cast, g.init('c', 2)]), x], { name: 'add' }));
    });
    const before = encodeModel(model);
    const uses = model.graph.nodes.map((n: Node) => n.outputs.map((v) => v?.uses.length));
    const patterns = [
      matcherOf((p) =>
        p.op('Add', [p.op('Mul', [p.optional('Cast', p.var('x')), p.const()]), p.var('x')], { commutative: true }),
      ),
      matcherOf((p) =>
        p.op('Add', [p.op('Mul', [p.var('a'), p.const(scalarNear(3))]), p.var('b')], { commutative: true }),
      ),
    ];
    const root = model.graph.nodes.find((n) => n.name === 'add')!;
    expect(patterns.map((r) => reasonOf(matchAt(r, root)))).toEqual([
      'matched',
      "Mul at node 'Mul': operand 1 ('c') constant is 2, expected 3",
    ]);
    expect(encodeModel(model)).toEqual(before);
    expect(model.graph.nodes.map((n: Node) => n.outputs.map((v) => v?.uses.length))).toEqual(uses);
  });

  it('reads shapes through value types', () => {
    const r = matcherOf((p) => p.op('Relu', [p.var('x', (v) => v.type?.kind === 'tensor' || 'untyped')]));
    const o = tryAt(r, 'relu', (g) => {
      const x = g.input('x');
      x.type = tensorType(F, ['batch', 3]);
      g.output(g.op('Relu', [x], { name: 'relu' }));
    });
    expect(reasonOf(o)).toBe('matched');
  });
});

describe('rule construction', () => {
  it('refuses patterns that cannot be matched or read', () => {
    const rewrite = () => {
      throw new Error('unused');
    };
    expect(() => rule({ name: 'Leaf', pattern: (p) => p.var('x') as never, rewrite })).toThrow(
      "rule 'Leaf': a pattern output must be a node pattern or one of its outputs",
    );
    expect(() => rule({ name: 'Clash', pattern: (p) => p.op('Relu', [p.var('x')]).as('x'), rewrite })).toThrow(
      "rule 'Clash': pattern uses 'x' both for a value and for a node",
    );
    expect(() => rule({ name: 'NoOps', pattern: (p) => p.op([], []), rewrite })).toThrow(
      'a node pattern needs at least one op type',
    );
  });
});

describe('products in any grouping', () => {
  const product = matcherOf((p) =>
    p.product([p.const('half', scalarNear(0.5)), p.var('x'), p.var('y'), p.op('Tanh', [p.var('x')])]),
  );
  /** 0.5 · x · y · tanh(x), multiplied as the grouping says. */
  const graph = (grouping: (g: GraphMaker, f: [Value, Value, Value, Value]) => Value) => (g: GraphMaker) => {
    const x = g.input('x');
    const f: [Value, Value, Value, Value] = [g.init('half', 0.5), x, g.input('y'), g.op('Tanh', [x])];
    g.output(grouping(g, f));
  };
  const mul = (g: GraphMaker, a: Value, b: Value, name?: string) => g.op('Mul', [a, b], name ? { name } : {});

  it.each([
    ['((0.5·x)·y)·tanh', (g: GraphMaker, [h, x, y, t]: Value[]) => mul(g, mul(g, mul(g, h!, x!), y!), t!, 'root')],
    ['(tanh·y)·(x·0.5)', (g: GraphMaker, [h, x, y, t]: Value[]) => mul(g, mul(g, t!, y!), mul(g, x!, h!), 'root')],
    ['y·(x·(tanh·0.5))', (g: GraphMaker, [h, x, y, t]: Value[]) => mul(g, y!, mul(g, x!, mul(g, t!, h!)), 'root')],
  ])('matches %s, every Mul part of the match', (_, grouping) => {
    const o = tryAt(
      product,
      'root',
      graph((g, f) => grouping(g, f)),
    );
    expect(reasonOf(o)).toBe('matched');
    expect(o.match!.values.x?.name).toBe('x');
    expect(o.match!.values.y?.name).toBe('y');
    expect(o.match!.matchedNodes.filter((n) => n.opType === 'Mul')).toHaveLength(3);
  });

  it('refuses a product with a factor missing or another in its place, and says where', () => {
    const three = tryAt(
      product,
      'root',
      graph((g, [h, x, , t]) => mul(g, mul(g, h, x), t, 'root')),
    );
    expect(reasonOf(three)).not.toBe('matched');
    const other = tryAt(
      product,
      'root',
      graph((g, [h, x, y]) => mul(g, mul(g, mul(g, h, x), y), g.op('Sigmoid', [x]), 'root')),
    );
    expect(reasonOf(other)).toMatch(/expected Tanh|expected Mul/);
  });
});
