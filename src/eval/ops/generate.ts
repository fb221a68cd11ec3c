// Ops that make tensors from attributes and scalars: Constant, ConstantOfShape, Range.
import type { SparseTensor } from '../../ir/attribute.js';
import { Tensor, elementCount } from '../../ir/tensor.js';
import { DataType, dataTypeName } from '../../tensor/dtype.js';
import type { Inputs, KernelContext, OpDef } from '../kernel.js';
import {
  elementsOf,
  fromElements,
  fromNumbers,
  intsOf,
  isFloat,
  newElements,
  newNumbers,
  rounder,
  scalarOf,
  stridesOf,
} from '../values.js';

const constantForms = [
  'value',
  'value_float',
  'value_floats',
  'value_int',
  'value_ints',
  'value_string',
  'value_strings',
  'sparse_value',
];

function constant(_inputs: Inputs, ctx: KernelContext): Tensor[] {
  const present = constantForms.filter((f) => ctx.has(f));
  if (present.length !== 1) ctx.invalid(`needs exactly one of ${constantForms.join(', ')}; has ${present.length}`);
  const a = ctx.attribute(present[0]!)!;
  switch (a.type) {
    case 'tensor':
      return [a.value.withName('')];
    case 'sparse_tensor':
      return [densify(ctx, a.value)];
    case 'float':
      return [fromNumbers(DataType.FLOAT, [], [a.value])];
    case 'floats':
      return [fromNumbers(DataType.FLOAT, [a.value.length], a.value)];
    case 'int':
      return [fromNumbers(DataType.INT64, [], BigInt64Array.of(BigInt(a.value)))];
    case 'ints':
      return [fromNumbers(DataType.INT64, [a.value.length], BigInt64Array.from(a.value, BigInt))];
    case 'string':
      return [new Tensor('', DataType.STRING, [], [a.value])];
    case 'strings':
      return [new Tensor('', DataType.STRING, [a.value.length], a.value)];
    default:
      return ctx.invalid(`attribute '${a.name}' has type ${a.type}`);
  }
}

/** A sparse tensor as a dense one: indices are [NNZ] linear positions or [NNZ, rank] coordinates. */
function densify(ctx: KernelContext, sparse: SparseTensor): Tensor {
  const { values, indices, dims } = sparse;
  const count = elementCount(dims);
  const nnz = values.size;
  const raw = intsOf(ctx, indices, 'sparse indices');
  const coordinates = indices.rank === 2 && indices.dims[1] === dims.length;
  if (!(indices.rank === 1 && indices.size === nnz) && !(coordinates && indices.dims[0] === nnz)) {
    ctx.invalid(`sparse indices [${indices.dims.join(',')}] do not fit ${nnz} values of dims [${dims.join(',')}]`);
  }
  const strides = stridesOf(dims);
  const out = newElements(ctx, values.dataType, count);
  if (Array.isArray(out)) out.fill(new Uint8Array());
  const from = elementsOf(ctx, values) as unknown as { [i: number]: unknown };
  const to = out as unknown as { [i: number]: unknown };
  for (let i = 0; i < nnz; i++) {
    const pos = coordinates ? dims.reduce((p, _, k) => p + raw[i * dims.length + k]! * strides[k]!, 0) : raw[i]!;
    if (!(pos >= 0 && pos < count)) ctx.invalid(`sparse index ${pos} is out of range`);
    to[pos] = from[i];
  }
  return fromElements(values.dataType, dims, out);
}

function constantOfShape(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const dims = intsOf(ctx, ctx.input(inputs, 0), 'shape');
  if (dims.some((d) => d < 0)) ctx.invalid(`bad shape [${dims.join(',')}]`);
  const a = ctx.attribute('value');
  if (a && a.type !== 'tensor') ctx.invalid('value must be a tensor');
  const value = a?.value ?? fromNumbers(DataType.FLOAT, [1], [0]);
  if (value.size !== 1) ctx.invalid(`value must have one element, has ${value.size}`);
  const fill = (elementsOf(ctx, value) as unknown as { [i: number]: unknown })[0];
  const out = newElements(ctx, value.dataType, elementCount(dims));
  (out as unknown as { fill(v: unknown): void }).fill(fill);
  return [fromElements(value.dataType, dims, out)];
}

const rangeTypes: ReadonlySet<number> = new Set([
  DataType.FLOAT,
  DataType.DOUBLE,
  DataType.INT16,
  DataType.INT32,
  DataType.INT64,
]);

/**
 * Range: ceil((limit - start) / delta) values, each the previous plus delta in the output type, as the op's
 * function body and onnxruntime compute them (so float results accumulate rounding like theirs).
 */
function range(inputs: Inputs, ctx: KernelContext): Tensor[] {
  const [start, limit, delta] = [0, 1, 2].map((i) => ctx.input(inputs, i)) as [Tensor, Tensor, Tensor];
  const type = start.dataType;
  if (limit.dataType !== type || delta.dataType !== type) ctx.invalid('start, limit and delta differ in type');
  if (!rangeTypes.has(type)) ctx.unsupported(`element type ${dataTypeName(type)}`);
  const [s, l, d] = [scalarOf(ctx, start, 'start'), scalarOf(ctx, limit, 'limit'), scalarOf(ctx, delta, 'delta')];
  if (d === 0 || d === 0n) ctx.invalid('delta is 0');
  if (typeof s === 'bigint') {
    const [lb, db] = [l as bigint, d as bigint];
    const span = lb - s;
    // Ceiling division of span by db, for either sign.
    const q = span / db;
    const n = Number(q * db === span || span < 0n !== db < 0n ? q : q + 1n);
    const out = newNumbers(ctx, type, Math.max(n, 0)) as BigInt64Array;
    for (let i = 0; i < out.length; i++) out[i] = s + BigInt(i) * db;
    return [fromNumbers(type, [out.length], out)];
  }
  const round = isFloat(type) ? rounder(type) : (x: number) => x;
  const n = Math.ceil(round((l as number) - s) / (d as number));
  if (!Number.isFinite(n)) ctx.invalid('the range is not finite');
  const out = newNumbers(ctx, type, Math.max(n, 0)) as Float64Array;
  let v = s;
  for (let i = 0; i < out.length; i++, v = round(v + (d as number))) out[i] = v;
  return [fromNumbers(type, [out.length], out)];
}

export const generateOps: Record<string, OpDef> = {
  Constant: { kernel: constant, attributes: constantForms },
  ConstantOfShape: { kernel: constantOfShape, attributes: ['value'], since: 9 },
  Range: { kernel: range, attributes: [], since: 11 },
};
