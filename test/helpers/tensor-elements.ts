// Canonical element bit patterns of a TensorProto, whichever field stores the data. Written from the ONNX spec
// (onnx.proto's TensorProto comments), independently of src/serde/decode.ts, so the conformance suite checks the
// decoder against a second reading of the same rules.

/** A TensorProto as protobufjs's toObject gives it (snake_case keys, int64 as decimal strings, bytes as base64). */
export interface TensorObject {
  data_type?: number;
  dims?: (string | number)[];
  raw_data?: string;
  float_data?: number[];
  int32_data?: number[];
  string_data?: string[];
  int64_data?: (string | number)[];
  double_data?: number[];
  uint64_data?: (string | number)[];
  data_location?: number;
}

export const TENSOR_DATA_FIELDS = [
  'raw_data',
  'float_data',
  'int32_data',
  'string_data',
  'int64_data',
  'double_data',
  'uint64_data',
] as const;

type TypedField = Exclude<(typeof TENSOR_DATA_FIELDS)[number], 'raw_data'>;

/** How one data type is stored: bits per element, scalars per element, and the typed field used without raw_data. */
interface Layout {
  bits: number;
  scalars: number;
  field: TypedField;
}

function layoutOf(dataType: number): Layout {
  switch (dataType) {
    case 1:
      return { bits: 32, scalars: 1, field: 'float_data' }; // FLOAT
    case 14:
      return { bits: 32, scalars: 2, field: 'float_data' }; // COMPLEX64: real, imaginary
    case 11:
      return { bits: 64, scalars: 1, field: 'double_data' }; // DOUBLE
    case 15:
      return { bits: 64, scalars: 2, field: 'double_data' }; // COMPLEX128
    case 7:
      return { bits: 64, scalars: 1, field: 'int64_data' }; // INT64
    case 12:
      return { bits: 32, scalars: 1, field: 'uint64_data' }; // UINT32
    case 13:
      return { bits: 64, scalars: 1, field: 'uint64_data' }; // UINT64
    case 6:
      return { bits: 32, scalars: 1, field: 'int32_data' }; // INT32
    case 4:
    case 5:
    case 10:
    case 16:
      return { bits: 16, scalars: 1, field: 'int32_data' }; // (U)INT16, FLOAT16, BFLOAT16
    case 2:
    case 3:
    case 9:
    case 17:
    case 18:
    case 19:
    case 20:
    case 24:
    case 27:
    case 28:
      return { bits: 8, scalars: 1, field: 'int32_data' }; // 8-bit ints, BOOL, float8 kinds; 6-bit floats take a byte
    case 21:
    case 22:
    case 23:
      return { bits: 4, scalars: 1, field: 'int32_data' }; // (U)INT4, FLOAT4E2M1: packed
    case 25:
    case 26:
      return { bits: 2, scalars: 1, field: 'int32_data' }; // (U)INT2: packed
    case 8:
      return { bits: 0, scalars: 1, field: 'string_data' }; // STRING
    default:
      throw new Error(`tensor-elements: unknown data type ${dataType}`);
  }
}

const hex = (x: bigint | number, bits: number) => x.toString(16).padStart(Math.max(1, bits / 4), '0');
const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);
const f64 = new Float64Array(1);
const f64Bits = new BigUint64Array(f64.buffer);

function elementCount(dims: readonly (string | number)[]): number {
  return dims.reduce<number>((n, d) => n * Number(d), 1);
}

/** Scalars read from raw little-endian bytes; packed sub-byte types are unpacked low bits first. */
function fromRaw(bytes: Uint8Array, bits: number, scalars: number): string[] {
  const out: string[] = [];
  if (bits < 8) {
    const perByte = 8 / bits;
    const mask = (1 << bits) - 1;
    for (let i = 0; i < scalars; i++) {
      const byte = bytes[Math.floor(i / perByte)];
      if (byte === undefined) break;
      out.push(hex((byte >> ((i % perByte) * bits)) & mask, bits));
    }
    return out;
  }
  const width = bits / 8;
  for (let i = 0; i + width <= bytes.length && out.length < scalars; i += width) {
    let v = 0n;
    for (let b = width - 1; b >= 0; b--) v = (v << 8n) | BigInt(bytes[i + b]!);
    out.push(hex(v, bits));
  }
  return out;
}

/** Scalars read from the typed repeated field a data type uses when raw_data is absent. */
function fromTyped(t: TensorObject, layout: Layout, scalars: number, dataType: number): string[] {
  const { bits, field } = layout;
  switch (field) {
    case 'float_data':
      return (t.float_data ?? []).map((v) => {
        f32[0] = v;
        return hex(f32Bits[0]!, 32);
      });
    case 'double_data':
      return (t.double_data ?? []).map((v) => {
        f64[0] = v;
        return hex(f64Bits[0]!, 64);
      });
    case 'int64_data':
    case 'uint64_data':
      return (t[field] ?? []).map((v) => hex(BigInt.asUintN(bits, BigInt(v)), bits));
    case 'string_data':
      return [...(t.string_data ?? [])];
    case 'int32_data': {
      const ints = t.int32_data ?? [];
      // Sub-byte types keep their packed bytes in int32_data, one byte per entry.
      if (bits < 8)
        return fromRaw(
          Uint8Array.from(ints, (v) => v & 0xff),
          bits,
          scalars,
        );
      const mask = bits === 32 ? 0xffffffffn : (1n << BigInt(bits)) - 1n;
      return ints.map((v) => hex(BigInt(v) & mask, bits));
    }
    default:
      throw new Error(`tensor-elements: no typed field for data type ${dataType}`);
  }
}

/**
 * The tensor's elements as hex bit patterns (strings stay base64), read from raw_data when it is present and
 * otherwise from the typed field the data type uses. NaNs keep their bits. A data length that does not fit the
 * dims adds a marker entry, so storage mistakes show up as differences rather than being hidden.
 */
export function tensorElements(t: TensorObject): string[] {
  const dataType = t.data_type ?? 0;
  const layout = layoutOf(dataType);
  const scalars = elementCount(t.dims ?? []) * layout.scalars;
  const raw = t.raw_data && dataType !== 8 ? Buffer.from(t.raw_data, 'base64') : undefined;
  const elements = raw ? fromRaw(raw, layout.bits, scalars) : fromTyped(t, layout, scalars, dataType);
  const packedBytes = Math.ceil((scalars * layout.bits) / 8);
  const stored = raw ? raw.length : (t[layout.field]?.length ?? 0);
  const packed = layout.bits > 0 && layout.bits < 8;
  const expected = raw || packed ? packedBytes : scalars;
  return stored === expected ? elements : [...elements, `<${stored} stored, ${expected} expected>`];
}

/** Packs canonical elements (hex bit patterns of `bits` each) back into little-endian raw bytes. */
export function elementsToBytes(elements: readonly string[], bits: number): Uint8Array {
  if (bits < 8) {
    const perByte = 8 / bits;
    const out = new Uint8Array(Math.ceil(elements.length / perByte));
    elements.forEach((e, i) => (out[Math.floor(i / perByte)]! |= parseInt(e, 16) << ((i % perByte) * bits)));
    return out;
  }
  const width = bits / 8;
  const out = new Uint8Array(elements.length * width);
  elements.forEach((e, i) => {
    let v = BigInt(`0x${e}`);
    for (let b = 0; b < width; b++, v >>= 8n) out[i * width + b] = Number(v & 0xffn);
  });
  return out;
}

/** Bits each scalar of a data type occupies in raw_data (0 for STRING). */
export function scalarBits(dataType: number): number {
  return layoutOf(dataType).bits;
}
