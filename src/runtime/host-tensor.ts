// Tensors in JS memory as the runtime tools pass them around (model inputs, outputs, dataset slices), and their
// conversion from onnxruntime tensors (to them: ./session.ts). These types do not name onnxruntime-node's: it is an
// optional dependency, which a user's type check may not find.
import { OnnxOptError } from '../errors.js';
import { DataType, dataTypeName, typedArrayFor, type TypedArray } from '../tensor/dtype.js';
import { float16BitsToNumber, numberToFloat16Bits } from '../tensor/float16.js';

/** A dense tensor: ONNX element type, dims, data (float16 as Uint16Array bits, bool as Uint8Array 0/1). */
export interface HostTensor {
  dataType: number;
  dims: number[];
  data: TypedArray;
}

/** Named tensors: one set of model inputs, or one run's outputs. */
export type Feeds = Record<string, HostTensor>;

/** onnxruntime's tensor type names of the element types the runtime tools support. */
export const ORT_TYPES: Partial<Record<number, string>> = {
  [DataType.FLOAT]: 'float32',
  [DataType.DOUBLE]: 'float64',
  [DataType.FLOAT16]: 'float16',
  [DataType.INT8]: 'int8',
  [DataType.UINT8]: 'uint8',
  [DataType.INT16]: 'int16',
  [DataType.UINT16]: 'uint16',
  [DataType.INT32]: 'int32',
  [DataType.UINT32]: 'uint32',
  [DataType.INT64]: 'int64',
  [DataType.UINT64]: 'uint64',
  [DataType.BOOL]: 'bool',
};

const FROM_ORT = new Map<string, number>(Object.entries(ORT_TYPES).map(([k, v]) => [v as string, Number(k)]));

/** What the tools read of an onnxruntime tensor (onnxruntime-node's and onnxruntime-web's alike). */
export interface OrtTensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

/** True for the element types the runtime tools can create and read. */
export function isSupportedType(dataType: number): boolean {
  return ORT_TYPES[dataType] !== undefined;
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}

/** A zero-filled tensor of a supported type. */
export function allocate(dataType: number, dims: number[]): HostTensor {
  const Ctor = typedArrayFor(dataType);
  if (!Ctor || !isSupportedType(dataType))
    throw new OnnxOptError(`${dataTypeName(dataType)} tensors are not supported here`);
  const count = elementCount(dims);
  const width = (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  return { dataType, dims, data: new Ctor(new ArrayBuffer(count * width), 0, count) };
}

export function fromOrt(name: string, t: OrtTensorLike): HostTensor {
  const dataType = FROM_ORT.get(t.type);
  if (dataType === undefined)
    throw new OnnxOptError(`output '${name}' has type ${t.type}, which is not supported here`);
  const data = t.data as TypedArray;
  // Newer runtimes may hand float16 back as Float16Array; keep bits, as everywhere else.
  const bits =
    dataType === DataType.FLOAT16 && !(data instanceof Uint16Array)
      ? Uint16Array.from(data as unknown as ArrayLike<number>, numberToFloat16Bits)
      : data;
  return { dataType, dims: [...t.dims], data: bits };
}

/** The element at `i` as a JS number (int64 beyond 2^53 rounds; float16 decoded). */
export function numberAt(t: HostTensor, i: number): number {
  const v = t.data[i]!;
  if (typeof v === 'bigint') return Number(v);
  return t.dataType === DataType.FLOAT16 ? float16BitsToNumber(v) : v;
}

/** All elements as float64 (for metrics and comparisons). */
export function toFloat64(t: HostTensor): Float64Array {
  if (t.data instanceof Float64Array) return t.data;
  const out = new Float64Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = numberAt(t, i);
  return out;
}

const isFloat = (t: number) => t === DataType.FLOAT || t === DataType.DOUBLE || t === DataType.FLOAT16;

/**
 * Converts a tensor to another element type when no information is lost in kind: floats to floats, integers
 * (and bool) to integers. Floats to integers is refused, since it usually means the wrong array was given.
 */
export function castTo(t: HostTensor, dataType: number, what: string): HostTensor {
  if (t.dataType === dataType) return t;
  if (!isSupportedType(dataType))
    throw new OnnxOptError(`${what}: the model expects ${dataTypeName(dataType)}, which is not supported here`);
  if (!isSupportedType(t.dataType) || isFloat(t.dataType) !== isFloat(dataType)) {
    throw new OnnxOptError(
      `${what}: has ${dataTypeName(t.dataType)} values, the model expects ${dataTypeName(dataType)}`,
    );
  }
  const out = allocate(dataType, t.dims);
  const n = t.data.length;
  if (out.data instanceof BigInt64Array || out.data instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) out.data[i] = BigInt(numberAt(t, i));
  } else if (dataType === DataType.FLOAT16) {
    for (let i = 0; i < n; i++) out.data[i] = numberToFloat16Bits(numberAt(t, i));
  } else if (dataType === DataType.BOOL) {
    for (let i = 0; i < n; i++) out.data[i] = numberAt(t, i) !== 0 ? 1 : 0;
  } else {
    for (let i = 0; i < n; i++) out.data[i] = numberAt(t, i);
  }
  return out;
}

/** Rows [start, end) along the first axis (a view, no copy). */
export function sliceRows(t: HostTensor, start: number, end: number): HostTensor {
  const rowSize = elementCount(t.dims.slice(1));
  return {
    dataType: t.dataType,
    dims: [end - start, ...t.dims.slice(1)],
    data: t.data.subarray(start * rowSize, end * rowSize),
  };
}

export function describeTensor(t: HostTensor): string {
  return `${dataTypeName(t.dataType)} [${t.dims.join(', ')}]`;
}
