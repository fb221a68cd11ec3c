// Shared by the runtime and CLI tests: small models built in code, hand-made .npy/.npz bytes, and fixture paths.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync } from 'node:zlib';
import { attr } from '../../src/ir/attribute.js';
import { Graph, Value } from '../../src/ir/graph.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DataType } from '../../src/tensor/dtype.js';

function newModel(name: string): Model {
  const m = new Model(new Graph(name));
  m.opsetImports = [{ domain: '', version: 17 }];
  m.producerName = 'onnx-opt runtime tests';
  return m;
}

/**
 * logits = x @ weights + bias, with x float [batch, features]. `weights` is features x classes.
 */
export function linearClassifier(weights: number[][], bias: number[], batch: number | string = 'batch'): Model {
  const m = newModel('linear');
  const g = m.graph;
  const features = weights.length;
  const classes = bias.length;
  const x = g.addInput(new Value('x', tensorType(DataType.FLOAT, [batch, features])));
  const w = g.addInitializer(
    'weights',
    Tensor.fromArray('', DataType.FLOAT, [features, classes], Float32Array.from(weights.flat())),
  );
  const b = g.addInitializer('bias', Tensor.fromArray('', DataType.FLOAT, [classes], Float32Array.from(bias)));
  const product = g.createNode({ opType: 'MatMul', inputs: [x, w] }).output();
  const logits = new Value('logits', tensorType(DataType.FLOAT, [batch, classes]));
  g.createNode({ opType: 'Add', inputs: [product, b], outputs: [logits] });
  g.outputs.push(logits);
  return m;
}

/**
 * A miniature text encoder: hidden = (word[input_ids] + type[token_type_ids]) * attention_mask, all inputs int64
 * [batch, sequence]. The word table has `vocab` rows, so ids at or above it make onnxruntime's Gather fail.
 */
export function embeddingModel(vocab = 50, width = 4): Model {
  const m = newModel('embed');
  const g = m.graph;
  const ids = (name: string) => g.addInput(new Value(name, tensorType(DataType.INT64, ['batch', 'sequence'])));
  const inputIds = ids('input_ids');
  const mask = ids('attention_mask');
  const types = ids('token_type_ids');
  const table = (name: string, rows: number, seed: number) =>
    g.addInitializer(
      name,
      Tensor.fromArray(
        '',
        DataType.FLOAT,
        [rows, width],
        Float32Array.from({ length: rows * width }, (_, i) => Math.sin(i * seed)),
      ),
    );
  const words = g.createNode({ opType: 'Gather', inputs: [table('word_embeddings', vocab, 0.37), inputIds] }).output();
  const typed = g.createNode({ opType: 'Gather', inputs: [table('token_type_embeddings', 2, 1.3), types] }).output();
  const sum = g.createNode({ opType: 'Add', inputs: [words, typed], name: 'embeddings_add' }).output();
  const maskFloat = g.createNode({ opType: 'Cast', inputs: [mask], attributes: [attr('to', DataType.FLOAT)] }).output();
  const axes = g.addInitializer('axes', Tensor.fromArray('', DataType.INT64, [1], [-1]));
  const mask3 = g.createNode({ opType: 'Unsqueeze', inputs: [maskFloat, axes] }).output();
  const hidden = new Value('last_hidden_state', tensorType(DataType.FLOAT, ['batch', 'sequence', width]));
  g.createNode({ opType: 'Mul', inputs: [sum, mask3], outputs: [hidden] });
  g.outputs.push(hidden);
  return m;
}

/** Adds `delta` to one element of an initializer (a "broken" copy of a model). */
export function nudgeInitializer(model: Model, name: string, index: number, delta: number): void {
  const v = model.graph.initializers.find((i) => i.name === name);
  if (!v) throw new Error(`no initializer ${name}`);
  const t = v.initializer!;
  const values = Float32Array.from(t.toFloat32());
  values[index]! += delta;
  v.initializer = Tensor.fromArray(t.name, t.dataType, t.dims, values);
}

export function writeModelFile(dir: string, name: string, model: Model): string {
  const path = join(dir, name);
  writeFileSync(path, encodeModel(model));
  return path;
}

// ---- .npy / .npz written by hand, the way numpy lays them out

/** .npy bytes: magic, version 1.0, a header dict padded with spaces to a 64-byte boundary, then the raw data. */
export function npyBytes(
  descr: string,
  shape: number[],
  data: ArrayBufferView,
  options: { fortran?: boolean; version?: 1 | 2 } = {},
): Uint8Array {
  const version = options.version ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${options.fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const prefix = version === 1 ? 10 : 12;
  const total = Math.ceil((prefix + header.length + 1) / 64) * 64;
  header = header.padEnd(total - prefix - 1) + '\n';
  const out = new Uint8Array(prefix + header.length + data.byteLength);
  out.set([0x93, ...Array.from('NUMPY', (c) => c.charCodeAt(0)), version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(
    Array.from(header, (c) => c.charCodeAt(0)),
    prefix,
  );
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), prefix + header.length);
  return out;
}

/** A zip archive of `name.npy` entries, stored or deflated, with a central directory and end record. */
export function npzBytes(arrays: Record<string, Uint8Array>, method: 'stored' | 'deflated' = 'stored'): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [key, npy] of Object.entries(arrays)) {
    const name = new TextEncoder().encode(`${key}.npy`);
    const body = method === 'stored' ? npy : new Uint8Array(deflateRawSync(npy));
    const code = method === 'stored' ? 0 : 8;
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, code, true);
    lv.setUint32(14, crc32(npy), true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, npy.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const entry = new Uint8Array(46 + name.length);
    const cv = new DataView(entry.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, code, true);
    cv.setUint32(16, crc32(npy), true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, npy.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    entry.set(name, 46);
    parts.push(local, body);
    central.push(entry);
    offset += local.length + body.length;
  }
  const directorySize = central.reduce((n, c) => n + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, central.length, true);
  ev.setUint16(10, central.length, true);
  ev.setUint32(12, directorySize, true);
  ev.setUint32(16, offset, true);
  const all = [...parts, ...central, end];
  const out = new Uint8Array(all.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of all) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---- fixtures produced by fixtures/export_models.py

const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));

/** Fixture tests run once the generator has written its manifest. */
export const haveFixtures = existsSync(join(FIXTURES, 'manifest.json'));

/** A fixture's path; missing files fail the test, since the manifest says the fixtures were generated. */
export function fixture(name: string): string {
  const path = join(FIXTURES, name);
  if (!existsSync(path))
    throw new Error(
      `fixtures/${name} is missing although fixtures/manifest.json exists (run fixtures/export_models.py)`,
    );
  return path;
}
