// Materializes the seed models' external weights (see ../shared/models/README.md): every external range is
// filled with random values of its tensor's type, seeded by the tensor's name (so a model and its optimized forms
// read the same weights wherever their tensors share names). Output goes to .bench/models (git-ignored).
// Skeletons kept in the repository (test/bench/models, see its README) are found first, then ../shared/models.
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readModel } from '../../src/io/read.js';
import { DataType, dataTypeName } from '../../src/tensor/dtype.js';
import { numberToFloat16Bits } from '../../src/tensor/float16.js';

export const SHARED_MODELS = resolve(process.env.ONNX_OPT_SHARED_MODELS ?? '../shared/models');
export const REPO_SKELETONS = resolve('test/bench/models');
export const BENCH_MODELS = resolve('.bench/models');

/** A 32-bit xorshift pair -> uniform [0,1); Box-Muller for normals. Deterministic per seed, fast in JS numbers. */
function rng(seed: number) {
  let s0 = (seed * 0x9e3779b9) | 1;
  let s1 = ((seed * 0x85ebca6b) ^ 0x6a09e667) | 1;
  const uniform = () => {
    let x = s0;
    const y = s1;
    s0 = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    s1 = x;
    return ((s0 + s1) >>> 0) / 4294967296;
  };
  let spare: number | undefined;
  const normal = () => {
    if (spare !== undefined) {
      const v = spare;
      spare = undefined;
      return v;
    }
    const u = Math.max(uniform(), 1e-12);
    const r = Math.sqrt(-2 * Math.log(u));
    const th = 2 * Math.PI * uniform();
    spare = r * Math.sin(th);
    return r * Math.cos(th);
  };
  return { uniform, normal };
}

/** FNV-1a of a tensor's name: a tensor gets the same values in every skeleton that has it (a model and its optimized forms). */
function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0 || 1;
}

/**
 * onnxruntime's RotaryEmbedding caches (its optimizer's `cos_cache`/`sin_cache`, [positions, head_dim / 2]) hold
 * computed values, not weights: cos/sin(p / 10000^(2i / head_dim)), Llama's default rope_theta.
 */
function rotaryCache(name: string, dims: readonly number[]): Uint8Array | undefined {
  if ((name !== 'cos_cache' && name !== 'sin_cache') || dims.length !== 2) return undefined;
  const [positions, half] = dims as [number, number];
  const values = new Float32Array(positions * half);
  const f = name === 'cos_cache' ? Math.cos : Math.sin;
  for (let i = 0; i < half; i++) {
    const inverse = Math.fround(1 / 10000 ** ((2 * i) / (2 * half)));
    for (let p = 0; p < positions; p++) values[p * half + i] = f(Math.fround(p * inverse));
  }
  return new Uint8Array(values.buffer);
}

function fill(dataType: number, length: number, seed: number): Uint8Array {
  const r = rng(seed);
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  switch (dataType) {
    case DataType.FLOAT: {
      const f = new Float32Array(bytes.buffer);
      for (let i = 0; i < f.length; i++) f[i] = 0.02 * r.normal();
      break;
    }
    case DataType.FLOAT16:
      for (let i = 0; i < length / 2; i++) view.setUint16(i * 2, numberToFloat16Bits(0.02 * r.normal()), true);
      break;
    case DataType.INT8:
      for (let i = 0; i < length; i++) view.setInt8(i, Math.floor(r.uniform() * 128) - 64);
      break;
    case DataType.UINT8:
      for (let i = 0; i < length; i++) bytes[i] = Math.floor(r.uniform() * 256);
      break;
    case DataType.INT64:
      for (let i = 0; i < length / 8; i++) view.setBigInt64(i * 8, BigInt(Math.floor(r.uniform() * 100)), true);
      break;
    default:
      throw new Error(`no filler for ${dataTypeName(dataType)}`);
  }
  return bytes;
}

/** Copies a skeleton into `outDir` and writes its weights file there (skipped if already present). */
export function materialize(name: string, outDir = BENCH_MODELS): string {
  mkdirSync(outDir, { recursive: true });
  const inRepo = join(REPO_SKELETONS, `${name}.onnx`);
  const src = existsSync(inRepo) ? inRepo : join(SHARED_MODELS, `${name}.onnx`);
  const dst = join(outDir, `${name}.onnx`);
  const model = readModel(src, { checkExternal: false });
  const files = new Map<string, number>();
  const ranges: {
    location: string;
    offset: number;
    length: number;
    dataType: number;
    seed: number;
    computed?: Uint8Array;
  }[] = [];
  for (const v of model.graph.initializers) {
    const t = v.initializer!;
    const ext = t.externalSource;
    const computed = t.dataType === DataType.FLOAT ? rotaryCache(v.name, t.dims) : undefined;
    if (ext)
      ranges.push({ ...ext.where, dataType: t.dataType, seed: seedOf(v.name), ...(computed ? { computed } : {}) });
  }
  for (const r of ranges) files.set(r.location, Math.max(files.get(r.location) ?? 0, r.offset + r.length));
  copyFileSync(src, dst);
  for (const [location, size] of files) {
    const path = join(outDir, location);
    if (existsSync(path)) continue;
    const fd = openSync(`${path}.tmp`, 'w');
    try {
      writeSync(fd, new Uint8Array(1), 0, 1, size - 1);
      for (const r of ranges.filter((x) => x.location === location))
        writeSync(fd, r.computed ?? fill(r.dataType, r.length, r.seed), 0, r.length, r.offset);
    } finally {
      closeSync(fd);
    }
    renameSync(`${path}.tmp`, path);
  }
  return dst;
}

if (process.argv[1]?.endsWith('materialize.js')) {
  const names = process.argv.slice(2);
  const skeletons = (dir: string) =>
    existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => f.endsWith('.onnx'))
          .map((f) => f.slice(0, -5))
      : [];
  const all = [...new Set([...skeletons(REPO_SKELETONS), ...skeletons(SHARED_MODELS)])];
  for (const n of names.length ? names : all) console.log(materialize(n));
}
