// Converting between IR value types and inference facts, and merging what inference finds with what a model
// already says about a value.

import type { Dim, ValueType } from '../ir/types.js';
import { Sym, bindDim, dimsEqual, formatShape, isPlaceholder, parseParam, type SymDim } from './dims.js';
import type { TensorFacts } from './rule.js';

const NO_BINDING: ReadonlyMap<string, number> = new Map();

export function dimFromIr(d: Dim, binding: ReadonlyMap<string, number> = NO_BINDING): SymDim {
  if (d.value !== undefined) return Number.isInteger(d.value) && d.value >= 0 ? d.value : undefined;
  if (!d.param) return undefined;
  const parsed = bindDim(parseParam(d.param), binding);
  // A param that spells a number ("3", "-1") counts only when it is a valid size.
  return typeof parsed === 'number' && !(Number.isInteger(parsed) && parsed >= 0) ? undefined : parsed;
}

/** What a declared tensor type says; undefined for non-tensor types and missing types. */
export function factsFromType(
  t: ValueType | undefined,
  binding?: ReadonlyMap<string, number>,
): TensorFacts | undefined {
  if (!t || t.kind !== 'tensor') return undefined;
  const out: TensorFacts = {};
  if (t.elemType) out.elemType = t.elemType;
  if (t.shape) out.shape = t.shape.map((d) => dimFromIr(d, binding));
  return out;
}

/** True when a fact says anything at all. */
export function isInformative(f: TensorFacts | undefined): f is TensorFacts {
  return !!f && (f.elemType !== undefined || f.shape !== undefined);
}

export type Merge = { facts: TensorFacts } | { conflict: string };

/**
 * Combines existing facts with inferred ones. Known sizes always win over symbols, except that with
 * `keepExistingSymbols` a symbol the model already names stays (graph outputs keep their declared names). Between
 * two symbols the existing one stays, unless it is a placeholder (unk__N) and the inferred one is not.
 * A disagreement about element type, rank or a known size is a conflict: the caller keeps the existing facts.
 */
export function mergeFacts(
  existing: TensorFacts | undefined,
  inferred: TensorFacts,
  keepExistingSymbols = false,
): Merge {
  if (!isInformative(existing)) return { facts: inferred };
  if (existing.elemType !== undefined && inferred.elemType !== undefined && existing.elemType !== inferred.elemType) {
    return { conflict: `element type ${inferred.elemType} where the model says ${existing.elemType}` };
  }
  const elemType = existing.elemType ?? inferred.elemType;
  const a = existing.shape,
    b = inferred.shape;
  let shape: SymDim[] | undefined = a ?? b;
  if (a && b) {
    if (a.length !== b.length) return { conflict: `shape ${formatShape(b)} where the model says ${formatShape(a)}` };
    shape = [];
    for (let i = 0; i < a.length; i++) {
      const x = a[i],
        y = b[i];
      if (typeof x === 'number' && typeof y === 'number' && x !== y) {
        return { conflict: `shape ${formatShape(b)} where the model says ${formatShape(a)}` };
      }
      if (x === undefined) shape.push(y);
      else if (typeof x === 'number' || y === undefined || keepExistingSymbols) shape.push(x);
      else if (typeof y === 'number' || (isPlaceholder(x) && !isPlaceholder(y))) shape.push(y);
      else shape.push(x);
    }
  }
  const facts: TensorFacts = {};
  if (elemType !== undefined) facts.elemType = elemType;
  if (shape) facts.shape = shape;
  if (inferred.value) facts.value = inferred.value;
  return { facts };
}

/**
 * The IR type for facts that know the element type. Dims equal to the previous type's (read without any
 * binding) keep their previous form, so a model's own names and denotations survive untouched.
 */
export function typeFromFacts(f: TensorFacts, previous: ValueType | undefined): ValueType | undefined {
  if (f.elemType === undefined) return undefined;
  const before =
    previous?.kind === 'tensor' && previous.shape && f.shape && previous.shape.length === f.shape.length
      ? previous.shape
      : undefined;
  const out: ValueType = { kind: 'tensor', elemType: f.elemType };
  if (previous?.kind === 'tensor' && previous.denotation) out.denotation = previous.denotation;
  if (f.shape) {
    out.shape = f.shape.map((d, i) => {
      const old = before?.[i];
      if (old && (d === undefined ? dimFromIr(old) === undefined : dimsEqual(dimFromIr(old), d))) return { ...old };
      const dim: Dim = typeof d === 'number' ? { value: d } : d instanceof Sym ? { param: d.toParam() } : {};
      if (old?.denotation) dim.denotation = old.denotation;
      return dim;
    });
  }
  return out;
}

/** Structural equality of two types' tensor parts (what inference may change). */
export function sameTensorType(a: ValueType | undefined, b: ValueType | undefined): boolean {
  if (!a || !b || a.kind !== 'tensor' || b.kind !== 'tensor') return a === b;
  if (a.elemType !== b.elemType || !a.shape !== !b.shape) return false;
  if (!a.shape || !b.shape) return true;
  return (
    a.shape.length === b.shape.length &&
    a.shape.every((d, i) => d.value === b.shape![i]!.value && d.param === b.shape![i]!.param)
  );
}
