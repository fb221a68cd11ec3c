import { OnnxOptError } from '../errors.js';
import { DataType, byteLengthOf, dataTypeName, typedArrayFor, type TypedArray } from '../tensor/dtype.js';
import { bfloat16BitsToNumber, float16BitsToNumber } from '../tensor/float16.js';

export type StringEntries = [key: string, value: string][];

/** Where an externally stored tensor's bytes are: a file relative to the model's folder. */
export interface ExternalLocation {
  location: string;
  offset: number;
  length: number;
  /** Entries of external_data other than location/offset/length (e.g. checksum), kept as they were. */
  extra: StringEntries;
}

/**
 * Reads an external tensor's bytes on demand, into `into` when given (a buffer at least that long) rather than new
 * memory; supplied by the I/O layer, so the IR never touches files.
 */
export type ExternalLoader = (where: ExternalLocation, into?: Uint8Array) => Uint8Array;

/** A byte source that is not in memory yet. */
export interface LazyBytes {
  byteLength: number;
  /** The bytes, read into `into` when given (at least byteLength long) rather than new memory. */
  load: (into?: Uint8Array) => Uint8Array;
  /** Set when the bytes sit unchanged in an external file, so a writer may copy them without loading. */
  external?: { where: ExternalLocation; loader: ExternalLoader };
}

/**
 * One buffer reused for data needed only for a moment: lazily stored tensors are read into it rather than into fresh
 * memory, whose page faults can cost ten times the read itself.
 */
export class Scratch {
  private buffer = new Uint8Array(0);

  /** The first `byteLength` bytes of the buffer, grown when too small; whatever they held is gone. */
  take(byteLength: number): Uint8Array {
    if (this.buffer.byteLength < byteLength) this.buffer = new Uint8Array(byteLength);
    return this.buffer.subarray(0, byteLength);
  }
}

/**
 * A dense tensor: type, dims and bytes in ONNX raw_data layout (little endian, sub-byte types packed).
 * Bytes stay views on the buffer they were read from; external data is read when first asked for.
 */
export class Tensor {
  name: string;
  readonly dataType: number;
  readonly dims: readonly number[];
  docString = '';
  metadataProps: StringEntries = [];
  /** Fields of the protobuf message this was read from that ONNX 1.23.1 does not define, written back as read. */
  unknownFields?: Uint8Array[];
  /** TensorProto.segment, kept for round-trips. */
  segment?: { begin: number; end: number };
  private bytesOrLazy: Uint8Array | LazyBytes | undefined;
  /** STRING tensors keep their elements here, as bytes. */
  readonly strings: Uint8Array[] | undefined;

  constructor(name: string, dataType: number, dims: readonly number[], data: Uint8Array | LazyBytes | Uint8Array[]) {
    this.name = name;
    this.dataType = dataType;
    this.dims = dims;
    const count = elementCount(dims);
    if (dataType === DataType.STRING) {
      if (!Array.isArray(data)) throw new OnnxOptError(`tensor '${name}': string tensor needs string elements`);
      if (data.length !== count)
        throw new OnnxOptError(`tensor '${name}': has ${data.length} strings, dims ${fmtDims(dims)} need ${count}`);
      this.strings = data;
      return;
    }
    if (Array.isArray(data)) throw new OnnxOptError(`tensor '${name}': only string tensors hold string elements`);
    const expected = byteLengthOf(dataType, count);
    if (data.byteLength !== expected) {
      throw new OnnxOptError(
        `tensor '${name}' (${dataTypeName(dataType)} ${fmtDims(dims)}): data has ${data.byteLength} bytes, expected ${expected}`,
      );
    }
    this.bytesOrLazy = data;
  }

  /** Tensor from a typed array (copied only if it is not a plain little-endian view already). */
  static fromArray(
    name: string,
    dataType: number,
    dims: readonly number[],
    values: TypedArray | readonly number[],
  ): Tensor {
    const Ctor = typedArrayFor(dataType);
    if (!Ctor) throw new OnnxOptError(`cannot build a ${dataTypeName(dataType)} tensor from numbers`);
    let arr: TypedArray;
    if (ArrayBuffer.isView(values) && values.constructor === Ctor) arr = values as TypedArray;
    else if (Ctor === BigInt64Array || Ctor === BigUint64Array) {
      arr = new (Ctor as typeof BigInt64Array)(values.length);
      for (let i = 0; i < values.length; i++) (arr as BigInt64Array)[i] = BigInt(values[i] as number | bigint);
    } else
      arr = new (Ctor as unknown as new (v: ArrayLike<number>) => TypedArray)(Array.from(values as ArrayLike<number>));
    return new Tensor(name, dataType, dims, new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
  }

  get size(): number {
    return elementCount(this.dims);
  }

  get rank(): number {
    return this.dims.length;
  }

  get byteLength(): number {
    if (this.strings) return this.strings.reduce((n, s) => n + s.byteLength, 0);
    return this.bytesOrLazy!.byteLength;
  }

  /** The external file range these bytes still sit in unchanged, if any. */
  get externalSource(): { where: ExternalLocation; loader: ExternalLoader } | undefined {
    const d = this.bytesOrLazy;
    return d && !(d instanceof Uint8Array) ? d.external : undefined;
  }

  /** True when the bytes are already in memory (not lazy or external). */
  get isLoaded(): boolean {
    return this.bytesOrLazy instanceof Uint8Array || this.strings !== undefined;
  }

  /** raw_data bytes; loads lazy data (without caching it, so a streaming writer keeps memory flat). */
  bytes(): Uint8Array {
    if (this.strings) throw new OnnxOptError(`tensor '${this.name}' holds strings, not raw bytes`);
    const d = this.bytesOrLazy!;
    if (d instanceof Uint8Array) return d;
    const loaded = d.load();
    if (loaded.byteLength !== d.byteLength) {
      throw new OnnxOptError(`tensor '${this.name}': loaded ${loaded.byteLength} bytes, expected ${d.byteLength}`);
    }
    return loaded;
  }

  /** Reads lazy bytes into memory once; later bytes() calls return them. */
  materialize(): this {
    if (!this.strings && !(this.bytesOrLazy instanceof Uint8Array)) this.bytesOrLazy = this.bytes();
    return this;
  }

  /** A typed view of the data (copied only when misaligned). float16/bfloat16 come back as Uint16Array bits. */
  typed(): TypedArray {
    const Ctor = typedArrayFor(this.dataType);
    if (!Ctor) throw new OnnxOptError(`tensor '${this.name}': no typed view for ${dataTypeName(this.dataType)}`);
    const b = this.bytes();
    const width = (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    const count = b.byteLength / width;
    if (b.byteOffset % width === 0) return new Ctor(b.buffer, b.byteOffset, count);
    // A copy, made with the Uint8Array constructor: Node's Buffer.slice() would return a view, not a copy.
    const copy = new Uint8Array(b);
    return new Ctor(copy.buffer, 0, count);
  }

  /** Elements as JS numbers (int64 beyond 2^53 loses precision; float16/bfloat16 decoded). */
  toNumbers(): number[] {
    const t = this.typed();
    if (this.dataType === DataType.FLOAT16) return Array.from(t as Uint16Array, float16BitsToNumber);
    if (this.dataType === DataType.BFLOAT16) return Array.from(t as Uint16Array, bfloat16BitsToNumber);
    if (t instanceof BigInt64Array || t instanceof BigUint64Array) return Array.from(t, Number);
    return Array.from(t as ArrayLike<number>);
  }

  /** Float32 copy or view of a float-typed tensor's values. */
  toFloat32(): Float32Array {
    if (this.dataType === DataType.FLOAT) return this.typed() as Float32Array;
    return Float32Array.from(this.toNumbers());
  }

  /**
   * The values as float32 for a moment: a view when they are in memory; lazily stored float32 data is read into
   * `scratch` (valid until its next use) and not kept. Other types come back converted, in a new array.
   */
  peekFloat32(scratch: Scratch): Float32Array {
    if (this.dataType !== DataType.FLOAT || this.isLoaded) return this.toFloat32();
    const bytes = this.peekBytes(scratch);
    // a loader that ignored the scratch may hand back unaligned bytes: copy those
    const aligned = bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes);
    return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
  }

  /** raw_data bytes for a moment: the bytes when in memory, else loaded into `scratch` (valid until its next use). */
  peekBytes(scratch: Scratch): Uint8Array {
    const d = this.bytesOrLazy;
    if (!d || d instanceof Uint8Array) return this.bytes();
    const bytes = d.load(scratch.take(d.byteLength));
    if (bytes.byteLength !== d.byteLength) {
      throw new OnnxOptError(`tensor '${this.name}': loaded ${bytes.byteLength} bytes, expected ${d.byteLength}`);
    }
    return bytes;
  }

  /** A copy with another name (bytes shared: tensors are never mutated in place). */
  withName(name: string): Tensor {
    const t = new Tensor(name, this.dataType, this.dims, this.strings ?? this.bytesOrLazy!);
    t.docString = this.docString;
    t.metadataProps = this.metadataProps.map(([k, v]) => [k, v]);
    if (this.unknownFields) t.unknownFields = this.unknownFields;
    return t;
  }
}

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function fmtDims(dims: readonly (number | string | undefined)[]): string {
  return `[${dims.map((d) => d ?? '?').join(',')}]`;
}
