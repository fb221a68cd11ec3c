// The ONNX protobuf types, loaded once from the generated schema. Only src/serde touches protobuf.
import protobuf from 'protobufjs';
import { onnxSchema } from './onnx-schema.js';

export const onnxRoot = protobuf.Root.fromJSON(onnxSchema as unknown as protobuf.INamespace);

export const ModelProto = onnxRoot.lookupType('onnx.ModelProto');
export const GraphProto = onnxRoot.lookupType('onnx.GraphProto');
export const TensorProto = onnxRoot.lookupType('onnx.TensorProto');

/** protobufjs returns int64 fields as Long objects (or numbers when they fit); both have these. */
export interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
  toNumber(): number;
}

export type Int64 = number | LongLike;

export function int64ToBigInt(x: Int64, unsigned = false): bigint {
  if (typeof x === 'number') return BigInt(x);
  const v = (BigInt(x.high >>> 0) << 32n) | BigInt(x.low >>> 0);
  return unsigned ? v : BigInt.asIntN(64, v);
}

/** An int64 as a JS number when it is exactly representable, else as bigint. */
export function int64ToNumberOrBigInt(x: Int64): number | bigint {
  if (typeof x === 'number') return x;
  const b = int64ToBigInt(x);
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

/** Field presence for proto2 messages decoded by protobufjs (absent fields live on the prototype). */
export function has(msg: object, field: string): boolean {
  return Object.prototype.hasOwnProperty.call(msg, field) && (msg as Record<string, unknown>)[field] != null;
}
