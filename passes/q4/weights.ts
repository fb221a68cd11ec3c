// 4-bit (N-bit) weights as tensors. A large weight's packed data, scales and zero points are made when they are
// written, from the float weight, so no layer's quantized copy stays in memory (but its small scales). A float32
// weight in an external file is read a few blocks of rows at a time.
import type { Value } from '../../src/ir/graph.js';
import { Tensor, type Scratch } from '../../src/ir/tensor.js';
import { DataType } from '../../src/tensor/dtype.js';
import { numberToFloat16Bits } from '../../src/tensor/float16.js';
import { emptyParams, nbitsShape, quantizeBlockRows, type NBitsLayout } from '../../src/tensor/nbits.js';

/** Weights from this many elements on have their packed data made on demand. */
const ON_DEMAND_ELEMENTS = 1 << 16;
/** About this many elements are read from an external file at a time. */
const CHUNK_ELEMENTS = 1 << 20;

/** The float32 or float16 constant matrix `v` holds, or why it holds none (`role` names it: weight, table). */
export function floatMatrix(v: Value | null | undefined, role: string): { value: Value; tensor: Tensor } | string {
  const tensor = v?.constantTensor();
  if (!v || !tensor) return `its ${role} is not a constant`;
  if (tensor.dataType !== DataType.FLOAT && tensor.dataType !== DataType.FLOAT16)
    return `${role} '${v.name}' is not float32 or float16`;
  if (tensor.rank !== 2) return `${role} '${v.name}' has rank ${tensor.rank}, not 2`;
  return { value: v, tensor };
}

/**
 * Visits a row-major (rows, columns) float weight in chunks of whole `rowsPerStep` row groups: from its external
 * file through `scratch` when it is float32 stored there, else from its values in memory.
 */
export function forEachRowChunk(
  weight: Tensor,
  columns: number,
  rowsPerStep: number,
  scratch: Scratch,
  visit: (rows: Float32Array, row0: number) => void,
): void {
  const rows = weight.size / columns;
  const source = weight.externalSource;
  if (!source || weight.dataType !== DataType.FLOAT) {
    visit(weight.peekFloat32(scratch), 0);
    return;
  }
  const step = Math.max(1, Math.floor(CHUNK_ELEMENTS / (rowsPerStep * columns))) * rowsPerStep;
  const bytes = scratch.take(Math.min(step, rows) * columns * 4);
  for (let row0 = 0; row0 < rows; row0 += step) {
    const count = Math.min(step, rows - row0) * columns;
    const where = { ...source.where, offset: source.where.offset + row0 * columns * 4, length: count * 4 };
    const got = source.loader(where, bytes);
    // a loader that ignored the buffer hands back its own bytes
    if (got.buffer !== bytes.buffer || got.byteOffset !== bytes.byteOffset) bytes.set(got);
    visit(new Float32Array(bytes.buffer, bytes.byteOffset, count), row0);
  }
}

export interface NBitsWeight {
  layout: NBitsLayout;
  /** uint8 [N, kBlocks, blobSize]. */
  data: Tensor;
  /** [N, kBlocks] in the weight's float type. */
  scales: Tensor;
  /** uint8 [N, zeroPointBytes], asymmetric only. */
  zeroPoints?: Tensor;
}

/**
 * Quantizes a (K, N) weight for MatMulNBits. `values` visits its rows in chunks of whole blocks (forEachRowChunk
 * on the weight, or on a transposed copy). For a large weight nothing is computed until a tensor is read: packing
 * the data works out the block parameters on the way, so a model written in order (data before scales, as the
 * pass adds them) reads each float weight once; scales read first cost one extra pass without packing.
 */
export function nbitsWeight(
  layout: NBitsLayout,
  values: (visit: (rows: Float32Array, row0: number) => void) => void,
): NBitsWeight {
  const { kBlocks, blobSize, zeroPointBytes } = nbitsShape(layout);
  const byteLength = layout.n * kBlocks * blobSize;
  const params = emptyParams(layout);
  let measured = false;
  const make = (packed: Uint8Array) => {
    packed.fill(0);
    values((rows, row0) => quantizeBlockRows(rows, row0, layout, params, packed));
    measured = true;
    return packed;
  };
  const measure = () => {
    if (!measured) values((rows, row0) => quantizeBlockRows(rows, row0, layout, params));
    measured = true;
    return params;
  };
  const scaleType = layout.float16Scales ? DataType.FLOAT16 : DataType.FLOAT;
  const scaleBytes = () => {
    const { scales } = measure();
    const typed = layout.float16Scales ? Uint16Array.from(scales, numberToFloat16Bits) : scales;
    return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  };
  const scaleDims = [layout.n, kBlocks];
  if (layout.k * layout.n < ON_DEMAND_ELEMENTS) {
    const data = new Tensor('', DataType.UINT8, [layout.n, kBlocks, blobSize], make(new Uint8Array(byteLength)));
    const zp = params.zeroPoints;
    return {
      layout,
      data,
      scales: new Tensor('', scaleType, scaleDims, scaleBytes()),
      ...(zp ? { zeroPoints: new Tensor('', DataType.UINT8, [layout.n, zeroPointBytes], zp) } : {}),
    };
  }
  const lazy = (length: number, bytes: () => Uint8Array) => ({
    byteLength: length,
    load: (into?: Uint8Array) => {
      const b = bytes();
      if (!into) return b;
      into.set(b);
      return into.subarray(0, length);
    },
  });
  const load = (into?: Uint8Array) => make(into ? into.subarray(0, byteLength) : new Uint8Array(byteLength));
  return {
    layout,
    data: new Tensor('', DataType.UINT8, [layout.n, kBlocks, blobSize], { byteLength, load }),
    scales: new Tensor('', scaleType, scaleDims, lazy(layout.n * kBlocks * (layout.float16Scales ? 2 : 4), scaleBytes)),
    ...(layout.symmetric
      ? {}
      : {
          zeroPoints: new Tensor(
            '',
            DataType.UINT8,
            [layout.n, zeroPointBytes],
            lazy(layout.n * zeroPointBytes, () => measure().zeroPoints!),
          ),
        }),
  };
}
