// Property: whatever bytes arrive, readModelBytes returns promptly and either gives a model or throws an
// OnnxOptError with a one-line message; and any model it accepts can be encoded again.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OnnxOptError } from '../../src/errors.js';
import { readModelBytes } from '../../src/io/read.js';
import { attr } from '../../src/ir/attribute.js';
import { Graph, Value } from '../../src/ir/graph.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DataType } from '../../src/tensor/dtype.js';

/** A few hundred bytes that touch most of the schema: typed values, attributes of several kinds, a subgraph. */
function smallModelBytes(): Uint8Array {
  const g = new Graph('small');
  const m = new Model(g);
  m.opsetImports = [{ domain: '', version: 21 }];
  m.metadataProps = [['k', 'v']];
  const x = g.addInput(new Value('x', tensorType(DataType.FLOAT, ['n', 2])));
  const cond = g.addInput(new Value('c', tensorType(DataType.BOOL, [])));
  const w = g.addInitializer('w', Tensor.fromArray('', DataType.FLOAT, [2, 2], [1, -2, 0.5, 4]));
  const shape = g.addInitializer('shape', Tensor.fromArray('', DataType.INT64, [2], [-1, 2]));
  g.addInitializer('words', new Tensor('', DataType.STRING, [2], [Uint8Array.of(0x61), new Uint8Array()]));
  const y = g.createNode({ opType: 'MatMul', inputs: [x, w] }).output();
  const r = g.createNode({ opType: 'Reshape', inputs: [y, shape], attributes: [attr('allowzero', 0)] }).output();
  const branch = (name: string, op: string) => {
    const b = new Graph(name, g);
    b.outputs.push(b.createNode({ opType: op, inputs: [r], attributes: [attr('alpha', 0.1, true)] }).output());
    return b;
  };
  const out = g
    .createNode({
      opType: 'If',
      inputs: [cond],
      attributes: [attr('then_branch', branch('then', 'LeakyRelu')), attr('else_branch', branch('else', 'Elu'))],
    })
    .output();
  out.type = tensorType(DataType.FLOAT, ['n', 2]);
  g.outputs.push(out);
  return encodeModel(m);
}

type Mutation =
  | { kind: 'flip'; at: number; xor: number }
  | { kind: 'truncate'; length: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), length: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }),
  }),
);

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = bytes.slice();
  for (const m of mutations) {
    if (m.kind === 'flip' && out.length) out[m.at % out.length]! ^= m.xor;
    else if (m.kind === 'truncate') out = out.subarray(0, m.length % (out.length + 1));
    else if (m.kind === 'insert') {
      const at = m.at % (out.length + 1);
      out = Uint8Array.from([...out.subarray(0, at), ...m.bytes, ...out.subarray(at)]);
    }
  }
  return out;
}

describe('readModelBytes on mutated bytes', () => {
  const valid = smallModelBytes();

  it('starts from a model that reads', () => {
    expect(readModelBytes(valid).graph.nodes).toHaveLength(3);
  });

  it('returns a model or throws a one-line OnnxOptError, quickly; accepted models encode again', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        const bytes = mutate(valid, mutations);
        const started = performance.now();
        try {
          const model = readModelBytes(bytes);
          accepted++;
          const again = encodeModel(model);
          expect(encodeModel(readModelBytes(again))).toEqual(again);
        } catch (e) {
          if (!(e instanceof OnnxOptError)) throw e;
          expect(e.message).not.toMatch(/[\r\n\u2028\u2029]/);
          expect(e.file).toBe('<bytes>');
        }
        expect(performance.now() - started).toBeLessThan(1000);
      }),
      { numRuns: 300 },
    );
    // Mutations of a valid model must sometimes still be valid, or the property would test only the error path.
    expect(accepted).toBeGreaterThan(0);
  });
});
