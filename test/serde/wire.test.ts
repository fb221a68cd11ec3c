// src/serde/wire.ts against protobufjs (built from the same descriptor, sharing no code): both read the same
// messages from exported models and from random ones, write the same bytes, and ours keeps unknown fields and
// refuses malformed input with an Error rather than a crash.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeModel } from '../../src/serde/decode.js';
import { encodeModel } from '../../src/serde/encode.js';
import { onnxSchema } from '../../src/serde/onnx-schema.js';
import { decodeMessage, encodeMessage, type Message } from '../../src/serde/wire.js';
import { onnxRoot } from '../helpers/protobufjs-onnx.js';

const FIXTURES = ['bert-sdpa-dynamo18', 'gpt2-eager-ts14', 't5-eager-dynamo18', 'bert-eager-ts14.int8', 'cnn'].map(
  (name) => `fixtures/${name}.onnx`,
);

const type = (name: string) => onnxRoot.lookupType(`onnx.${name}`);

/** protobufjs's reading of a message: int64 as decimal strings, bytes as base64, unset fields left out. */
function reference(name: string, bytes: Uint8Array): unknown {
  return type(name).toObject(type(name).decode(bytes), { longs: String, bytes: String, enums: Number });
}

/** Ours in the same form. */
function ours(m: unknown): unknown {
  if (Array.isArray(m)) return m.map(ours);
  if (m instanceof Uint8Array) return Buffer.from(m).toString('base64');
  if (typeof m === 'bigint') return m.toString();
  if (m === null || typeof m !== 'object') return m;
  return Object.fromEntries(
    Object.entries(m)
      .filter(([k, v]) => k !== '$unknown' && !(Array.isArray(v) && !v.length))
      .map(([k, v]) => [k, ours(v)]),
  );
}

/** int64 fields hold numbers in our messages and decimal strings in protobufjs's: compare as strings. */
function stringifyInts(name: string, m: unknown): unknown {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return m;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) {
    const spec = onnxSchema[name]!.find(([, field]) => field === k)!;
    const [, , t, , sub] = spec;
    const one = (x: unknown) => (t === 3 || t === 4 ? String(x) : sub ? stringifyInts(sub, x) : x);
    out[k] = Array.isArray(v) ? v.map(one) : one(v);
  }
  return out;
}

describe('wire codec', () => {
  it.each(FIXTURES)('reads %s as protobufjs does and writes it back byte for byte', (file) => {
    const bytes = readFileSync(file);
    const decoded = decodeMessage(onnxSchema, 'ModelProto', bytes);
    expect(stringifyInts('ModelProto', ours(decoded))).toEqual(reference('ModelProto', bytes));
    expect(Buffer.compare(encodeMessage(onnxSchema, 'ModelProto', decoded), bytes)).toBe(0);
  });

  it('keeps raw_data as a view on the input, not a copy', () => {
    const bytes = readFileSync('fixtures/cnn.onnx');
    const graph = decodeMessage(onnxSchema, 'ModelProto', bytes).graph as Message;
    const raw = (graph.initializer as Message[]).find((t) => t.raw_data)!.raw_data as Uint8Array;
    expect(raw.buffer).toBe(bytes.buffer);
  });

  const int64s = [
    0,
    1,
    -1,
    127,
    128,
    2 ** 31,
    -(2 ** 31),
    2 ** 32,
    2 ** 53 - 1,
    -(2 ** 53 - 1),
    2n ** 53n + 1n,
    2n ** 63n - 1n,
    -(2n ** 63n),
    -(2n ** 53n) - 1n,
  ];

  it('reads and writes int64 and uint64 values across the whole range as protobufjs does', () => {
    const msg = { ints: int64s, i: -(2n ** 63n), name: 'edges' };
    const bytes = encodeMessage(onnxSchema, 'AttributeProto', msg);
    const theirs = type('AttributeProto')
      .encode(type('AttributeProto').fromObject({ ...msg, ints: int64s.map(String), i: String(msg.i) }))
      .finish();
    expect(Buffer.compare(bytes, theirs)).toBe(0);
    expect(decodeMessage(onnxSchema, 'AttributeProto', bytes)).toEqual(msg);
    const unsigned = [0, 2 ** 53 - 1, 2n ** 53n + 1n, 2n ** 64n - 1n];
    const tensor = encodeMessage(onnxSchema, 'TensorProto', {
      uint64_data: unsigned,
      int32_data: [-1, 2 ** 31 - 1, -(2 ** 31)],
    });
    expect(decodeMessage(onnxSchema, 'TensorProto', tensor)).toEqual({
      int32_data: [-1, 2 ** 31 - 1, -(2 ** 31)],
      uint64_data: unsigned,
    });
    expect(reference('TensorProto', tensor)).toMatchObject({ uint64_data: unsigned.map(String) });
  });

  it('writes integral numbers past 2^53 saturated to the int64 range, and refuses fractions', () => {
    const bytes = encodeMessage(onnxSchema, 'AttributeProto', { ints: [2 ** 60, 2 ** 63, -(2 ** 64)] });
    expect(decodeMessage(onnxSchema, 'AttributeProto', bytes)).toEqual({
      ints: [2n ** 60n, 2n ** 63n - 1n, -(2n ** 63n)],
    });
    expect(() => encodeMessage(onnxSchema, 'AttributeProto', { i: 1.5 })).toThrow(/not an integer/);
  });

  it('writes random tensors and attributes as protobufjs does, and reads them back', () => {
    const int64 = fc
      .bigInt(-(2n ** 63n), 2n ** 63n - 1n)
      .map((b) => (b >= -(2n ** 53n) && b <= 2n ** 53n ? Number(b) : b));
    const text = fc.string({ unit: 'grapheme', maxLength: 40 });
    const f32 = fc.float({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0));
    const tensor = fc.record(
      {
        dims: fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { maxLength: 4 }),
        data_type: fc.integer({ min: 0, max: 28 }),
        float_data: fc.array(f32, { maxLength: 8 }),
        int32_data: fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 8 }),
        int64_data: fc.array(int64, { maxLength: 8 }),
        name: text,
        raw_data: fc.uint8Array({ maxLength: 64 }),
        double_data: fc.array(
          fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
          { maxLength: 4 },
        ),
        external_data: fc.array(fc.record({ key: text, value: text }), { maxLength: 2 }),
      },
      { requiredKeys: [] },
    );
    const attribute = fc.record(
      {
        name: text,
        f: f32,
        i: int64,
        s: fc.uint8Array({ maxLength: 16 }),
        t: tensor,
        ints: fc.array(int64, { maxLength: 6 }),
        strings: fc.array(fc.uint8Array({ maxLength: 8 }), { maxLength: 3 }),
        type: fc.integer({ min: 0, max: 14 }),
      },
      { requiredKeys: [] },
    );
    const forProtobufjs = (m: unknown): unknown =>
      JSON.parse(
        JSON.stringify(m, (_, v) =>
          typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v,
        ),
      );
    fc.assert(
      fc.property(attribute, (msg) => {
        const bytes = encodeMessage(onnxSchema, 'AttributeProto', msg);
        const t = type('AttributeProto') as protobuf.Type;
        expect(
          Buffer.compare(bytes, t.encode(t.fromObject(forProtobufjs(msg) as Record<string, unknown>)).finish()),
        ).toBe(0);
        expect(ours(decodeMessage(onnxSchema, 'AttributeProto', bytes))).toEqual(ours(msg));
      }),
      { numRuns: 300, seed: 16 },
    );
  });

  it('keeps fields it does not know, through decodeModel and encodeModel', () => {
    // (cnn.onnx as our encoder writes it: its exporter left out the empty opset domain, which we write)
    const bytes = encodeModel(decodeModel(readFileSync('fixtures/cnn.onnx')));
    // field 99 (a string) on the model, field 42 (a varint) on the graph's first node, field 77 on the first tensor
    const extra = (field: number, wire: number, ...payload: number[]) => [...varint((field << 3) | wire), ...payload];
    const model = decodeMessage(onnxSchema, 'ModelProto', bytes);
    const graph = model.graph as Message;
    (graph.node as Message[])[0]!.$unknown = [Uint8Array.from(extra(42, 0, 0x96, 0x01))];
    (graph.initializer as Message[])[0]!.$unknown = [Uint8Array.from(extra(77, 5, 1, 2, 3, 4))];
    model.$unknown = [Uint8Array.from(extra(99, 2, 2, 0x68, 0x69))];
    const withUnknown = encodeMessage(onnxSchema, 'ModelProto', model);

    const ir = decodeModel(withUnknown);
    expect(ir.unknownFields).toEqual([Uint8Array.from(extra(99, 2, 2, 0x68, 0x69))]);
    expect(ir.graph.nodes[0]!.unknownFields).toEqual([Uint8Array.from(extra(42, 0, 0x96, 0x01))]);
    expect(ir.graph.initializers[0]!.initializer!.unknownFields).toEqual([Uint8Array.from(extra(77, 5, 1, 2, 3, 4))]);
    expect(Buffer.compare(encodeModel(ir), withUnknown)).toBe(0);
    // protobufjs skips them, and reads the rest alike
    expect(reference('ModelProto', withUnknown)).toEqual(reference('ModelProto', bytes));
  });

  it('reads packed and unpacked repeated scalars alike', () => {
    // AttributeProto.ints (8) unpacked [1, 2], then packed [3, 300]
    const bytes = Uint8Array.from([0x40, 1, 0x40, 2, 0x42, 3, 3, 0xac, 0x02]);
    expect(decodeMessage(onnxSchema, 'AttributeProto', bytes)).toEqual({ ints: [1, 2, 3, 300] });
  });

  it.each([
    ['a truncated model', readFileSync('fixtures/cnn.onnx').subarray(0, 1000)],
    ['a length past the end', Uint8Array.from([0x0a, 0x05, 0x61])],
    [
      'a varint that never ends',
      Uint8Array.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    ],
    ['wire type 7', Uint8Array.from([0x0f])],
    ['field number 0', Uint8Array.from([0x00, 0x01])],
    ['graphs nested 1000 deep', nested(1000)],
  ])('refuses %s with an Error', (_, bytes) => {
    expect(() => decodeMessage(onnxSchema, 'ModelProto', bytes)).toThrow(Error);
  });

  it('reads graphs nested as deep as real models nest them', () => {
    expect(() => decodeMessage(onnxSchema, 'ModelProto', nested(20))).not.toThrow();
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n > 0x7f; n >>>= 7) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
}

/** ModelProto bytes: graph > node > attribute > graph > ... `depth` graphs down. */
function nested(depth: number): Uint8Array {
  let inner: number[] = [];
  for (let i = 0; i < depth; i++) {
    const attribute = [0x32, ...varint(inner.length), ...inner]; // AttributeProto.g
    const node = [0x2a, ...varint(attribute.length), ...attribute]; // NodeProto.attribute
    inner = [0x0a, ...varint(node.length), ...node]; // GraphProto.node
  }
  return Uint8Array.from([0x3a, ...varint(inner.length), ...inner]); // ModelProto.graph
}
