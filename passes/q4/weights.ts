// 4-bit (N-bit) weights as tensors. Block parameters (scales, zero points) are worked out when a weight is
// quantized; the packed data of a large weight is made again from the float weight when it is written, so no layer's
// packed copy stays in memory. A float32 weight in an external file is read a few blocks of rows at a time.
import { Tensor, type Scratch } from '../../src/ir/tensor.js';
import { DataType } from '../../src/tensor/dtype.js';
import { emptyParams, nbitsShape, quantizeBlockRows, type NBitsLayout, type NBitsParams } from '../../src/tensor/nbits.js';

/** Weights from this many elements on have their packed data made on demand. */
const ON_DEMAND_ELEMENTS = 1 << 16;
/** About this many elements are read from an external file at a time. */
const CHUNK_ELEMENTS = 1 << 20;

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
  params: NBitsParams;
  /** uint8 [N, kBlocks, blobSize]. */
  data: Tensor;
}

/**
 * Quantizes a (K, N) weight for MatMulNBits. `values` visits its rows in chunks of whole blocks (forEachRowChunk
 * on the weight, or on a transposed copy).
 */
export function nbitsWeight(layout: NBitsLayout, values: (visit: (rows: Float32Array, row0: number) => void) => void): NBitsWeight {
  const { kBlocks, blobSize } = nbitsShape(layout);
  const dims = [layout.n, kBlocks, blobSize];
  const byteLength = layout.n * kBlocks * blobSize;
  const params = emptyParams(layout);
  const make = (packed: Uint8Array) => {
    packed.fill(0);
    values((rows, row0) => quantizeBlockRows(rows, row0, layout, params, packed));
    return packed;
  };
  if (layout.k * layout.n < ON_DEMAND_ELEMENTS) return { layout, params, data: new Tensor('', DataType.UINT8, dims, make(new Uint8Array(byteLength))) };
  values((rows, row0) => quantizeBlockRows(rows, row0, layout, params));
  const load = (into?: Uint8Array) => make(into ? into.subarray(0, byteLength) : new Uint8Array(byteLength));
  return { layout, params, data: new Tensor('', DataType.UINT8, dims, { byteLength, load }) };
}
