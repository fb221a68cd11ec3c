// Ready-made predicates for constants and values, each failing with a reason the tracer can show.
import type { Value } from '../ir/graph.js';
import { elemTypeOf, shapeOf, staticShapeOf } from '../ir/types.js';
import { dataTypeName } from '../tensor/dtype.js';
import type { ConstPredicate, ValuePredicate, Verdict } from './builder.js';
import { formatNumber, type ConstantView } from './constant.js';

/** True when |actual - target| <= tol * max(1, |target|). */
export function near(actual: number, target: number, tol = 1e-5): boolean {
  return Math.abs(actual - target) <= tol * Math.max(1, Math.abs(target));
}

/** A scalar constant close to `target` (relative tolerance for large targets, absolute for small ones). */
export function scalarNear(target: number, tol = 1e-5): ConstPredicate {
  return (c) => {
    if (!c.isScalar()) return `constant is a ${c.describe()}, expected the scalar ${target}`;
    const v = c.value();
    return near(v, target, tol) || `constant is ${formatNumber(v)}, expected ${formatNumber(target)}`;
  };
}

/** A scalar constant of any value. */
export const scalar: ConstPredicate = (c) => c.isScalar() || `constant is a ${c.describe()}, expected a scalar`;

/** A 1-D constant, of length `length` when given. */
export function oneD(length?: number): ConstPredicate {
  return (c) =>
    (c.rank === 1 && (length === undefined || c.dims[0] === length)) ||
    `constant has dims [${c.dims.join(',')}], expected 1-D${length === undefined ? '' : ` of length ${length}`}`;
}

/** A constant whose elements are exactly `expected` (e.g. axes [-1]). */
export function valuesEqual(expected: readonly number[]): ConstPredicate {
  return (c: ConstantView) => {
    const v = c.values();
    return (
      (v.length === expected.length && v.every((x, i) => x === expected[i])) ||
      `constant is [${v}], expected [${expected}]`
    );
  };
}

/** A value of known rank `rank`. */
export function hasRank(rank: number): ValuePredicate {
  return (v) => {
    const s = shapeOf(v.type);
    return s?.length === rank || `'${v.name}' has ${s ? `rank ${s.length}` : 'unknown rank'}, expected ${rank}`;
  };
}

/** A value of one of these element types (DataType codes). */
export function hasElemType(...types: number[]): ValuePredicate {
  return (v) => {
    const t = elemTypeOf(v.type);
    return (
      (t !== undefined && types.includes(t)) ||
      `'${v.name}' is ${t === undefined ? 'of unknown type' : dataTypeName(t)}, expected ${types.map(dataTypeName).join(' or ')}`
    );
  };
}

/** A value whose every dim is a known number. */
export const hasStaticShape: ValuePredicate = (v) =>
  staticShapeOf(v.type) !== undefined || `'${v.name}' has no static shape`;

/** Both shapes are known and equal dim by dim (numbers equal, or the same symbolic name). */
export function sameShape(a: Value, b: Value): boolean {
  const x = shapeOf(a.type);
  const y = shapeOf(b.type);
  return !!x && !!y && x.length === y.length && x.every((d, i) => d !== undefined && d === y[i]);
}

/** All predicates must pass; the first failure's reason is the answer. */
export function all<T>(...predicates: ((x: T) => Verdict)[]): (x: T) => Verdict {
  return (x) => {
    for (const p of predicates) {
      const v = p(x);
      if (v !== true) return v;
    }
    return true;
  };
}
