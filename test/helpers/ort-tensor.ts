// TensorProto files (test_data_set_*/input_N.pb) as onnxruntime-node tensors, and bitwise comparison of results.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { TensorProto } from './protobufjs-onnx.js';
import { elementsToBytes, scalarBits, tensorElements, type TensorObject } from './tensor-elements.js';

/** ONNX data types onnxruntime-node can take as input, with the ort type name each becomes. */
const ORT_TYPES: Record<number, ort.Tensor.Type> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  21: 'uint4',
  22: 'int4',
};

const TYPED_ARRAYS: Partial<Record<ort.Tensor.Type, new (b: ArrayBuffer) => ort.Tensor.DataType>> = {
  float32: Float32Array,
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  bool: Uint8Array,
  float16: Uint16Array,
  float64: Float64Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  uint4: Uint8Array,
  int4: Int8Array,
};

export function ortTypeOf(dataType: number): ort.Tensor.Type | undefined {
  return ORT_TYPES[dataType];
}

/** Reads a TensorProto file into an ort.Tensor; throws when onnxruntime-node has no such tensor type. */
export function readOrtTensor(path: string): { name: string; tensor: ort.Tensor } {
  const proto = TensorProto.toObject(TensorProto.decode(readFileSync(path)), {
    defaults: true,
    arrays: true,
    longs: String,
    enums: Number,
    bytes: String,
  }) as TensorObject & { name: string };
  const dataType = proto.data_type ?? 0;
  const type = ortTypeOf(dataType);
  if (!type) throw new Error(`data type ${dataType} has no onnxruntime-node tensor type`);
  const dims = (proto.dims ?? []).map(Number);
  const elements = tensorElements(proto);
  if (type === 'string') {
    return {
      name: proto.name,
      tensor: new ort.Tensor(
        'string',
        elements.map((e) => Buffer.from(e, 'base64').toString()),
        dims,
      ),
    };
  }
  const bytes = elementsToBytes(elements, scalarBits(dataType));
  const data = new TYPED_ARRAYS[type]!(bytes.buffer as ArrayBuffer);
  return { name: proto.name, tensor: new ort.Tensor(type, data, dims) };
}

/** Where two sets of outputs differ bit for bit (type, dims, data), or undefined when identical. */
export function outputDifference(
  a: ort.InferenceSession.ReturnType,
  b: ort.InferenceSession.ReturnType,
): string | undefined {
  const names = Object.keys(a);
  if (names.join() !== Object.keys(b).join()) return `output names ${names} != ${Object.keys(b)}`;
  for (const name of names) {
    const x = a[name]!;
    const y = b[name]!;
    if (x.type !== y.type || x.dims.join() !== y.dims.join()) {
      return `${name}: ${x.type}[${x.dims}] != ${y.type}[${y.dims}]`;
    }
    if (!sameData(x.data, y.data)) return `${name}: data differs`;
  }
  return undefined;
}

function sameData(x: ort.Tensor['data'], y: ort.Tensor['data']): boolean {
  if (Array.isArray(x) || Array.isArray(y)) return JSON.stringify(x) === JSON.stringify(y);
  const bx = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const by = new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
  return bx.length === by.length && bx.every((v, i) => v === by[i]);
}
