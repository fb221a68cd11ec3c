import type { Graph } from './graph.js';
import type { StringEntries, Tensor } from './tensor.js';
import type { ValueType } from './types.js';

export interface SparseTensor {
  values: Tensor;
  indices: Tensor;
  dims: number[];
}

/** Attribute payloads; INT values beyond 2^53 stay bigint so nothing is lost on a round trip. */
export type AttributeValue =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number | bigint }
  | { type: 'string'; value: Uint8Array }
  | { type: 'tensor'; value: Tensor }
  | { type: 'graph'; value: Graph }
  | { type: 'sparse_tensor'; value: SparseTensor }
  | { type: 'type_proto'; value: ValueType }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: (number | bigint)[] }
  | { type: 'strings'; value: Uint8Array[] }
  | { type: 'tensors'; value: Tensor[] }
  | { type: 'graphs'; value: Graph[] }
  | { type: 'sparse_tensors'; value: SparseTensor[] }
  | { type: 'type_protos'; value: ValueType[] }
  /** A reference to an attribute of the enclosing function (ref_attr_name), with the referenced attribute's type. */
  | { type: 'ref'; refType: AttributeType; refAttrName: string };

export type AttributeType = Exclude<AttributeValue['type'], 'ref'> | 'undefined';

export type Attribute = AttributeValue & {
  name: string;
  docString?: string;
  metadataProps?: StringEntries;
  /** Fields of the AttributeProto that ONNX 1.23.1 does not define, written back as read. */
  unknownFields?: Uint8Array[];
};

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

export function encodeString(s: string): Uint8Array {
  return utf8.encode(s);
}

export function decodeString(b: Uint8Array): string {
  return utf8Decoder.decode(b);
}

/** Builds attributes from plain JS values, guessing the ONNX type the way onnx.helper.make_attribute does. */
export function attr(
  name: string,
  value: number | bigint | string | number[] | string[] | Tensor | Graph,
  asFloat = false,
): Attribute {
  if (typeof value === 'bigint') return { name, type: 'int', value };
  if (typeof value === 'number')
    return Number.isInteger(value) && !asFloat ? { name, type: 'int', value } : { name, type: 'float', value };
  if (typeof value === 'string') return { name, type: 'string', value: encodeString(value) };
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((v) => typeof v === 'string'))
      return { name, type: 'strings', value: (value as string[]).map(encodeString) };
    const nums = value as number[];
    return nums.every(Number.isInteger) && !asFloat
      ? { name, type: 'ints', value: nums }
      : { name, type: 'floats', value: nums };
  }
  if ('dataType' in value) return { name, type: 'tensor', value };
  return { name, type: 'graph', value };
}
