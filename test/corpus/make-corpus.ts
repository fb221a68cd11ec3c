// Makes the robustness corpus in test/corpus (run from the repository root:
// node --import ./test/helpers/run-ts.mjs test/corpus/make-corpus.ts):
// malformed/*.onnx, small graphs that are wrong or unusual in one way each (and valid ones that mix float and float16
// once converted), and mutated/*.onnx, seeded mutations of
// three small valid models (test/bench/robustness.ts: mutate). Deterministic: running it again gives the same files.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { attr } from '../../src/ir/attribute.js';
import { Graph, Value, type Node } from '../../src/ir/graph.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DataType } from '../../src/tensor/dtype.js';
import { mutate, seedModels } from '../bench/robustness.js';

const F = DataType.FLOAT;
const HERE = import.meta.dirname;
/** Mutated inputs kept per seed model. */
export const MUTATIONS_PER_SEED = 40;

interface Maker {
  g: Graph;
  m: Model;
  input(name: string, dims?: (number | string)[], type?: number): Value;
  weight(name: string, dims: number[], values?: number[], type?: number): Value;
  node(
    opType: string,
    inputs: (Value | null)[],
    outputs?: Value[],
    attrs?: ReturnType<typeof attr>[],
    domain?: string,
  ): Node;
  op(opType: string, inputs: (Value | null)[], attrs?: ReturnType<typeof attr>[]): Value;
  output(v: Value, dims?: (number | string)[], type?: number): void;
}

function build(fill: (k: Maker) => void, opset = 17): Uint8Array {
  const g = new Graph('g');
  const m = new Model(g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: opset }];
  const k: Maker = {
    g,
    m,
    input: (name, dims = [2, 4], type = F) => g.addInput(new Value(name, tensorType(type, dims))),
    weight: (name, dims, values, type = F) => {
      const count = dims.reduce((a, b) => a * b, 1);
      const data = values ?? Array.from({ length: count }, (_, i) => ((i * 37) % 17) / 8 - 1);
      return g.adoptInitializer(new Value(name), Tensor.fromArray(name, type, dims, data));
    },
    node: (opType, inputs, outputs, attrs = [], domain = '') =>
      g.createNode({ opType, domain, inputs, attributes: attrs, ...(outputs ? { outputs } : {}) }),
    op: (opType, inputs, attrs = []) => g.createNode({ opType, inputs, attributes: attrs }).output(0),
    output: (v, dims = [2, 4], type = F) => {
      v.type ??= tensorType(type, dims);
      g.outputs.push(v);
    },
  };
  fill(k);
  return encodeModel(m);
}

/** A MatMul model with a weight the test can set, for quantize and fp16. */
const matmulWith = (values: number[]) =>
  build((k) => {
    k.output(k.op('MatMul', [k.input('x'), k.weight('w', [4, 4], values)]));
  });

const MALFORMED: Record<string, () => Uint8Array> = {
  cycle: () =>
    build((k) => {
      const a = new Value('a'),
        b = new Value('b');
      k.node('Add', [k.input('x'), b], [a]);
      k.node('Relu', [a], [b]);
      k.output(k.op('Neg', [a]));
    }),
  'cycle-through-constants': () =>
    build((k) => {
      const a = new Value('a'),
        b = new Value('b');
      k.node('Add', [k.weight('c', [4]), b], [a]);
      k.node('Neg', [a], [b]);
      k.output(k.op('Add', [k.input('x'), a]));
    }),
  'self-loop': () =>
    build((k) => {
      const a = new Value('a');
      k.node('Add', [k.input('x'), a], [a]);
      k.output(a);
    }),
  unsorted: () =>
    build((k) => {
      const x = k.input('x');
      const h = new Value('h');
      k.output(k.op('Relu', [h]));
      k.node('MatMul', [x, k.weight('w', [4, 4])], [h]);
    }),
  'duplicate-initializer-names': () =>
    build((k) => {
      const x = k.input('x');
      const w1 = k.weight('w', [4, 4]);
      const w2 = k.weight(
        'w',
        [4, 4],
        Array.from({ length: 16 }, (_, i) => i / 16),
      );
      k.output(k.op('MatMul', [k.op('MatMul', [x, w1]), w2]));
    }),
  'duplicate-node-output-names': () =>
    build((k) => {
      const x = k.input('x');
      const a = new Value('a'),
        a2 = new Value('a');
      k.node('Relu', [x], [a]);
      k.node('Neg', [x], [a2]);
      k.output(k.op('Add', [a, a2]));
    }),
  'output-shadows-initializer': () =>
    build((k) => {
      const x = k.input('x');
      k.weight('h', [4]);
      const h = new Value('h');
      k.node('Relu', [x], [h]);
      k.output(k.op('Neg', [h]));
    }),
  'initializer-is-also-input': () =>
    build((k) => {
      const x = k.input('x');
      const w = k.weight('w', [4, 4]);
      k.g.addInput(w);
      w.type = tensorType(F, [4, 4]);
      k.output(k.op('MatMul', [x, k.op('Add', [w, w])]));
    }),
  'output-never-produced': () =>
    build((k) => {
      k.input('x');
      k.output(new Value('nowhere'));
    }),
  'output-is-input': () =>
    build((k) => {
      const x = k.input('x');
      k.output(x);
      k.output(k.op('Relu', [x]));
    }),
  'no-nodes': () =>
    build((k) => {
      k.input('x');
    }),
  'unknown-op': () =>
    build((k) => {
      k.output(k.op('NoSuchOp', [k.input('x')]));
    }),
  'custom-domain-without-opset': () =>
    build((k) => {
      k.output(k.node('Thing', [k.input('x')], undefined, [], 'com.example').output(0));
    }),
  'wrong-arity': () =>
    build((k) => {
      k.output(k.op('Add', [k.input('x')]));
    }),
  'bad-attribute-type': () =>
    build((k) => {
      k.output(k.op('Softmax', [k.input('x')], [attr('axis', 'last')]));
    }),
  'axis-out-of-range': () =>
    build((k) => {
      k.output(k.op('Softmax', [k.input('x')], [attr('axis', 9)]));
    }),
  'concat-float-and-float16': () =>
    build((k) => {
      const x = k.input('x');
      const h = k.weight('h', [2, 4], undefined, DataType.FLOAT16);
      k.output(k.op('Concat', [x, h], [attr('axis', 0)]), [4, 4]);
    }),
  'type-mismatch-add': () =>
    build((k) => {
      k.output(k.op('Add', [k.input('x'), k.weight('i', [4], [1, 2, 3, 4], DataType.INT64)]));
    }),
  'reshape-negative-dims': () =>
    build((k) => {
      const shape = k.weight('shape', [2], [-2817, 4], DataType.INT64);
      k.output(k.op('Reshape', [k.input('x'), shape]));
    }),
  'reshape-two-minus-ones': () =>
    build((k) => {
      const shape = k.weight('shape', [2], [-1, -1], DataType.INT64);
      k.output(k.op('Reshape', [k.input('x'), shape]));
    }),
  'reshape-folded-from-constants': () =>
    build((k) => {
      const dims = k.op('Mul', [
        k.weight('a', [2], [-2817, 2], DataType.INT64),
        k.weight('b', [2], [1, 2], DataType.INT64),
      ]);
      k.output(k.op('Reshape', [k.input('x'), dims]));
    }),
  'shape-of-constant-into-reshape': () =>
    build((k) => {
      const s = k.op('Shape', [k.weight('c', [4, 2])]);
      k.output(k.op('Reshape', [k.input('x'), s]), [4, 2]);
    }),
  'declared-type-contradicts': () =>
    build((k) => {
      const y = k.op('Relu', [k.input('x')]);
      y.type = tensorType(DataType.INT64, [7]);
      k.g.valueInfo.push(y);
      k.output(k.op('Neg', [y]));
    }),
  'huge-declared-dims': () =>
    build((k) => {
      k.output(k.op('Relu', [k.input('x', [2 ** 40, 4])]), [2 ** 40, 4]);
    }),
  'zero-size-tensors': () =>
    build((k) => {
      k.output(k.op('MatMul', [k.input('x', [0, 4]), k.weight('w', [4, 0], [])]), [0, 0]);
    }),
  'huge-weight-3e38': () => matmulWith(Array.from({ length: 16 }, (_, i) => (i === 5 ? 3e38 : i / 16))),
  'weights-beyond-float16': () => matmulWith(Array.from({ length: 16 }, (_, i) => (i % 3 ? 1e6 : -7e4))),
  'nan-and-infinite-weights': () =>
    matmulWith(Array.from({ length: 16 }, (_, i) => [NaN, Infinity, -Infinity, 1][i % 4]!)),
  'all-zero-weights': () => matmulWith(new Array(16).fill(0)),
  'subnormal-weights': () => matmulWith(Array.from({ length: 16 }, (_, i) => (i + 1) * 1e-40)),
  'if-with-empty-branches': () =>
    build((k) => {
      const cond = k.input('c', [], DataType.BOOL);
      const empty = (name: string) => new Graph(name, k.g);
      k.output(
        k
          .node('If', [cond], undefined, [attr('then_branch', empty('then')), attr('else_branch', empty('else'))])
          .output(0),
      );
    }),
  'constant-without-value': () =>
    build((k) => {
      k.output(k.op('Add', [k.input('x'), k.op('Constant', [])]));
    }),
  'constant-chain-to-output': () =>
    build((k) => {
      let c = k.weight('c', [4]);
      for (let i = 0; i < 5; i++) c = k.op('Add', [c, c]);
      k.output(c, [4]);
      k.output(k.op('Relu', [k.input('x')]));
    }),
  'dead-cycle-beside-live-graph': () =>
    build((k) => {
      const a = new Value('a'),
        b = new Value('b');
      k.node('Relu', [b], [a]);
      k.node('Neg', [a], [b]);
      k.output(k.op('Relu', [k.input('x')]));
    }),
  'empty-names': () =>
    build((k) => {
      const x = k.input('x');
      const y = k.op('Relu', [x]);
      y.name = '';
      k.output(k.op('Neg', [y]));
    }),
  'opset-1': () =>
    build((k) => {
      k.output(k.op('Relu', [k.input('x')]));
    }, 1),
  'opset-from-the-future': () =>
    build((k) => {
      k.output(k.op('Relu', [k.input('x')]));
    }, 99),
  'string-tensors': () =>
    build((k) => {
      const s = k.g.adoptInitializer(
        new Value('s'),
        new Tensor('s', DataType.STRING, [2], [new TextEncoder().encode('a'), new TextEncoder().encode('b')]),
      );
      k.output(k.op('Identity', [s]), [2], DataType.STRING);
      k.output(k.op('Relu', [k.input('x')]));
    }),
  'layer-norm-pattern-with-wrong-axes': () =>
    build((k) => {
      const x = k.input('x', [2, 3, 4]);
      const mean = k.op('ReduceMean', [x], [attr('axes', [0])]);
      const centered = k.op('Sub', [x, mean]);
      const variance = k.op('ReduceMean', [k.op('Pow', [centered, k.weight('two', [], [2])])], [attr('axes', [0])]);
      k.output(
        k.op('Div', [centered, k.op('Sqrt', [k.op('Add', [variance, k.weight('eps', [], [1e-5])])])]),
        [2, 3, 4],
      );
    }),
  'gelu-pattern-with-wrong-constants': () =>
    build((k) => {
      const x = k.input('x');
      const inner = k.op('Add', [k.op('Erf', [k.op('Div', [x, k.weight('s', [], [3])])]), k.weight('one', [], [2])]);
      k.output(k.op('Mul', [k.op('Mul', [x, inner]), k.weight('half', [], [0.25])]));
    }),
};

// Valid graphs that float16 conversion must keep consistent: float graph inputs meet converted constants.
const MIXED_PRECISION: Record<string, () => Uint8Array> = {
  'fp16-concat-input-and-initializer': () =>
    build((k) => {
      k.output(k.op('Concat', [k.input('x'), k.weight('w', [2, 4])], [attr('axis', 0)]), [4, 4]);
    }),
  'fp16-concat-input-and-constant': () =>
    build((k) => {
      const c = k
        .node('Constant', [], undefined, [attr('value', Tensor.fromArray('c', F, [2, 4], new Array(8).fill(0.5)))])
        .output(0);
      k.output(k.op('Concat', [c, k.input('x')], [attr('axis', 0)]), [4, 4]);
    }),
  'fp16-where-max-sum': () =>
    build((k) => {
      const x = k.input('x');
      const w = k.weight('w', [4]);
      const cond = k.op('Greater', [x, w]);
      const picked = k.op('Where', [cond, x, k.weight('v', [4])]);
      k.output(k.op('Sum', [k.op('Max', [picked, w]), x, k.weight('u', [2, 4])]));
    }),
  'fp16-clip-pad-with-constants': () =>
    build((k) => {
      const x = k.input('x');
      const clipped = k.op('Clip', [x, k.weight('lo', [], [-1]), k.weight('hi', [], [1])]);
      const pads = k.weight('pads', [4], [0, 1, 0, 1], DataType.INT64);
      k.output(k.op('Pad', [clipped, pads, k.weight('fill', [], [0.5])]), [2, 6]);
    }),
  'fp16-float-and-int-paths': () =>
    build((k) => {
      const x = k.input('x');
      const shape = k.op('Shape', [x]);
      const filled = k.op('ConstantOfShape', [shape], [attr('value', Tensor.fromArray('v', F, [1], [2]))]);
      const casted = k.op('Cast', [k.op('Cast', [x], [attr('to', DataType.INT32)])], [attr('to', F)]);
      k.output(
        k.op('Add', [
          k.op('Mul', [filled, casted]),
          k.op('Range', [k.weight('s', [], [0]), k.weight('l', [], [4]), k.weight('d', [], [1])]),
        ]),
      );
    }),
  'fp16-resize-and-batchnorm': () =>
    build((k) => {
      const x = k.input('x', [1, 2, 4, 4]);
      const bn = k.op('BatchNormalization', [
        x,
        k.weight('sc', [2]),
        k.weight('b', [2]),
        k.weight('m', [2]),
        k.weight('var', [2], [1, 2]),
      ]);
      const scales = k.weight('scales', [4], [1, 1, 2, 2]);
      k.output(k.op('Resize', [bn, null, scales], [attr('mode', 'linear')]), [1, 2, 8, 8]);
    }),
  'fp16-concat-blocked-and-converted': () =>
    build((k) => {
      const x = k.input('x');
      const summed = k.op('CumSum', [x, k.weight('axis', [], [1], DataType.INT64)]);
      const ranged = k.op('Range', [k.weight('s', [], [0]), k.weight('l', [], [4]), k.weight('d', [], [1])]);
      const both = k.op(
        'Concat',
        [summed, k.op('Relu', [x]), k.op('Unsqueeze', [ranged, k.weight('ax', [1], [0], DataType.INT64)])],
        [attr('axis', 0)],
      );
      k.output(k.op('Concat', [both, k.weight('w', [1, 4])], [attr('axis', 0)]), [6, 4]);
    }),
  'fp16-concat-in-subgraph': () =>
    build((k) => {
      const x = k.input('x');
      const cond = k.input('c', [], DataType.BOOL);
      const branch = (name: string, extra: Value) => {
        const b = new Graph(name, k.g);
        const y = b.createNode({ opType: 'Concat', inputs: [x, extra], attributes: [attr('axis', 0)] }).output(0);
        y.type = tensorType(F, [4, 4]);
        b.outputs.push(y);
        return b;
      };
      const summed = k.op('CumSum', [x, k.weight('axis', [], [1], DataType.INT64)]);
      const out = k
        .node('If', [cond], undefined, [
          attr('then_branch', branch('then', summed)),
          attr('else_branch', branch('else', k.weight('w', [2, 4]))),
        ])
        .output(0);
      k.output(out, [4, 4]);
    }),
  'fp16-layer-norm-and-softmax': () =>
    build((k) => {
      const x = k.input('x', [2, 3, 4]);
      const ln = k.op(
        'LayerNormalization',
        [x, k.weight('g', [4]), k.weight('b', [4])],
        [attr('axis', -1), attr('epsilon', 1e-5, true)],
      );
      k.output(k.op('Softmax', [k.op('MatMul', [ln, k.weight('w', [4, 4])])], [attr('axis', -1)]), [2, 3, 4]);
    }),
};

function main(): void {
  for (const dir of ['malformed', 'mutated']) {
    rmSync(join(HERE, dir), { recursive: true, force: true });
    mkdirSync(join(HERE, dir));
  }
  for (const [name, make] of Object.entries({ ...MALFORMED, ...MIXED_PRECISION }))
    writeFileSync(join(HERE, 'malformed', `${name}.onnx`), make());
  for (const [name, bytes] of Object.entries(seedModels())) {
    for (let seed = 1; seed <= MUTATIONS_PER_SEED; seed++) {
      writeFileSync(join(HERE, 'mutated', `${name}-${String(seed).padStart(3, '0')}.onnx`), mutate(bytes, seed));
    }
  }
}

main();
