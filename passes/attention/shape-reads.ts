// An additive bias may be computed from the shapes of the attention's own values (T5's TorchScript export sizes
// its relative position bias by Shape(k) and Shape(scores)). Such a bias does not depend on q, k or v, but its Shape
// nodes would keep them alive after fusion; each is answered from the shape of the attention input instead, dim by
// dim from the inferred types: a dim equal to one of x's, or a number.
import type { Graph, Node, Value } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { shapeOf } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';
import type { AttentionSite } from './site.js';

/** Whether `v` is computed from the site's projections (q, k or v). The walk does not go past the attention input. */
export function readsProjections(v: Value, site: AttentionSite): boolean {
  return walk(v, site, false).readsValues;
}

/**
 * The Shape nodes through which `v` reads values computed from the projections, when those are its only reads of
 * them; undefined when it reads their values.
 */
export function shapeReadsOf(v: Value, site: AttentionSite): Node[] | undefined {
  const { readsValues, shapes } = walk(v, site, true);
  return readsValues ? undefined : shapes;
}

function walk(v: Value, site: AttentionSite, stopAtShapes: boolean): { readsValues: boolean; shapes: Node[] } {
  const projections = new Set([site.q.value, site.k.value, site.v.value]);
  const seen = new Set<Value>([site.q.x]);
  const shapes: Node[] = [];
  const pending = [v];
  while (pending.length) {
    const cur = pending.pop()!;
    if (projections.has(cur)) return { readsValues: true, shapes };
    if (seen.has(cur)) continue;
    seen.add(cur);
    const node = cur.producer;
    if (!node) continue;
    if (stopAtShapes && node.opType === 'Shape' && node.domain === '' && readsProjections(node.input(0), site)) {
      shapes.push(node);
      continue;
    }
    for (const input of node.inputs) if (input) pending.push(input);
  }
  return { readsValues: false, shapes };
}

/** The dims a Shape node returns, each a number or an index into x's dims; or why they are not all known so. */
function plan(shape: Node, x: Value): (number | { xDim: number })[] | string {
  const dims = shapeOf(shape.input(0).type);
  const xDims = shapeOf(x.type);
  if (!dims || !xDims) return `the shape of '${shape.input(0).name}' is not known`;
  const rank = dims.length;
  const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + rank : i, 0), rank);
  const picked = dims.slice(clamp(shape.attrInt('start', 0)), clamp(shape.attrInt('end', rank)));
  const out: (number | { xDim: number })[] = [];
  for (const d of picked) {
    if (typeof d === 'number') out.push(d);
    else if (d !== undefined && xDims.includes(d)) out.push({ xDim: xDims.indexOf(d) });
    else return `dim ${d ?? '?'} of '${shape.input(0).name}' is not one of the attention input's`;
  }
  return out;
}

/** Why some Shape node cannot be answered from x's shape, or undefined when all can. */
export function whyNotRerootable(shapes: readonly Node[], x: Value): string | undefined {
  for (const s of shapes) {
    const p = plan(s, x);
    if (typeof p === 'string') return p;
  }
  return undefined;
}

/** Points each Shape node's readers at the same dims taken from Shape(x) and constants (checked by whyNotRerootable). */
export function rerootShapes(graph: Graph, shapes: readonly Node[], x: Value): void {
  for (const s of shapes) {
    const dims = plan(s, x) as (number | { xDim: number })[];
    const int64s = (name: string, values: number[]) =>
      graph.addInitializer(`${s.name}_${name}`, Tensor.fromArray('', DataType.INT64, [values.length], values));
    const op = (
      opType: string,
      inputs: Value[],
      name: string,
      attributes = [] as { name: string; type: 'int'; value: number }[],
    ) => graph.createNode({ opType, inputs, attributes, name: `${s.name}/${name}`, before: s }).output(0);
    let value: Value;
    if (dims.every((d) => typeof d === 'number')) value = int64s('dims', dims as number[]);
    else {
      const xShape = op('Shape', [x], 'input_shape');
      const parts = dims.map((d, i) =>
        typeof d === 'number'
          ? int64s(`dim${i}`, [d])
          : op('Gather', [xShape, int64s(`index${i}`, [d.xDim])], `dim${i}`),
      );
      value = parts.length === 1 ? parts[0]! : op('Concat', parts, 'dims', [{ name: 'axis', type: 'int', value: 0 }]);
    }
    value.type = s.output(0).type;
    // the Shape node is left dead for cleanup: it may also size a Reshape inside the attention, which dies with it
    graph.replace({ outputs: [[s.output(0), value]] });
  }
}
