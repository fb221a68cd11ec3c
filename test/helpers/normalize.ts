// Turns decoded ModelProtos into plain objects that compare equal when they mean the same model, whichever
// protobuf library and schema decoded them and however each tensor stores its data.
import { createRequire } from 'node:module';
import { ModelProto } from './protobufjs-onnx.js';
import { TENSOR_DATA_FIELDS, tensorElements, type TensorObject } from './tensor-elements.js';

const require = createRequire(import.meta.url);
/** ONNX 1.10.2's schema compiled by protobufjs 6: a decoder that shares no code with ours. */
const onnxProto = (require('onnx-proto') as typeof import('onnx-proto')).onnx;

const TO_OBJECT = { defaults: true, arrays: true, longs: String, enums: Number, bytes: String } as const;

/** Reads external tensor bytes for tensors with data_location EXTERNAL (location, offset, length). */
export type ExternalReader = (location: string, offset: number, length: number | undefined) => Uint8Array;

export interface Decoder {
  name: string;
  /** The model as a normalized plain object. */
  decode(bytes: Uint8Array, readExternal?: ExternalReader): unknown;
}

export const onnxProtoDecoder: Decoder = {
  name: 'onnx-proto (ONNX 1.10.2, protobufjs 6)',
  decode: (bytes, readExternal) =>
    normalizeMessage(onnxProto.ModelProto.toObject(onnxProto.ModelProto.decode(bytes), TO_OBJECT), readExternal),
};

export const protobufjsDecoder: Decoder = {
  name: 'protobufjs 8 on the vendored ONNX 1.23.1 descriptor',
  decode: (bytes, readExternal) =>
    normalizeMessage(ModelProto.toObject(ModelProto.decode(bytes), TO_OBJECT), readExternal),
};

export const DECODERS = [onnxProtoDecoder, protobufjsDecoder];

const snakeCase = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * Keys become snake_case (onnx-proto's static code uses camelCase), and every TensorProto (the only message with
 * a data_type field) has its data fields replaced by `elements`, the canonical bit patterns of its values.
 */
export function normalizeMessage(message: unknown, readExternal?: ExternalReader): unknown {
  if (Array.isArray(message)) return message.map((m) => normalizeMessage(m, readExternal));
  if (message === null || typeof message !== 'object') return message;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message)) out[snakeCase(key)] = normalizeMessage(value, readExternal);
  return 'data_type' in out ? canonicalTensor(out, readExternal) : out;
}

function canonicalTensor(t: Record<string, unknown>, readExternal?: ExternalReader): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(t)) {
    if (!(TENSOR_DATA_FIELDS as readonly string[]).includes(key)) out[key] = value;
  }
  const tensor = t as TensorObject & { external_data?: { key: string; value: string }[] };
  if (tensor.data_location === 1) {
    // External data is compared by content when a reader is given; where it lives is the writer's choice.
    if (!readExternal) return t;
    const entry = (k: string) => tensor.external_data?.find((e) => e.key === k)?.value;
    const bytes = readExternal(
      entry('location') ?? '',
      Number(entry('offset') ?? 0),
      entry('length') === undefined ? undefined : Number(entry('length')),
    );
    out.external_data = [];
    out.data_location = 0;
    out.elements = tensorElements({ ...tensor, raw_data: Buffer.from(bytes).toString('base64') });
    return out;
  }
  out.elements = tensorElements(tensor);
  return out;
}

/** Where two normalized messages first differ, as a path and both values (undefined when equal). */
export function firstDifference(a: unknown, b: unknown, path = ''): string | undefined {
  if (Object.is(a, b)) return undefined;
  if (
    typeof a !== 'object' ||
    typeof b !== 'object' ||
    a === null ||
    b === null ||
    Array.isArray(a) !== Array.isArray(b)
  ) {
    return `${path || '<root>'}: ${preview(a)} != ${preview(b)}`;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length !== b.length) {
    return `${path}: ${a.length} entries != ${b.length} entries`;
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const d = firstDifference(
      (a as Record<string, unknown>)[k],
      (b as Record<string, unknown>)[k],
      Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`,
    );
    if (d) return d;
  }
  return undefined;
}

function preview(x: unknown): string {
  const s = JSON.stringify(x) ?? String(x);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}
