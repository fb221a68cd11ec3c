// File I/O: external data in all three modes, writing over an earlier output, atomic writes, and bad files that must fail
// with one clear OnnxOptError naming the file.
import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OnnxOptError } from '../../src/errors.js';
import { readModel } from '../../src/io/read.js';
import { sidecarName, writeModel } from '../../src/io/write.js';
import { Value } from '../../src/ir/graph.js';
import { Scratch, Tensor, type ExternalLocation } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/serde/encode.js';
import { ModelProto } from '../helpers/protobufjs-onnx.js';
import { DataType } from '../../src/tensor/dtype.js';
import { describeModel } from '../helpers/describe-ir.js';
import { mlpModel } from '../helpers/models.js';
import { uniformFloats } from '../kit/random.js';
import { DECODERS } from '../helpers/normalize.js';
import { tempFolder } from '../kit/temp.js';

const root = tempFolder('io');
let folders = 0;
/** A fresh empty folder per test. */
const folder = () => {
  const dir = join(root, `case-${++folders}`);
  mkdirSync(dir);
  return dir;
};

interface ExternalEntry {
  location: string;
  offset: number;
  length: number;
}

/** The external_data entries of the top graph's initializers in a written file, by tensor name. */
function externalEntries(path: string): Map<string, ExternalEntry> {
  const proto = ModelProto.toObject(ModelProto.decode(readFileSync(path)), { longs: String }) as {
    graph: {
      initializer?: { name: string; data_location?: number; external_data?: { key: string; value: string }[] }[];
    };
  };
  const out = new Map<string, ExternalEntry>();
  for (const t of proto.graph.initializer ?? []) {
    if (t.data_location !== 1) continue;
    const get = (k: string) => t.external_data!.find((e) => e.key === k)?.value;
    out.set(t.name, { location: get('location')!, offset: Number(get('offset')), length: Number(get('length')) });
  }
  return out;
}

describe('writeModel / readModel with external data', () => {
  const model = mlpModel(32);
  const expected = describeModel(model);

  it("'always' puts tensors over the threshold in <stem>.onnx_data at 4096-aligned offsets", () => {
    const dir = folder();
    const path = join(dir, 'mlp.onnx');
    writeModel(model, path, { externalData: 'always' });
    expect(sidecarName(path)).toBe('mlp.onnx_data');
    expect(readdirSync(dir).sort()).toEqual(['mlp.onnx', 'mlp.onnx_data']);

    const entries = externalEntries(path);
    expect([...entries.keys()].sort()).toEqual(['w1', 'w2']);
    const sidecar = readFileSync(join(dir, 'mlp.onnx_data'));
    for (const [name, e] of entries) {
      expect(e.location).toBe('mlp.onnx_data');
      expect(e.offset % 4096, name).toBe(0);
      const tensor = model.graph.initializers.find((v) => v.name === name)!.initializer!;
      expect(Buffer.compare(sidecar.subarray(e.offset, e.offset + e.length), tensor.bytes()), name).toBe(0);
    }
    const back = readModel(path);
    expect(back.graph.initializers.find((v) => v.name === 'w1')!.initializer!.isLoaded).toBe(false);
    expect(describeModel(back)).toEqual(expected);
  });

  it('peekFloat32 reads external tensors into one reused scratch buffer, keeping nothing', () => {
    const dir = folder();
    const path = join(dir, 'mlp.onnx');
    writeModel(model, path, { externalData: 'always' });
    const back = readModel(path);
    const scratch = new Scratch();
    const [w1, w2] = ['w1', 'w2'].map((name) => back.graph.initializers.find((v) => v.name === name)!.initializer!);
    const first = w1!.peekFloat32(scratch);
    expect(Array.from(first)).toEqual(
      Array.from(model.graph.initializers.find((v) => v.name === 'w1')!.initializer!.toFloat32()),
    );
    const second = w2!.peekFloat32(scratch);
    expect(second.buffer, 'the same buffer serves both').toBe(first.buffer);
    expect(Array.from(second)).toEqual(
      Array.from(model.graph.initializers.find((v) => v.name === 'w2')!.initializer!.toFloat32()),
    );
    expect(w1!.isLoaded || w2!.isLoaded, 'nothing is kept').toBe(false);
    // in-memory tensors come back as views of their own data
    const inMemory = model.graph.initializers.find((v) => v.name === 'w1')!.initializer!;
    expect(inMemory.peekFloat32(scratch).buffer).toBe(inMemory.toFloat32().buffer);
  });

  it('writes a tensor made on demand (a lazy source without a file) through a scratch buffer, the same bytes', () => {
    const dir = folder();
    const path = join(dir, 'made.onnx');
    const values = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i));
    let loads = 0;
    const made = new Tensor('w1', DataType.FLOAT, [64, 64], {
      byteLength: values.byteLength,
      load: (into?: Uint8Array) => {
        loads++;
        const bytes = into ?? new Uint8Array(values.byteLength);
        bytes.set(new Uint8Array(values.buffer));
        return bytes.subarray(0, values.byteLength);
      },
    });
    const m = mlpModel(64);
    m.graph.initializers.find((v) => v.name === 'w1')!.initializer = made;
    for (const mode of ['always', 'never'] as const) {
      writeModel(m, path, { externalData: mode });
      const back = readModel(path).graph.initializers.find((v) => v.name === 'w1')!.initializer!;
      expect(Array.from(back.toFloat32()), mode).toEqual(Array.from(values));
    }
    expect(loads).toBeGreaterThan(0);
    expect(made.isLoaded, 'writing does not keep it').toBe(false);
  });

  it("'never' and 'auto' on an in-memory model write one self-contained file", () => {
    for (const mode of ['never', 'auto'] as const) {
      const dir = folder();
      const path = join(dir, 'mlp.onnx');
      writeModel(model, path, { externalData: mode });
      expect(readdirSync(dir)).toEqual(['mlp.onnx']);
      expect(externalEntries(path).size).toBe(0);
      expect(describeModel(readModel(path))).toEqual(expected);
    }
  });

  it("'auto' keeps a model read with external data external; the threshold is respected", () => {
    const dir = folder();
    const first = join(dir, 'first.onnx');
    writeModel(model, first, { externalData: 'always', externalThreshold: 100 });
    expect([...externalEntries(first).keys()].sort()).toEqual(['b', 'w1', 'w2']);
    const second = join(dir, 'second.onnx');
    writeModel(readModel(first), second);
    expect([...externalEntries(second).values()].map((e) => e.location)).toEqual([
      'second.onnx_data',
      'second.onnx_data',
    ]);
    expect(describeModel(readModel(second))).toEqual(expected);
  });

  it('a model read with external data and written inline is the same model', () => {
    const dir = folder();
    const external = join(dir, 'external.onnx');
    writeModel(model, external, { externalData: 'always' });
    const inline = join(dir, 'inline.onnx');
    writeModel(readModel(external), inline, { externalData: 'never' });
    expect(existsSync(join(dir, 'inline.onnx_data'))).toBe(false);
    expect(describeModel(readModel(inline))).toEqual(describeModel(readModel(external)));

    // Also at the protobuf level: external tensors compared by their bytes in the sidecar.
    const sidecar = readFileSync(join(dir, 'external.onnx_data'));
    const readExternal = (location: string, offset: number, length = sidecar.length - offset) => {
      expect(location).toBe('external.onnx_data');
      return sidecar.subarray(offset, offset + length);
    };
    for (const decoder of DECODERS) {
      expect(decoder.decode(readFileSync(inline)), decoder.name).toEqual(
        decoder.decode(readFileSync(external), readExternal),
      );
    }
  });

  it('writing over an earlier output (not an input: see inputs-sacred.test.ts) replaces it', () => {
    for (const mode of ['auto', 'always', 'never'] as const) {
      const dir = folder();
      const path = join(dir, 'model.onnx');
      writeModel(mlpModel(16), path, { externalData: 'always' });
      writeModel(model, path, { externalData: mode });
      expect(
        readdirSync(dir).filter((f) => f.includes('.tmp') || f.includes('.old')),
        mode,
      ).toEqual([]);
      expect(describeModel(readModel(path)), mode).toEqual(expected);
    }
  });
});

describe('atomic writes', () => {
  /** A float tensor whose bytes cannot be produced, as when a lazy source fails midway through a save. */
  const failingTensor = (count: number) =>
    new Tensor('broken', DataType.FLOAT, [count], {
      byteLength: count * 4,
      load: () => {
        throw new Error('source vanished');
      },
    });

  it('leaves nothing behind when the folder does not exist', () => {
    const dir = folder();
    const path = join(dir, 'missing', 'model.onnx');
    const e = catchError(() => writeModel(mlpModel(4), path));
    expect(e.file).toBe(path);
    expect(e.message).not.toMatch(/[\r\n\u2028\u2029]/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it.each([
    ['inline, encoded by protobufjs', 'never', 16],
    ['inline, streamed', 'never', 32 * 1024],
    ['external', 'always', 1024],
  ] as const)('leaves no temp file and keeps the old output when a tensor fails (%s)', (_, externalData, count) => {
    const dir = folder();
    const path = join(dir, 'model.onnx');
    writeModel(mlpModel(4), path, { externalData: 'always' });
    const before = [readFileSync(path), readFileSync(join(dir, 'model.onnx_data'))];
    const model = mlpModel(4);
    const broken = model.graph.addInitializer('broken', failingTensor(count));
    model.graph.outputs.push(broken);

    const e = catchError(() => writeModel(model, path, { externalData }));
    expect(e.file).toBe(path);
    expect(e.message).toContain('source vanished');
    expect(readdirSync(dir).sort()).toEqual(['model.onnx', 'model.onnx_data']);
    expect([readFileSync(path), readFileSync(join(dir, 'model.onnx_data'))]).toEqual(before);
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
}

/** ModelProto bytes whose graph holds a node whose attribute holds a graph ..., `depth` levels down. */
function nestedGraphs(depth: number): Uint8Array {
  // From the outside in, the fields are GraphProto.node, NodeProto.attribute, AttributeProto.g, again and again.
  const tags = [0x0a, 0x2a, 0x32];
  const levels = depth * 3;
  const bodyLengths: number[] = [];
  let inner = 0;
  for (let i = 0; i < levels; i++) {
    bodyLengths.push(inner);
    inner += 1 + varint(inner).length;
  }
  const out = [0x3a /* ModelProto.graph */, ...varint(inner)];
  for (let k = 0; k < levels; k++) out.push(tags[k % 3]!, ...varint(bodyLengths[levels - 1 - k]!));
  return Uint8Array.from(out);
}

/** Runs f, which must throw an OnnxOptError, and returns it. */
function catchError(f: () => unknown): OnnxOptError {
  try {
    f();
  } catch (e) {
    if (e instanceof OnnxOptError) return e;
    throw new Error(`expected an OnnxOptError, got ${String(e)}`, { cause: e });
  }
  throw new Error('expected an OnnxOptError, nothing was thrown');
}

describe('readModel rejects bad files with one line naming the file', () => {
  const valid = encodeModel(mlpModel(4));
  const dir = folder();
  const file = (name: string, bytes: Uint8Array) => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };
  /** A model whose two weights point into the sidecar through `place`. */
  const externalModel = (name: string, place: (t: Tensor) => ExternalLocation) => {
    const model = mlpModel(32);
    const bytes = encodeModel(model, (t) => (t.byteLength >= 1024 ? place(t) : 'inline'));
    return file(name, bytes);
  };
  writeFileSync(join(dir, 'data.bin'), new Uint8Array(8192));
  const at = (location: string, offset: number, t: Tensor): ExternalLocation => ({
    location,
    offset,
    length: t.byteLength,
    extra: [],
  });

  const hugeClaim = ModelProto.encode(
    ModelProto.fromObject({
      ir_version: 10,
      graph: {
        name: 'g',
        initializer: [{ name: 'w', data_type: DataType.FLOAT, dims: [30000, 30000], float_data: [1] }],
      },
    }),
  ).finish();
  // A node reads 'ghost', which nothing defines.
  const dangling = mlpModel(4);
  dangling.graph.createNode({ opType: 'Neg', inputs: [new Value('ghost')] });
  const twoLines = mlpModel(4);
  twoLines.graph.createNode({ opType: 'Neg', inputs: [new Value('two\nlines')] });

  const cases: [string, () => string, RegExp][] = [
    ['truncated file', () => file('truncated.onnx', valid.subarray(0, valid.length - 20)), /not a valid ONNX model/],
    ['random bytes', () => file('random.onnx', new Uint8Array(uniformFloats(128, 7).buffer)), /not a valid ONNX model/],
    // ir_version (field 1, varint) sent as a length-delimited field, and graph (field 7, message) as a varint:
    // protobuf skips fields whose wire type does not match, so what remains is a model without a graph.
    ['wrong wire types', () => file('wire.onnx', Uint8Array.of(0x0a, 0x02, 0x08, 0x01, 0x38, 0x05)), /no graph/],
    ['invalid wire type', () => file('wire7.onnx', Uint8Array.of(0x3f, 0x01)), /not a valid ONNX model/],
    ['empty file', () => file('empty.onnx', new Uint8Array()), /no graph/],
    ['a folder', () => dir, /folder/],
    ['a missing file', () => join(dir, 'nope.onnx'), /no such file/],
    [
      'missing external data file',
      () => externalModel('no-data.onnx', (t) => at('absent.bin', 0, t)),
      /absent\.bin.*does not exist/,
    ],
    [
      'out-of-range external offset',
      () => externalModel('range.onnx', (t) => at('data.bin', 8192, t)),
      /'data\.bin' is 8192 bytes, but a tensor needs bytes 8192\.\./,
    ],
    ['external location outside the folder', () => externalModel('escape.onnx', (t) => at('../x', 0, t)), /outside/],
    [
      'absolute external location',
      () => externalModel('absolute.onnx', (t) => at(join(dir, 'data.bin'), 0, t)),
      /outside/,
    ],
    ['dangling value reference', () => file('dangling.onnx', encodeModel(dangling)), /'ghost' is not produced/],
    [
      'a line break in a quoted name',
      () => file('newline.onnx', encodeModel(twoLines)),
      /'two\\u000alines' is not produced/,
    ],
    ['subgraphs nested 1000 deep', () => file('deep.onnx', nestedGraphs(1000)), /not a valid ONNX model/],
    [
      'dims claiming 3.6 GB of floats with one value stored',
      () => file('huge.onnx', hugeClaim),
      /needs 900000000 values in float_data, has 1/,
    ],
  ];

  it.each(cases)('%s', (_, makePath, message) => {
    const path = makePath();
    const e = catchError(() => readModel(path));
    expect(e.file).toBe(path);
    expect(e.message).toMatch(message);
    expect(e.message).not.toMatch(/[\r\n\u2028\u2029]/);
    expect(String(e)).toBe(`${path}: ${e.message}`);
  });

  it('the valid model those files were made from reads fine', () => {
    expect(describeModel(readModel(file('valid.onnx', valid)))).toEqual(describeModel(mlpModel(4)));
  });

  it('an external data file cut short after reading is reported when the tensor is used', () => {
    const d = folder();
    const path = join(d, 'm.onnx');
    writeModel(mlpModel(32), path, { externalData: 'always' });
    const model = readModel(path);
    truncateSync(join(d, 'm.onnx_data'), 100);
    const w2 = model.graph.initializers.find((v) => v.name === 'w2')!.initializer!;
    const e = catchError(() => w2.bytes());
    expect(e.file).toBe(path);
    expect(e.message).not.toMatch(/[\r\n\u2028\u2029]/);
  });
});
