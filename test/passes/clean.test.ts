import { readdirSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cleanPass } from '../../passes/clean.js';
import { Graph, Value } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { tensorType } from '../../src/ir/types.js';
import { encodeModel } from '../../src/serde/encode.js';
import { readModel } from '../../src/io/read.js';
import { inferShapes } from '../../src/shape/index.js';
import { DataType } from '../../src/tensor/dtype.js';
import { buildModel, F, type GraphMaker, maxDifference, opsOf, randomFeeds, runOrt } from '../kit/index.js';

const clean = (model: Model) => cleanPass.run(model, { options: {}, log: () => {} });

/** A branch or body graph under `parent` with the given inputs, filled by the callback, returning its outputs. */
function subgraph(parent: Graph, name: string, inputs: Value[], fill: (g: Graph) => Value[]): Graph {
  const body = new Graph(name, parent);
  inputs.forEach((v) => body.addInput(v));
  body.outputs.push(...fill(body));
  return body;
}

describe('clean: removal', () => {
  it('removes dead nodes, consumers first, but keeps custom-domain nodes', () => {
    const model = buildModel((g) => {
      const x = g.input('x');
      g.op('Relu', [g.op('Neg', [x])]); // a dead chain
      g.op('Mystery', [x], { domain: 'com.example' }); // unknown op: may have side effects
      g.output(g.op('Abs', [x], { name: 'y' }));
    });
    expect(clean(model).stats).toEqual({ deadNodes: 2 });
    expect(opsOf(model.graph)).toEqual(['com.example::Mystery', 'Abs']);
  });

  it('removes unused initializers but keeps one that is also a graph input', () => {
    const model = buildModel((g) => {
      const x = g.input('x');
      g.init('unused', [1, 2, 3]);
      const w = g.init('w', 2);
      g.graph.addInput(w); // an input with a default value
      g.output(g.op('Mul', [x, g.init('used', 3)], { name: 'y' }));
    });
    expect(clean(model).stats).toEqual({ unusedInitializers: 1 });
    expect(model.graph.initializers.map((v) => v.name)).toEqual(['w', 'used']);
  });

  it('removes dead nodes inside subgraphs, and outer values only they read', () => {
    const model = buildModel((g) => {
      const cond = g.input('cond', [], DataType.BOOL);
      const x = g.input('x');
      const onlyInBranch = g.init('only_in_branch', 5);
      const branch = (name: string) =>
        subgraph(g.graph, name, [], (b) => {
          b.createNode({ opType: 'Mul', inputs: [x, onlyInBranch] }); // dead inside the branch
          return [b.createNode({ opType: 'Relu', inputs: [x] }).output(0)];
        });
      const node = g.graph.createNode({
        opType: 'If',
        inputs: [cond],
        outputs: [new Value('y')],
        attributes: [
          { name: 'then_branch', type: 'graph', value: branch('then') },
          { name: 'else_branch', type: 'graph', value: branch('else') },
        ],
      });
      g.output(node.output(0));
    });
    expect(clean(model).stats).toEqual({ deadNodes: 2, unusedInitializers: 1 });
    expect(model.graph.nodes[0]!.subgraphs().map(opsOf)).toEqual([['Relu'], ['Relu']]);
  });

  it('removes a dead If with its branches, releasing the outer values they read', () => {
    const model = buildModel((g) => {
      const x = g.input('x');
      const w = g.init('w', 5);
      const body = () => subgraph(g.graph, 'b', [], (b) => [b.createNode({ opType: 'Mul', inputs: [x, w] }).output(0)]);
      g.graph.createNode({
        opType: 'If',
        inputs: [g.input('cond', [], DataType.BOOL)],
        attributes: [
          { name: 'then_branch', type: 'graph', value: body() },
          { name: 'else_branch', type: 'graph', value: body() },
        ],
      });
      g.output(g.op('Abs', [x]));
    });
    expect(clean(model).stats).toEqual({ deadNodes: 1, unusedInitializers: 1 });
    expect(opsOf(model.graph)).toEqual(['Abs']);
  });

  it('keeps Loop body inputs even when unused, and cleans the body otherwise', () => {
    const model = buildModel((g) => {
      const x = g.input('x');
      const [iter, cond, carried] = [
        new Value('i', tensorType(DataType.INT64, [])),
        new Value('c', tensorType(DataType.BOOL, [])),
        new Value('acc'),
      ];
      const body = subgraph(g.graph, 'body', [iter, cond, carried], (b) => {
        b.addInitializer('unused_in_body', g.graph.initializers[0]?.initializer ?? g.init('tmp', 1).initializer!);
        b.createNode({ opType: 'Neg', inputs: [carried] }); // dead
        return [cond, b.createNode({ opType: 'Add', inputs: [carried, x] }).output(0)];
      });
      const loop = g.graph.createNode({
        opType: 'Loop',
        inputs: [g.ints('n', [3]), null, x],
        attributes: [{ name: 'body', type: 'graph', value: body }],
      });
      g.output(loop.output(0));
    });
    const body = model.graph.nodes[0]!.subgraphs()[0]!;
    const stats = clean(model).stats;
    expect(stats.deadNodes).toBe(1);
    expect(body.inputs.map((v) => v.name)).toEqual(['i', 'c', 'acc']);
    expect(body.initializers).toEqual([]);
    expect(opsOf(body)).toEqual(['Add']);
  });

  it('keeps a node whose output a branch returns directly (no use list records that read)', () => {
    const model = buildModel((g) => {
      const x = g.input('x');
      const negX = g.op('Neg', [x], { name: 'neg_x' });
      const identity = g.op('Identity', [negX], { name: 'alias' });
      const returnsOuter = () => subgraph(g.graph, 'b', [], () => [identity]);
      const node = g.graph.createNode({
        opType: 'If',
        inputs: [g.input('cond', [], DataType.BOOL)],
        outputs: [new Value('y')],
        attributes: [
          { name: 'then_branch', type: 'graph', value: returnsOuter() },
          { name: 'else_branch', type: 'graph', value: returnsOuter() },
        ],
      });
      g.output(node.output(0));
    });
    expect(clean(model).changed).toBe(false);
    expect(opsOf(model.graph)).toEqual(['Neg', 'Identity', 'If']);
  });

  it('removes stale and repeated value_info entries', () => {
    const model = buildModel((g) => {
      const r = g.op('Relu', [g.input('x')]);
      g.graph.valueInfo.push(r, r, new Value('gone', tensorType(F, [1])));
      g.output(g.op('Abs', [r]));
    });
    expect(clean(model).stats).toEqual({ staleValueInfo: 2 });
    expect(model.graph.valueInfo.map((v) => v.name)).toEqual([model.graph.nodes[0]!.output(0).name]);
  });
});

describe('clean: Identity and no-ops', () => {
  it('forwards an Identity to its input', () => {
    const model = buildModel((g) =>
      g.output(g.op('Abs', [g.op('Identity', [g.op('Relu', [g.input('x')])])], { name: 'y' })),
    );
    expect(clean(model).stats).toEqual({ identities: 1 });
    expect(opsOf(model.graph)).toEqual(['Relu', 'Abs']);
  });

  it('keeps the graph output name: the input takes it over, with the declared type', () => {
    const model = buildModel((g) => {
      const r = g.op('Relu', [g.input('x')], { name: 'r' });
      g.graph.valueInfo.push(r);
      g.output(g.op('Identity', [r], { name: 'y' }), [2, 3]);
    });
    expect(clean(model).stats).toEqual({ identities: 1 });
    expect(opsOf(model.graph)).toEqual(['Relu']);
    expect(model.graph.outputs.map((v) => [v.name, v.type])).toEqual([['y', tensorType(F, [2, 3])]]);
    expect(model.graph.nodes[0]!.output(0)).toBe(model.graph.outputs[0]);
    expect(model.graph.valueInfo).toEqual([]);
  });

  it('keeps an Identity between a graph input (or another output, or an outer value) and a graph output', () => {
    const model = buildModel((g) => {
      const x = g.input('x');
      const r = g.output(g.op('Relu', [x], { name: 'r' }));
      g.output(g.op('Identity', [x], { name: 'y1' }));
      g.output(g.op('Identity', [r], { name: 'y2' }));
      g.output(g.op('Identity', [g.init('w', 1)], { name: 'y3' }), []);
    });
    expect(clean(model).changed).toBe(false);
    expect(opsOf(model.graph)).toEqual(['Relu', 'Identity', 'Identity', 'Identity']);
  });

  it('inside a branch, forwards an Identity of a branch value but keeps one of an outer value', () => {
    const model = buildModel((g) => {
      const x = g.input('x');
      const branch = (name: string, ofOuter: boolean) =>
        subgraph(g.graph, name, [], (b) => {
          const source = ofOuter ? x : b.createNode({ opType: 'Relu', inputs: [x] }).output(0);
          const out = b
            .createNode({ opType: 'Identity', inputs: [source], outputs: [new Value(`${name}_out`)] })
            .output(0);
          return [out];
        });
      const node = g.graph.createNode({
        opType: 'If',
        inputs: [g.input('cond', [], DataType.BOOL)],
        outputs: [new Value('y')],
        attributes: [
          { name: 'then_branch', type: 'graph', value: branch('then', false) },
          { name: 'else_branch', type: 'graph', value: branch('else', true) },
        ],
      });
      g.output(node.output(0));
    });
    expect(clean(model).stats).toEqual({ identities: 1 });
    const [thenBody, elseBody] = model.graph.nodes[0]!.subgraphs();
    expect(opsOf(thenBody!)).toEqual(['Relu']);
    expect(thenBody!.outputs.map((v) => v.name)).toEqual(['then_out']);
    expect(opsOf(elseBody!)).toEqual(['Identity']);
  });

  const noOp = (build: (g: GraphMaker, x: Value) => Value, xShape: number[] = [2, 3]) =>
    buildModel((g) => {
      const out = build(g, g.input('x', xShape));
      g.output(g.op('Abs', [out], { name: 'y' }), staticOrUnknown(out));
    });
  const staticOrUnknown = (v: Value) =>
    (v.type?.kind === 'tensor' && v.type.shape ? v.type.shape.map((d) => d.value ?? '?') : ['?', '?']) as (
      number | string
    )[];
  const typed = (v: Value, shape: number[], elem: number = F) => ((v.type = tensorType(elem, shape)), v);

  it.each([
    [
      'Reshape to the same shape (0 and -1 resolved)',
      (g: GraphMaker, x: Value) => g.op('Reshape', [x, g.ints('s', [0, -1])]),
    ],
    [
      'Reshape whose output type says the same shape',
      (g: GraphMaker, x: Value) => typed(g.op('Reshape', [x, g.input('dyn', [2], DataType.INT64)]), [2, 3]),
    ],
    ['Cast to the same type', (g: GraphMaker, x: Value) => g.op('Cast', [x], { attrs: { to: F } })],
    [
      'Transpose with the identity perm',
      (g: GraphMaker, x: Value) => g.op('Transpose', [x], { attrs: { perm: [0, 1] } }),
    ],
    ['Dropout without training mode', (g: GraphMaker, x: Value) => g.op('Dropout', [x])],
    [
      'Dropout with training mode constant false',
      (g: GraphMaker, x: Value) => g.op('Dropout', [x, g.init('ratio', 0.5), g.init('t', [0], [], DataType.BOOL)]),
    ],
    ['Expand to a shape it already has', (g: GraphMaker, x: Value) => g.op('Expand', [x, g.ints('s', [1, 3])])],
    [
      'Squeeze of Unsqueeze on the same axes',
      (g: GraphMaker, x: Value) => g.op('Squeeze', [g.op('Unsqueeze', [x, g.ints('a', [0])]), g.ints('b', [0])]),
    ],
    [
      'Slice of everything',
      (g: GraphMaker, x: Value) => g.op('Slice', [x, g.ints('st', [0, 0]), g.ints('en', [2, 2 ** 31 - 1])]),
    ],
  ])('forwards %s', (_, build) => {
    const model = noOp(build);
    const stats = clean(model).stats;
    expect(stats.noOps).toBe(1);
    expect(opsOf(model.graph)).toEqual(['Abs']);
    expect(model.graph.nodes[0]!.inputs[0]).toBe(model.graph.inputs[0]);
  });

  it.each([
    ['Reshape to another shape', (g: GraphMaker, x: Value) => g.op('Reshape', [x, g.ints('s', [3, 2])])],
    ['Cast to another type', (g: GraphMaker, x: Value) => g.op('Cast', [x], { attrs: { to: DataType.DOUBLE } })],
    [
      'Cast of a value of unknown type',
      (g: GraphMaker, x: Value) => g.op('Cast', [((x.type = undefined), x)], { attrs: { to: F } }),
    ],
    ['Transpose that permutes', (g: GraphMaker, x: Value) => g.op('Transpose', [x], { attrs: { perm: [1, 0] } })],
    [
      'Dropout in training mode',
      (g: GraphMaker, x: Value) => g.op('Dropout', [x, g.init('ratio', 0.5), g.init('t', [1], [], DataType.BOOL)]),
    ],
    ['Expand that broadcasts', (g: GraphMaker, x: Value) => g.op('Expand', [x, g.ints('s', [2, 2, 3])])],
    [
      'Squeeze of Unsqueeze on other axes',
      (g: GraphMaker, x: Value) => g.op('Squeeze', [g.op('Unsqueeze', [x, g.ints('a', [0])]), g.ints('b', [1])]),
    ],
    ['Slice of a part', (g: GraphMaker, x: Value) => g.op('Slice', [x, g.ints('st', [0]), g.ints('en', [1])])],
  ])('keeps %s', (_, build) => {
    const model = noOp(build);
    const before = opsOf(model.graph);
    expect(clean(model).stats.noOps).toBeUndefined();
    expect(opsOf(model.graph)).toEqual(before);
  });

  it('keeps a Dropout whose mask is used', () => {
    const model = buildModel((g) => {
      const d = g.node('Dropout', [g.input('x')], { outputs: 2, name: 'd' });
      g.output(g.op('Abs', [d.output(0)]));
      g.output(d.output(1), [2, 3], DataType.BOOL);
    });
    expect(clean(model).changed).toBe(false);
  });
});

describe('clean: duplicates and order', () => {
  it('merges duplicate nodes, whole chains at once, keeping the first', () => {
    const model = buildModel((g) => {
      const x = g.input('x');
      const a1 = g.op('Relu', [g.op('Add', [x, x], { name: 'add1' })]);
      const a2 = g.op('Relu', [g.op('Add', [x, x], { name: 'add2' })]);
      g.output(g.op('Mul', [a1, a2], { name: 'y' }));
    });
    expect(clean(model).stats).toEqual({ duplicateNodes: 2 });
    expect(opsOf(model.graph)).toEqual(['Add', 'Relu', 'Mul']);
    expect(model.graph.nodes[0]!.name).toBe('add1');
  });

  it('compares attributes and constant tensors exactly', () => {
    const model = buildModel((g) => {
      const x = g.input('x');
      const outs = [
        g.op('LeakyRelu', [x], { attrs: { alpha: 0.1 } }),
        g.op('LeakyRelu', [x], { attrs: { alpha: 0.2 } }),
        g.op('Mul', [x, g.constant('c1', [1, 2, 3])]),
        g.op('Mul', [x, g.constant('c2', [1, 2, 3])]),
        g.op('Mul', [x, g.constant('c3', [1, 2, 4])]),
      ];
      outs.forEach((v) => g.output(g.op('Abs', [v])));
    });
    // Constant c2 and then its Mul; the Abs after it stays, as its output is a graph output.
    expect(clean(model).stats).toEqual({ duplicateNodes: 2 });
    expect(opsOf(model.graph).filter((o) => o === 'LeakyRelu')).toHaveLength(2);
    expect(opsOf(model.graph).filter((o) => o === 'Constant')).toHaveLength(2);
    expect(model.graph.outputs).toHaveLength(5);
  });

  it('never merges random ops or nodes whose outputs are graph outputs', () => {
    const model = buildModel((g) => {
      const x = g.input('x');
      const r1 = g.op('RandomUniformLike', [x]);
      const r2 = g.op('RandomUniformLike', [x]);
      g.output(g.op('Add', [r1, r2]));
      g.output(g.op('Relu', [x], { name: 'y1' }));
      g.output(g.op('Relu', [x], { name: 'y2' }));
    });
    expect(clean(model).changed).toBe(false);
  });

  it('merges duplicate small initializers', () => {
    const model = buildModel((g) => {
      const x = g.input('x');
      g.output(g.op('Add', [g.op('Mul', [x, g.init('a', 2)]), g.op('Mul', [x, g.init('b', 2)])], { name: 'y' }));
    });
    expect(clean(model).stats).toEqual({ duplicateInitializers: 1, duplicateNodes: 1 });
    expect(model.graph.initializers.map((v) => v.name)).toEqual(['a']);
  });

  it('sorts nodes topologically', () => {
    const model = buildModel((g) => {
      const x = g.input('x');
      const late = new Value('late');
      g.output(g.op('Abs', [late], { name: 'y' }));
      g.graph.createNode({ opType: 'Relu', inputs: [x], outputs: [late] });
    });
    expect(clean(model).stats).toEqual({ reorderedGraphs: 1 });
    expect(opsOf(model.graph)).toEqual(['Relu', 'Abs']);
  });
});

// ---- Property: random graphs keep their outputs, and clean is idempotent ----

type Step = { op: string; a: number; b: number };
const OPS = [
  'Add',
  'Sub',
  'Mul',
  'Max',
  'Relu',
  'Neg',
  'Abs',
  'Identity',
  'Cast',
  'Reshape',
  'Transpose',
  'Dropout',
  'Duplicate',
  'Constant',
];

/** Builds a graph of [2,3] float values from steps: operands index earlier values, `Duplicate` copies an earlier node. */
function randomModel(steps: Step[], outputPicks: number[], annotate: boolean): Model {
  return buildModel((g) => {
    const values: Value[] = [
      g.input('in0'),
      g.input('in1'),
      g.init('c0', [0.5, -1, 2, 0, 1, 3], [2, 3]),
      g.init('c1', [0.5, -1, 2, 0, 1, 3], [2, 3]),
    ];
    const made: { op: string; inputs: Value[]; attrs: Record<string, number | number[]> }[] = [];
    const pick = (i: number) => values[i % values.length]!;
    for (const s of steps) {
      let spec: (typeof made)[number];
      if (s.op === 'Duplicate' && made.length) spec = made[s.a % made.length]!;
      else if (s.op === 'Constant' || s.op === 'Duplicate') {
        const k = g.constant(g.graph.valueNames.fresh('k'), [s.a % 3, 1, 2, 3, 4, s.b % 5]);
        values.push(g.op('Reshape', [k, g.ints(g.graph.valueNames.fresh('shape'), [2, 3])]));
        continue;
      } else if (['Add', 'Sub', 'Mul', 'Max'].includes(s.op))
        spec = { op: s.op, inputs: [pick(s.a), pick(s.b)], attrs: {} };
      else if (s.op === 'Cast') spec = { op: s.op, inputs: [pick(s.a)], attrs: { to: F } };
      else if (s.op === 'Transpose') spec = { op: s.op, inputs: [pick(s.a)], attrs: { perm: [0, 1] } };
      else if (s.op === 'Reshape')
        spec = { op: s.op, inputs: [pick(s.a), g.ints(g.graph.valueNames.fresh('shape'), [2, -1])], attrs: {} };
      else spec = { op: s.op, inputs: [pick(s.a)], attrs: {} };
      made.push(spec);
      const v = g.op(spec.op, spec.inputs, { attrs: spec.attrs });
      v.type = tensorType(F, [2, 3]);
      if (annotate && s.b % 3 === 0) g.graph.valueInfo.push(v);
      values.push(v);
    }
    const produced = values.filter((v) => v.producer);
    const chosen = [...new Set(outputPicks.map((i) => produced[i % produced.length]!))];
    for (const v of chosen) g.output(v, [2, 3]);
  });
}

const stepArb = fc.record({ op: fc.constantFrom(...OPS), a: fc.nat(50), b: fc.nat(50) });

describe('clean: property', () => {
  it('keeps every output (onnxruntime parity) and is idempotent', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { minLength: 1, maxLength: 16 }),
        fc.array(fc.nat(50), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        async (steps, picks, annotate) => {
          const model = randomModel(steps, picks, annotate);
          const outputNames = model.graph.outputs.map((v) => v.name);
          const inputNames = model.graph.inputs.map((v) => v.name);
          const feeds = randomFeeds(model, steps.length);
          const before = await runOrt(model, feeds);
          clean(model);
          expect(model.graph.outputs.map((v) => v.name)).toEqual(outputNames);
          expect(model.graph.inputs.map((v) => v.name)).toEqual(inputNames);
          expect(maxDifference(before, await runOrt(model, feeds))).toBeLessThanOrEqual(1e-6);
          const once = encodeModel(model);
          expect(clean(model)).toEqual({ changed: false, stats: {} });
          expect(encodeModel(model)).toEqual(once);
          const again = randomModel(steps, picks, annotate);
          clean(again);
          expect(encodeModel(again)).toEqual(once); // deterministic
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);
});

describe('clean: shapes', () => {
  // cleanPass declares keepsShapes: a sequence does not infer again after it. What it removes is dead, and what it
  // forwards or merges is replaced by a value of the same type, so inference has nothing to add.
  const fixtures = ['fixtures', 'fixtures/decoders'].flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.onnx'))
      .map((f) => `${dir}/${f}`),
  );
  it('leaves shape inference nothing to add after it, on every fixture', () => {
    expect(fixtures.length).toBeGreaterThan(100);
    const changed = fixtures.filter((path) => {
      const model = readModel(path);
      inferShapes(model);
      const cleaned = clean(model).changed;
      const before = encodeModel(model);
      inferShapes(model);
      return cleaned && !Buffer.from(encodeModel(model)).equals(Buffer.from(before));
    });
    expect(changed).toEqual([]);
  }, 120_000);
});
