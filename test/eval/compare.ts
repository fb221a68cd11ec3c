// Tensor comparison for evaluator tests: floats within 1e-5 relative (1e-6 absolute near zero; about one unit in
// the last place for float16/bfloat16), everything else exactly.
import type { Tensor } from '../../src/ir/tensor.js';
import { DataType, dataTypeName, isFloatType } from '../../src/tensor/dtype.js';

const tolerance: Record<number, { rel: number; abs: number }> = {
  [DataType.FLOAT]: { rel: 1e-5, abs: 1e-6 },
  [DataType.DOUBLE]: { rel: 1e-5, abs: 1e-6 },
  [DataType.FLOAT16]: { rel: 2 ** -10, abs: 2 ** -24 },
  [DataType.BFLOAT16]: { rel: 2 ** -7, abs: 1e-6 },
};

/** Why `actual` differs from `expected`, or undefined when they match; `slack` multiplies the float tolerances. */
export function tensorDifference(actual: Tensor, expected: Tensor, slack = 1): string | undefined {
  if (actual.dataType !== expected.dataType) {
    return `type ${dataTypeName(actual.dataType)}, expected ${dataTypeName(expected.dataType)}`;
  }
  if (actual.dims.join(',') !== expected.dims.join(',')) return `dims [${actual.dims}], expected [${expected.dims}]`;
  if (expected.strings) {
    const same = expected.strings.every(
      (s, i) => Buffer.compare(Buffer.from(s), Buffer.from(actual.strings![i]!)) === 0,
    );
    return same ? undefined : 'strings differ';
  }
  if (isFloatType(expected.dataType)) {
    const rel = tolerance[expected.dataType]!.rel * slack;
    const abs = tolerance[expected.dataType]!.abs * slack;
    const a = actual.toNumbers();
    const e = expected.toNumbers();
    for (let i = 0; i < e.length; i++) {
      const [x, y] = [a[i]!, e[i]!];
      if (Number.isNaN(y) ? Number.isNaN(x) : x === y || Math.abs(x - y) <= Math.max(abs, rel * Math.abs(y))) continue;
      return `element ${i} is ${x}, expected ${y}`;
    }
    return undefined;
  }
  const a = actual.typed();
  const e = expected.typed();
  for (let i = 0; i < e.length; i++) if (a[i] !== e[i]) return `element ${i} is ${a[i]}, expected ${e[i]}`;
  return undefined;
}

/** A tensor's stored elements (int64 as bigint, float16 as bits), for exact expectations in tests. */
export function elementsOf(t: Tensor): (number | bigint)[] {
  return Array.from(t.typed() as ArrayLike<number | bigint>);
}
