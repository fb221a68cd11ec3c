// The quantized data of a weight as a tensor. Scales and zero points are worked out when the weight is quantized;
// the 8-bit values of a large weight are made again from the float weight each time they are read (written out):
// keeping every layer's quantized copy in memory costs more in page faults than quantizing twice. Weights stored in
// an external file are read block by block where the layout allows, so not even the float table of a large
// embedding is in memory whole.
import { Tensor, type Scratch } from '../../src/ir/tensor.js';
import { DataType } from '../../src/tensor/dtype.js';
import {
  planWeightQuantization,
  type BlockedValues,
  type WeightQuantOptions,
  type WeightQuantization,
} from '../../src/tensor/quantize.js';

/** Weights from this many elements on are quantized on demand. */
const ON_DEMAND_ELEMENTS = 1 << 16;
/** Elements read per block from an external file. */
const BLOCK_ELEMENTS = 1 << 20;

/** A quantized weight: its 8-bit data as a tensor, and how it was quantized. */
export type QuantizedTensor = Omit<WeightQuantization, 'fill'> & { data: Tensor };

/** An external float32 weight's values block by block (whole rows of `row` elements), through `scratch`. */
function blocksOf(weight: Tensor, row: number, scratch: Scratch): BlockedValues | undefined {
  const source = weight.externalSource;
  if (!source || weight.dataType !== DataType.FLOAT) return undefined;
  const size = weight.size;
  const perBlock = Math.max(row, Math.floor(BLOCK_ELEMENTS / row) * row);
  return {
    length: size,
    forEachBlock(visit) {
      const bytes = scratch.take(Math.min(perBlock, size) * 4);
      const block = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      for (let start = 0; start < size; start += perBlock) {
        const count = Math.min(perBlock, size - start);
        const got = source.loader(
          { ...source.where, offset: source.where.offset + start * 4, length: count * 4 },
          bytes,
        );
        // a loader that ignored the buffer hands back its own bytes
        if (got.buffer !== bytes.buffer || got.byteOffset !== bytes.byteOffset) bytes.set(got);
        visit(block.subarray(0, count));
      }
    },
  };
}

/**
 * Quantizes a float32 weight read as `dims` (its own dims, or the same elements read otherwise). Its values are read
 * through `scratch`, now and whenever the data is made again.
 */
export function quantizedTensor(
  weight: Tensor,
  dims: readonly number[],
  options: WeightQuantOptions,
  scratch: Scratch,
): QuantizedTensor {
  const byRows = options.axis === undefined || options.axis === dims.length - 1;
  const row = options.axis === undefined ? 1 : dims.at(-1)!;
  const values = () => (byRows && blocksOf(weight, row, scratch)) || weight.peekFloat32(scratch);
  const { fill, ...plan } = planWeightQuantization(values(), dims, options);
  const dataType = plan.type === 'int8' ? DataType.INT8 : DataType.UINT8;
  const count = weight.size;
  const make = (bytes: Uint8Array) => {
    fill(values(), plan.type === 'int8' ? new Int8Array(bytes.buffer, bytes.byteOffset, count) : bytes);
    return bytes;
  };
  if (count < ON_DEMAND_ELEMENTS) return { ...plan, data: new Tensor('', dataType, dims, make(new Uint8Array(count))) };
  const load = (into?: Uint8Array) => make(into ? into.subarray(0, count) : new Uint8Array(count));
  return { ...plan, data: new Tensor('', dataType, dims, { byteLength: count, load }) };
}
