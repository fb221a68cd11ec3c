// The fold pass: what it folds and what it leaves (size rule, unsupported and side-effect ops, overridable
// initializers), graph outputs, subgraphs, dead-code bookkeeping, idempotence, determinism, and a property test
// whose folded values must equal onnxruntime's outputs of the unfolded random graphs.
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { evaluateNode, isSupportedOp } from '../../src/eval/index.js';
import { readModel } from '../../src/io/read.js';
import { attr, type Attribute } from '../../src/ir/attribute.js';
import { Graph, Value, type Node } from '../../src/ir/graph.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import type { PassOptions, PassResult } from '../../src/pipeline.js';
import { decodeModel } from '../../src/serde/decode.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DataType } from '../../src/tensor/dtype.js';
import { foldPass } from '../../passes/fold.js';
import { elementsOf, tensorDifference } from '../eval/compare.js';
import { fromOrt } from '../eval/ort-ir.js';
import { expectDeterministic, GraphMaker, modelMaker, withSessions, type ModelMaker } from '../kit/index.js';

const { FLOAT, FLOAT16, INT64 } = DataType;

function fold(model: Model, options: PassOptions = {}, log: string[] = []): PassResult {
  return foldPass.run(model, { options, log: (s) => log.push(s) });
}

const f32 = (dims: number[], values: number[]) => Tensor.fromArray('', FLOAT, dims, values);
const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => i);

/** y = x · Transpose(w), x [1, 256], w a [256, 256] ramp: a large weight a fold may transpose. */
function transposedWeight(b: ModelMaker): { x: Value; w: Value } {
  const x = b.input('x', [1, 256]);
  const w = b.init('w', ramp(256 * 256), [256, 256]);
  b.output(b.op('MatMul', [x, b.op('Transpose', [w])]), [1, 256], FLOAT);
  return { x, w };
}

const opTypes = (g: Graph) => g.nodes.map((n) => n.opType);

describe('fold: what it folds', () => {
  it('folds the shape arithmetic of a dynamic Reshape when the input shape is static', () => {
    const b = modelMaker();
    const { graph: g, model: m } = b;
    const x = b.input('x', [2, 3, 4]);
    const shape = b.op('Shape', [x]);
    const batch = b.op('Gather', [shape, b.ints('zero', [0], [])]);
    const first = b.op('Unsqueeze', [batch, b.ints('axes', [0])]);
    const rest = b.op('Constant', [], { attrs: { value_ints: [-1] } });
    const target = b.op('Concat', [first, rest], { attrs: { axis: 0 } });
    b.output(b.op('Reshape', [x, target]), [2, 12], FLOAT);

    const result = fold(m);
    expect(result.stats).toEqual({ foldedNodes: 4, newInitializers: 1 });
    expect(opTypes(g)).toEqual(['Reshape']);
    const folded = g.nodes[0]!.input(1);
    expect(folded.name).toBe(target.name);
    expect(elementsOf(folded.initializer!)).toEqual([2n, -1n]);
    // The index and axes constants were read only by folded nodes; the Constant node went with them.
    expect(g.initializers.map((v) => v.name)).toEqual([target.name]);
  });

  it('folds Shape of symbolic dims only when fixedDims pins them', () => {
    const build = () => {
      const b = modelMaker();
      const m = b.model;
      const x = b.input('x', ['batch', 8]);
      b.output(b.op('Cast', [b.op('Shape', [x])], { attrs: { to: FLOAT } }), [2], FLOAT);
      return m;
    };
    const free = build();
    expect(fold(free).changed).toBe(false);
    const pinned = build();
    expect(fold(pinned, { fixedDims: { batch: 3 } }).stats.foldedNodes).toBe(2);
    expect(elementsOf(pinned.graph.nodes[0]!.input(0).initializer!)).toEqual([3, 8]);
  });

  it('keeps a graph output that becomes constant, by name and type, behind an Identity', () => {
    const b = modelMaker();
    const { graph: g, model: m } = b;
    const y = new Value('y');
    g.createNode({
      opType: 'Add',
      inputs: [b.init('a', [1, 2], [2]), b.init('b', [10, 20], [2])],
      outputs: [y],
    });
    b.output(y, [2], FLOAT);
    const consumer = b.output(b.op('Neg', [y]), [2], FLOAT).name;

    expect(fold(m).stats).toEqual({ foldedNodes: 2, newInitializers: 2 });
    expect(g.outputs.map((v) => v.name)).toEqual(['y', consumer]);
    expect(g.outputs.map((v) => v.type)).toEqual([tensorType(FLOAT, [2]), tensorType(FLOAT, [2])]);
    for (const out of g.outputs) expect(out.producer!.opType).toBe('Identity');
    expect(elementsOf(g.outputs[1]!.producer!.input(0).initializer!)).toEqual([-11, -22]);
    expect(fold(m).changed).toBe(false);
  });

  it('folds inside subgraphs, reading constants of the outer graph', () => {
    const b = modelMaker();
    const { graph: g, model: m } = b;
    const cond = b.input('cond', [], DataType.BOOL);
    const outer = b.init('outer', [1, 4], [2]);
    const branch = (name: string, opType: string) => {
      const body = new GraphMaker(new Graph(name, g));
      body.output(body.op(opType, [outer]), [2]);
      return body.graph;
    };
    const ifNode = b.node('If', [cond], {
      attrs: { then_branch: branch('then', 'Sqrt'), else_branch: branch('else', 'Neg') },
    });
    b.output(ifNode.output(), [2], FLOAT);

    expect(fold(m).stats).toEqual({ foldedNodes: 2, newInitializers: 2 });
    const [thenBody, elseBody] = ifNode.subgraphs();
    expect(elementsOf(thenBody!.outputs[0]!.producer!.input(0).initializer!)).toEqual([1, 2]);
    expect(elementsOf(elseBody!.outputs[0]!.producer!.input(0).initializer!)).toEqual([-1, -4]);
    // Both readers of the outer initializer were folded, so it went too.
    expect(g.initializers).toEqual([]);
  });
});

describe('fold: the size rule', () => {
  it('caps what a fold may add, and maxGrowthBytes moves the cap', () => {
    const build = () => {
      const b = modelMaker();
      const m = b.model;
      b.output(b.op('ConstantOfShape', [b.ints('shape', [100, 200])]), [100, 200], FLOAT);
      return m;
    };
    expect(fold(build()).changed).toBe(false);
    const roomy = build();
    expect(fold(roomy, { maxGrowthBytes: 100 * 200 * 4 }).stats.foldedNodes).toBe(1);
    expect(() => fold(build(), { maxGrowthBytes: -1 })).toThrow(
      /--max-growth-bytes must be an integer of at least 0, not -1/,
    );
  });

  it('replaces a large weight by its transpose when nothing else reads the weight', () => {
    const b = modelMaker();
    const { graph: g, model: m } = b;
    transposedWeight(b);

    expect(fold(m).stats.foldedNodes).toBe(1);
    expect(g.initializers).toHaveLength(1);
    const wt = g.initializers[0]!.initializer!;
    expect(wt.dims).toEqual([256, 256]);
    expect((wt.typed() as Float32Array)[1]).toBe(256);
  });

  it('does not copy a large weight that something else still reads, nor up-cast one', () => {
    const b = modelMaker();
    const m = b.model;
    const { x, w } = transposedWeight(b);
    b.output(b.op('MatMul', [x, w]), [1, 256], FLOAT);
    const half = b.zeros('half', [256, 256], FLOAT16);
    b.output(b.op('MatMul', [x, b.op('Cast', [half], { attrs: { to: FLOAT } })]), [1, 256], FLOAT);
    expect(fold(m).changed).toBe(false);
  });

  it('folds a down-cast of a weight read once, which shrinks the model', () => {
    const b = modelMaker();
    const { graph: g, model: m } = b;
    const w = b.init('w', ramp(256 * 256), [256, 256]);
    b.output(b.op('Cast', [w], { attrs: { to: FLOAT16 } }), [256, 256], FLOAT16);
    expect(fold(m).stats.foldedNodes).toBe(1);
    expect(g.initializers.map((v) => v.initializer!.dataType)).toEqual([FLOAT16]);
  });
});

describe('fold: what it leaves', () => {
  it('leaves other domains, random ops and initializers that are also graph inputs', () => {
    const b = modelMaker();
    const { graph: g, model: m } = b;
    const c = b.init('c', [1, 2], [2]);
    b.output(b.op('Relu', [c], { domain: 'com.example' }), [2], FLOAT);
    b.output(b.op('RandomNormalLike', [c]), [2], FLOAT);
    const overridable = b.init('d', [3, 4], [2]);
    g.addInput(overridable);
    b.output(b.op('Neg', [overridable]), [2], FLOAT);
    expect(fold(m).changed).toBe(false);
  });

  it('leaves nodes the evaluator rejects, saying why once', () => {
    const b = modelMaker();
    const m = b.model;
    b.output(b.op('Reshape', [b.init('c', [1, 2, 3], [3]), b.ints('s', [2])]), [2], FLOAT);
    const log: string[] = [];
    expect(fold(m, {}, log).changed).toBe(false);
    expect(log).toEqual([expect.stringMatching(/^fold: left 'Reshape' \(Reshape\) as it is: Reshape: cannot reshape/)]);
  });

  it('removes only what the fold made dead', () => {
    const b = modelMaker();
    const { graph: g, model: m } = b;
    const shared = b.init('shared', [1, -2], [2]);
    const x = b.input('x', [2]);
    const deadBefore = b.op('Relu', [x]);
    b.output(b.op('Abs', [shared]), [2], FLOAT);
    b.output(b.op('Mul', [x, shared]), [2], FLOAT);
    fold(m);
    expect(opTypes(g)).toEqual(['Relu', 'Mul', 'Identity']);
    expect(deadBefore.producer!.graph).toBe(g);
    expect(g.initializers.map((v) => v.name)).toContain('shared');
  });
});

describe('fold: repeatability', () => {
  const build = () => {
    const b = modelMaker();
    const m = b.model;
    const x = b.input('x', [4, 3]);
    const s = b.op('Shape', [x]);
    const n = b.op('ReduceProd', [s], { attrs: { keepdims: 1 } });
    const big = b.op('Expand', [b.init('one', [1], [1]), b.op('Concat', [n, n], { attrs: { axis: 0 } })]);
    const row = b.op('Slice', [big, b.ints('i', [0]), b.ints('i', [1])]);
    b.output(b.op('Add', [b.op('Flatten', [x], { attrs: { axis: 0 } }), row]), [1, 12], FLOAT);
    return m;
  };

  it('changes nothing on a second run', () => {
    const m = build();
    expect(fold(m).changed).toBe(true);
    const once = encodeModel(m);
    expect(fold(m)).toEqual({ changed: false, stats: { foldedNodes: 0, newInitializers: 0 } });
    expect(encodeModel(m)).toEqual(once);
  });

  it('makes the same bytes from the same model', () => expectDeterministic(foldPass, build));
});

describe('fold: exported models', () => {
  // Dynamo exports compute every reshape target from the input shapes; with the dims pinned all of that folds.
  for (const name of ['bert-eager-dynamo18', 'gpt2-sdpa-dynamo18']) {
    it(`folds the shape arithmetic of ${name} and keeps its outputs`, async () => {
      const path = `fixtures/${name}.onnx`;
      const model = readModel(path);
      const options = { fixedDims: { batch: 2, sequence: 8 } };
      expect(fold(model, options).stats.foldedNodes).toBeGreaterThan(0);
      expect(fold(model, options).changed).toBe(false);
      const g = model.graph;
      expect(opTypes(g)).not.toContain('Shape');
      const constant = (v: Value | null) => !v || v.initializer !== undefined || v.producer?.opType === 'Constant';
      const foldable = g.nodes.filter(
        (n) => isSupportedOp(n.domain, n.opType) && n.opType !== 'Constant' && n.inputs.every(constant),
      );
      expect(foldable.map((n) => n.describe())).toEqual([]);

      const feeds = Object.fromEntries(
        g.inputs.map((v) => [
          v.name,
          new ort.Tensor(
            'int64',
            BigInt64Array.from({ length: 16 }, (_, i) => BigInt(i % 2)),
            [2, 8],
          ),
        ]),
      );
      const [before, after] = await Promise.all(
        [path, model].map((source) =>
          withSessions([source], 'disabled', async ([session]) => {
            const result = await session!.run(feeds);
            return session!.outputNames.map((n) => fromOrt(result[n]!));
          }),
        ),
      );
      after!.forEach((t, i) => expect(tensorDifference(t, before![i]!)).toBeUndefined());
    });
  }
});

// ---- Property: folded random graphs equal onnxruntime ----

interface Item {
  value: Value;
  tensor: Tensor;
}

/** Builds a random DAG of elementwise and shape ops over random constants, tracking each value's tensor. */
function randomGraph(gen: fc.GeneratorValue): { model: Model; outputs: Value[] } {
  const b = modelMaker(17);
  const { graph: g, model } = b;
  const pool: Item[] = [];
  const int = (min: number, max: number) => gen(fc.integer, { min, max });
  const pick = <T>(list: readonly T[]): T => list[int(0, list.length - 1)]!;
  const dims = (): number[] => Array.from({ length: int(0, 3) }, () => int(1, 4));
  const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
  const floats = (n: number) =>
    gen(fc.array, fc.float({ min: -10, max: 10, noNaN: true }), { minLength: n, maxLength: n });
  // Divisors keep away from zero, so no infinity or NaN arises (onnxruntime's Relu of NaN is not pinned down).
  const divisors = (n: number) => floats(n).map((v) => (v < 0 ? v - 0.5 : v + 0.5));
  const constant = (t: Tensor): Item => ({ value: g.addInitializer('c', t), tensor: t });
  const floatConstant = (shape: number[], values = floats(count(shape))) => constant(f32(shape, values));
  const int64Constant = (values: (number | bigint)[], shape = [values.length]) =>
    constant(Tensor.fromArray('', INT64, shape, values as number[])).value;
  const add = (opType: string, inputs: (Item | Value)[], attributes: Attribute[] = []): Item => {
    const values = inputs.map((i) => (i instanceof Value ? i : i.value));
    const node: Node = g.createNode({ opType, inputs: values, attributes });
    const tensors = values.map((v) => v.initializer ?? pool.find((p) => p.value === v)!.tensor);
    const item = { value: node.output(), tensor: evaluateNode(node, tensors, 17)[0]! };
    pool.push(item);
    return item;
  };
  /** A shape that broadcasts against `shape`: a suffix of it with some dims set to 1. */
  const broadcastable = (shape: readonly number[]) => shape.slice(int(0, shape.length)).map((d) => (int(0, 2) ? d : 1));

  pool.push(floatConstant(dims()), floatConstant(dims()));
  const steps = int(2, 16);
  for (let s = 0; s < steps; s++) {
    const x = pick(pool);
    const shape = [...x.tensor.dims];
    const rank = shape.length;
    const isFloat = x.tensor.dataType === FLOAT;
    const choice = pick([
      'unary',
      'binary',
      'transpose',
      'reshape',
      'unsqueeze',
      'concat',
      'slice',
      'shape',
      'gather',
      'cast',
    ]);
    if (choice === 'unary') {
      const unary = pick(['Neg', 'Abs', ...(isFloat ? ['Relu', 'SqrtAbs'] : [])]);
      if (unary === 'SqrtAbs') add('Sqrt', [add('Abs', [x])]);
      else add(unary, [x]);
    } else if (choice === 'binary') {
      const opType = pick(['Add', 'Sub', 'Mul', 'Div']);
      const partners = pool.filter(
        (p) => p.tensor.dataType === x.tensor.dataType && broadcastsTo(p.tensor.dims, shape),
      );
      const bshape = broadcastable(shape);
      let other: Item | Value;
      if (opType === 'Div') {
        other = isFloat
          ? floatConstant(bshape, divisors(count(bshape)))
          : int64Constant(
              Array.from({ length: count(bshape) }, () => pick([-3, -2, -1, 1, 2, 5])),
              bshape,
            );
      } else if (partners.length && int(0, 1)) other = pick(partners);
      else
        other = isFloat
          ? floatConstant(bshape)
          : int64Constant(
              Array.from({ length: count(bshape) }, () => int(-9, 9)),
              bshape,
            );
      add(opType, opType !== 'Div' && int(0, 1) ? [other, x] : [x, other]);
    } else if (choice === 'transpose') {
      const perm = gen(fc.shuffledSubarray, [...Array(rank).keys()], { minLength: rank, maxLength: rank });
      add('Transpose', [x], [attr('perm', perm)]);
    } else if (choice === 'reshape' && x.tensor.size > 0) {
      const target: number[] = [];
      let left = x.tensor.size;
      for (let r = int(0, 2); r > 0; r--) {
        const divisors = [...Array(left).keys()].map((i) => i + 1).filter((d) => left % d === 0);
        const d = pick(divisors);
        target.push(d);
        left /= d;
      }
      target.push(left);
      if (int(0, 1)) target[int(0, target.length - 1)] = -1;
      add('Reshape', [x, int64Constant(target)]);
    } else if (choice === 'unsqueeze') {
      const axis = int(-(rank + 1), rank);
      add('Unsqueeze', [x, int64Constant([axis])]);
    } else if (choice === 'concat' && rank > 0 && x.tensor.size <= 48) {
      const axis = int(-rank, rank - 1);
      const otherShape = [...shape];
      otherShape[axis < 0 ? axis + rank : axis] = int(1, 3);
      const other = isFloat
        ? floatConstant(otherShape)
        : int64Constant(
            Array.from({ length: count(otherShape) }, () => int(-9, 9)),
            otherShape,
          );
      add('Concat', int(0, 1) ? [x, other] : [other, x], [attr('axis', axis)]);
    } else if (choice === 'slice' && rank > 0) {
      const axis = int(0, rank - 1);
      const step = pick([-3, -2, -1, 1, 1, 2]);
      const bound = () => pick([int(-6, 6), int(-6, 6), 2n ** 63n - 1n, -(2n ** 63n)]);
      // The evaluator refuses INT64_MAX ends with negative steps (onnxruntime departs from the spec there).
      const end = step < 0 ? pick([int(-6, 6), -(2n ** 63n)]) : bound();
      add('Slice', [
        x,
        int64Constant([bound()]),
        int64Constant([end]),
        int64Constant([axis - (int(0, 1) ? rank : 0)]),
        int64Constant([step]),
      ]);
    } else if (choice === 'shape') {
      add('Shape', [x]);
    } else if (choice === 'gather' && rank > 0 && x.tensor.size > 0) {
      const axis = int(-rank, rank - 1);
      const size = shape[axis < 0 ? axis + rank : axis]!;
      const indexShape = Array.from({ length: int(0, 2) }, () => int(1, 3));
      const indices = Array.from({ length: count(indexShape) }, () => int(-size, size - 1));
      add('Gather', [x, int64Constant(indices, indexShape)], [attr('axis', axis)]);
    } else if (choice === 'cast' && x.tensor.toNumbers().every((v) => Math.abs(v) < 1e6)) {
      // Float -> int64 casts stay in range, where C++ (and so onnxruntime) defines them.
      add('Cast', [x], [attr('to', isFloat ? INT64 : FLOAT)]);
    }
  }
  if (!pool.some((p) => p.value.producer)) add('Neg', [pool[0]!]);
  const candidates = pool.filter((p) => p.value.producer);
  // fast-check compares generator arguments, so it is given indices rather than IR objects.
  const extra = gen(fc.subarray, [...candidates.keys()], { maxLength: Math.min(2, candidates.length) }).map(
    (i) => candidates[i]!,
  );
  const chosen = new Set([candidates[candidates.length - 1]!, ...extra]);
  const outputs = [...chosen].map((p) => b.output(p.value, [...p.tensor.dims], p.tensor.dataType));
  return { model, outputs };
}

/** True when shape a broadcasts to shape b (so an op on both keeps b's shape). */
function broadcastsTo(a: readonly number[], b: readonly number[]): boolean {
  return a.length <= b.length && a.every((d, i) => d === 1 || d === b[b.length - a.length + i]);
}

describe('fold: random graphs against onnxruntime', () => {
  it('folds every node to initializers equal to onnxruntime outputs of the unfolded graph', async () => {
    await fc.assert(
      fc.asyncProperty(fc.gen(), async (gen) => {
        const { model, outputs } = randomGraph(gen);
        const names = outputs.map((v) => v.name);
        const bytes = encodeModel(model);
        const expected = await withSessions([bytes], 'disabled', ([session]) => session!.run({}));

        const folded = decodeModel(bytes);
        fold(folded);
        const g = folded.graph;
        expect(g.outputs.map((v) => v.name)).toEqual(names);
        // Nodes whose results nothing reads stay (dead code is clean's business); everything else folded.
        const live = g.nodes.filter((n) => n.outputs.some((o) => o && (o.uses.length || g.outputs.includes(o))));
        expect(live.map((n) => `${n.opType}(${n.inputs.map((v) => (v?.initializer ? 'const' : v?.name))})`)).toEqual(
          g.outputs.map(() => 'Identity(const)'),
        );
        for (const out of g.outputs) {
          const why = tensorDifference(out.producer!.input(0).initializer!, fromOrt(expected[out.name]!));
          expect(why, out.name).toBeUndefined();
        }
        expect(fold(folded).changed).toBe(false);
      }),
      // FOLD_RUNS=1000 searches longer (about 10 s alone here).
      { numRuns: Number(process.env.FOLD_RUNS ?? 100) },
    );
    // 100 runs take about 1 s alone; a loaded 2-core machine running the whole suite beside other work once took
    // over 40 s (6,000 further runs found no failing graph)
  }, 120_000);
});
