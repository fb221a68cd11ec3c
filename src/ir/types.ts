// Value types (ONNX TypeProto) as plain data. A dim is a number, a symbolic name, or unknown (undefined).

import type { StringEntries } from './tensor.js';

export interface Dim {
  value?: number;
  param?: string;
  denotation?: string;
}

export type ValueType =
  | { kind: 'tensor'; elemType: number; shape?: Dim[]; denotation?: string }
  | { kind: 'sparse_tensor'; elemType: number; shape?: Dim[]; denotation?: string }
  | { kind: 'sequence'; elem?: ValueType; denotation?: string }
  | { kind: 'optional'; elem?: ValueType; denotation?: string }
  | { kind: 'map'; keyType: number; value?: ValueType; denotation?: string }
  | { kind: 'opaque'; domain: string; name: string; denotation?: string }
  /** A TypeProto with no value set (allowed in function bodies and old models). */
  | { kind: 'none'; denotation?: string };

export function tensorType(elemType: number, shape?: readonly (number | string | undefined)[]): ValueType {
  return {
    kind: 'tensor',
    elemType,
    shape: shape?.map((d) => (typeof d === 'number' ? { value: d } : typeof d === 'string' ? { param: d } : {})),
  };
}

/** The element type of a tensor value, if known. */
export function elemTypeOf(t: ValueType | undefined): number | undefined {
  return t && (t.kind === 'tensor' || t.kind === 'sparse_tensor') && t.elemType ? t.elemType : undefined;
}

/** The dims of a tensor value (number, symbol or undefined each), if its rank is known. */
export function shapeOf(t: ValueType | undefined): (number | string | undefined)[] | undefined {
  if (!t || (t.kind !== 'tensor' && t.kind !== 'sparse_tensor') || !t.shape) return undefined;
  return t.shape.map((d) => d.value ?? d.param);
}

/** Static dims if every one is a known number. */
export function staticShapeOf(t: ValueType | undefined): number[] | undefined {
  const s = shapeOf(t);
  return s && s.every((d) => typeof d === 'number') ? (s as number[]) : undefined;
}

export function cloneType(t: ValueType): ValueType {
  return structuredClone(t);
}

/** ValueInfo-level annotations that ride along with a value's name and type. */
export interface ValueAnnotations {
  docString: string;
  metadataProps: StringEntries;
}
