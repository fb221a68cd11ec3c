// numpy .npy and .npz bytes: the arrays a Python user saves with np.save / np.savez / np.savez_compressed.
// A .npz is a zip archive of .npy entries, stored or deflated; numpy writes zip64 fields, so those are read too.
// No Node built-ins (deflate is ./inflate.ts), so datasets read in a browser too; src/io/npz.ts reads files.
import { OnnxOptError } from '../errors.js';
import { DataType, type TypedArray } from '../tensor/dtype.js';
import { crc32, inflateRaw } from './inflate.js';

/** One array: ONNX element type, dims and data (float16 as Uint16Array bits, bool as Uint8Array 0/1). */
export interface NpyArray {
  dataType: number;
  dims: number[];
  data: TypedArray;
}

interface NpyDtype {
  dataType: number;
  width: number;
  make: (buffer: ArrayBufferLike, byteOffset: number, length: number) => TypedArray;
}

/** The dtypes we read, by numpy `descr` (little endian or byte-sized only). */
const DTYPES: Record<string, NpyDtype> = {
  '<f4': { dataType: DataType.FLOAT, width: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  '<f8': { dataType: DataType.DOUBLE, width: 8, make: (b, o, n) => new Float64Array(b, o, n) },
  '<f2': { dataType: DataType.FLOAT16, width: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  '<i8': { dataType: DataType.INT64, width: 8, make: (b, o, n) => new BigInt64Array(b, o, n) },
  '<i4': { dataType: DataType.INT32, width: 4, make: (b, o, n) => new Int32Array(b, o, n) },
  '|i1': { dataType: DataType.INT8, width: 1, make: (b, o, n) => new Int8Array(b, o, n) },
  '|u1': { dataType: DataType.UINT8, width: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  '|b1': { dataType: DataType.BOOL, width: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Parses one .npy file's bytes. `label` names it in errors. */
export function parseNpy(bytes: Uint8Array, label = '<npy>'): NpyArray {
  const fail = (why: string) => new OnnxOptError(why, label);
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw fail('not a .npy array (bad magic bytes)');
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerStart = 10;
    headerLength = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    headerStart = 12;
    headerLength = view.getUint32(8, true);
  } else throw fail(`unsupported .npy format version ${major}`);
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.byteLength) throw fail('.npy header runs past the end of the file');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw fail(`cannot parse .npy header ${header.trim()}`);
  if (fortran === 'True')
    throw fail('Fortran-ordered arrays are not supported: save a C-ordered copy (np.ascontiguousarray)');
  const dtype = DTYPES[descr];
  if (!dtype) throw fail(`unsupported dtype '${descr}' (supported: ${Object.keys(DTYPES).join(', ')})`);
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      if (!/^\d+$/.test(s)) throw fail(`bad dim '${s}' in .npy shape`);
      return Number(s);
    });

  const count = dims.reduce((n, d) => n * d, 1);
  const byteLength = count * dtype.width;
  if (dataStart + byteLength > bytes.byteLength) {
    throw fail(
      `.npy data is ${bytes.byteLength - dataStart} bytes, shape (${dims.join(', ')}) of '${descr}' needs ${byteLength}`,
    );
  }
  const absolute = bytes.byteOffset + dataStart;
  // Typed views need aligned offsets; stored zip entries start anywhere, so copy those (into a fresh buffer:
  // Buffer#slice would return a view).
  let data: TypedArray;
  if (absolute % dtype.width === 0) data = dtype.make(bytes.buffer, absolute, count);
  else {
    const copy = new Uint8Array(byteLength);
    copy.set(bytes.subarray(dataStart, dataStart + byteLength));
    data = dtype.make(copy.buffer, 0, count);
  }
  return { dataType: dtype.dataType, dims, data };
}

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;

/** Decompresses raw DEFLATE data of a known size. */
export type Inflate = (compressed: Uint8Array, size: number) => Uint8Array;

/**
 * Parses a .npz archive's bytes into arrays keyed by name (the entry name without `.npy`). Deflated entries go
 * through `inflate`: ./inflate.ts by default, which runs anywhere; in Node, zlib's is about 4x faster.
 */
export function parseNpz(bytes: Uint8Array, label = '<npz>', inflate: Inflate = inflateRaw): Map<string, NpyArray> {
  const arrays = new Map<string, NpyArray>();
  for (const entry of zipEntries(bytes, label)) {
    if (!entry.name.endsWith('.npy')) continue;
    const key = entry.name.slice(0, -'.npy'.length);
    arrays.set(key, parseNpy(entryBytes(bytes, entry, label, inflate), `${label}[${key}]`));
  }
  return arrays;
}

/** True when the bytes are a .npy array rather than a .npz archive. */
export function isNpy(bytes: Uint8Array): boolean {
  return MAGIC.every((b, i) => bytes[i] === b);
}

function zipEntries(bytes: Uint8Array, label: string): ZipEntry[] {
  const fail = (why: string) => new OnnxOptError(`not a readable .npz archive: ${why}`, label);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number) => Number(view.getBigUint64(at, true));

  // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let at = bytes.byteLength - 22; at >= Math.max(0, bytes.byteLength - 22 - 0xffff); at--) {
    if (u32(at) === SIG_EOCD) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) throw fail('no end-of-central-directory record (not a zip file)');
  let count = u16(eocd + 10);
  let directoryOffset = u32(eocd + 16);
  if ((count === 0xffff || directoryOffset === U32_MAX) && eocd >= 20 && u32(eocd - 20) === SIG_ZIP64_LOCATOR) {
    const zip64 = u64(eocd - 20 + 8);
    if (zip64 + 56 > bytes.byteLength || u32(zip64) !== SIG_ZIP64_EOCD) throw fail('bad zip64 end record');
    count = u64(zip64 + 32);
    directoryOffset = u64(zip64 + 48);
  }

  const entries: ZipEntry[] = [];
  let at = directoryOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.byteLength || u32(at) !== SIG_CENTRAL) throw fail(`central directory entry ${i} is damaged`);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const commentLength = u16(at + 32);
    const entry: ZipEntry = {
      name: new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength)),
      flags: u16(at + 8),
      method: u16(at + 10),
      crc: u32(at + 16),
      compressedSize: u32(at + 20),
      size: u32(at + 24),
      localHeaderOffset: u32(at + 42),
    };
    readZip64Extra(bytes.subarray(at + 46 + nameLength, at + 46 + nameLength + extraLength), entry);
    entries.push(entry);
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** Replaces 0xFFFFFFFF sizes and offsets with their values from the zip64 extra field (id 1). */
function readZip64Extra(extra: Uint8Array, entry: ZipEntry): void {
  const view = new DataView(extra.buffer, extra.byteOffset, extra.byteLength);
  for (let at = 0; at + 4 <= extra.byteLength;) {
    const id = view.getUint16(at, true);
    const size = view.getUint16(at + 2, true);
    if (id === 1) {
      let field = at + 4;
      const next = () => {
        const v = Number(view.getBigUint64(field, true));
        field += 8;
        return v;
      };
      // Only the fields that overflowed are present, in this order.
      if (entry.size === U32_MAX) entry.size = next();
      if (entry.compressedSize === U32_MAX) entry.compressedSize = next();
      if (entry.localHeaderOffset === U32_MAX) entry.localHeaderOffset = next();
      return;
    }
    at += 4 + size;
  }
}

function entryBytes(bytes: Uint8Array, entry: ZipEntry, label: string, inflate: Inflate): Uint8Array {
  const fail = (why: string) => new OnnxOptError(`entry '${entry.name}': ${why}`, label);
  if (entry.flags & 1) throw fail('encrypted entries are not supported');
  const local = entry.localHeaderOffset;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (local + 30 > bytes.byteLength || view.getUint32(local, true) !== SIG_LOCAL) throw fail('local header is damaged');
  const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
  if (start + entry.compressedSize > bytes.byteLength) throw fail('data runs past the end of the archive');
  const raw = bytes.subarray(start, start + entry.compressedSize);
  let data: Uint8Array;
  if (entry.method === 0) data = raw;
  else if (entry.method === 8) {
    try {
      data = inflate(raw, entry.size);
    } catch (e) {
      throw fail(`cannot inflate (${(e as Error).message})`);
    }
  } else throw fail(`compression method ${entry.method} is not supported (only stored and deflated)`);
  if (data.byteLength !== entry.size) throw fail(`holds ${data.byteLength} bytes, the directory says ${entry.size}`);
  if (crc32(data) !== entry.crc) throw fail('checksum mismatch (the archive is damaged)');
  return data;
}
