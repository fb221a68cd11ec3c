// ONNX TensorProto.DataType values and what the IR needs to know about each.

export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
  UINT2: 25,
  INT2: 26,
  FLOAT6E2M3: 27,
  FLOAT6E3M2: 28,
} as const;

export type DataType = (typeof DataType)[keyof typeof DataType];

const names = new Map<number, string>(Object.entries(DataType).map(([k, v]) => [v, k.toLowerCase()]));

export function dataTypeName(t: number): string {
  return names.get(t) ?? `dtype(${t})`;
}

export function isKnownDataType(t: number): t is DataType {
  return names.has(t) && t !== DataType.UNDEFINED;
}

/** Bits one element occupies in raw_data (sub-byte types are packed, low bits first). 0 for STRING. */
export function bitsPerElement(t: number): number {
  switch (t) {
    case DataType.FLOAT:
    case DataType.INT32:
    case DataType.UINT32:
      return 32;
    case DataType.DOUBLE:
    case DataType.INT64:
    case DataType.UINT64:
    case DataType.COMPLEX64:
      return 64;
    case DataType.COMPLEX128:
      return 128;
    case DataType.UINT16:
    case DataType.INT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return 16;
    case DataType.UINT8:
    case DataType.INT8:
    case DataType.BOOL:
    case DataType.FLOAT8E4M3FN:
    case DataType.FLOAT8E4M3FNUZ:
    case DataType.FLOAT8E5M2:
    case DataType.FLOAT8E5M2FNUZ:
    case DataType.FLOAT8E8M0:
      return 8;
    // 6-bit floats are stored one per byte in raw data (the spec packs only 4- and 2-bit types).
    case DataType.FLOAT6E2M3:
    case DataType.FLOAT6E3M2:
      return 8;
    case DataType.UINT4:
    case DataType.INT4:
    case DataType.FLOAT4E2M1:
      return 4;
    case DataType.UINT2:
    case DataType.INT2:
      return 2;
    case DataType.STRING:
      return 0;
    default:
      throw new RangeError(`unknown data type ${t}`);
  }
}

/** Bytes that `count` elements of type t occupy in raw_data. */
export function byteLengthOf(t: number, count: number): number {
  return Math.ceil((count * bitsPerElement(t)) / 8);
}

export function isFloatType(t: number): boolean {
  return t === DataType.FLOAT || t === DataType.FLOAT16 || t === DataType.DOUBLE || t === DataType.BFLOAT16;
}

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** The typed array that views raw_data of type t directly, where one exists (float16/bfloat16 view as Uint16Array bits). */
export function typedArrayFor(
  t: number,
): (new (buffer: ArrayBufferLike, byteOffset: number, length: number) => TypedArray) | undefined {
  switch (t) {
    case DataType.FLOAT:
    case DataType.COMPLEX64:
      return Float32Array;
    case DataType.DOUBLE:
    case DataType.COMPLEX128:
      return Float64Array;
    case DataType.INT8:
      return Int8Array;
    case DataType.UINT8:
    case DataType.BOOL:
      return Uint8Array;
    case DataType.INT16:
      return Int16Array;
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return Uint16Array;
    case DataType.INT32:
      return Int32Array;
    case DataType.UINT32:
      return Uint32Array;
    case DataType.INT64:
      return BigInt64Array;
    case DataType.UINT64:
      return BigUint64Array;
    default:
      return undefined;
  }
}
