// What shape inference tests read of a value (their models come from the kit's builder).

import type { Value } from '../../src/ir/graph.js';
import { shapeOf } from '../../src/ir/types.js';

/** A value's inferred dims as numbers, symbol names and undefined; undefined when the rank is unknown. */
export function dims(v: Value): (number | string | undefined)[] | undefined {
  return shapeOf(v.type);
}

export function elemType(v: Value): number | undefined {
  return v.type?.kind === 'tensor' ? v.type.elemType : undefined;
}
