// Gather of a constant (vocab, hidden) table -> com.microsoft::GatherBlockQuantized, 4-bit blocks along the hidden
// axis, with onnxruntime's MatMulNBitsQuantizer numbers (its numpy path: true float32 division, numpy's round half
// to even). From ai.onnx opset 21 the table is INT4 (symmetric) or UINT4 with UINT4 zero points, as onnxruntime
// writes it; below 21, where those types do not exist, it keeps the model's opset and writes GatherBlockQuantized's
// uint8 form (two values a byte, low bits first, bits=4; symmetric values offset by 8, the op's default zero point).
import { attr } from '../../src/ir/attribute.js';
import type { Graph, Node, Value } from '../../src/ir/graph.js';
import { Tensor, type Scratch } from '../../src/ir/tensor.js';
import { DataType } from '../../src/tensor/dtype.js';
import { numberToFloat16Bits } from '../../src/tensor/float16.js';
import type { Q4Settings } from '../q4.js';
import { takeOver } from './rewrite.js';
import { floatMatrix } from './weights.js';

const f32 = Math.fround;

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest !== 0.5) return Math.round(x);
  return floor % 2 === 0 ? floor : floor + 1;
}

export interface GatherQuantization {
  /** Unpacked values, signed (-8..7) when symmetric, else 0..15; row-major like the table. */
  values: Int8Array;
  /** [rows, kBlocks]. */
  scales: Float32Array;
  /** [rows, kBlocks], asymmetric only. */
  zeroPoints?: Uint8Array;
  kBlocks: number;
}

/** onnxruntime's quantize_ndarray for a (rows, k) table quantized along k. */
export function quantizeTable(
  table: Float32Array,
  rows: number,
  k: number,
  blockSize: number,
  symmetric: boolean,
): GatherQuantization {
  const kBlocks = Math.ceil(k / blockSize);
  const values = new Int8Array(rows * k);
  const scales = new Float32Array(rows * kBlocks);
  const zeroPoints = symmetric ? undefined : new Uint8Array(rows * kBlocks);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < kBlocks; b++) {
      const start = r * k + b * blockSize;
      const end = r * k + Math.min((b + 1) * blockSize, k);
      let min = Infinity;
      let max = -Infinity;
      for (let i = start; i < end; i++) {
        const v = table[i]!;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      if (symmetric) {
        const absMax = Math.abs(max) > Math.abs(min) ? max : min;
        const scale = f32(absMax / -8);
        scales[r * kBlocks + b] = scale;
        for (let i = start; i < end; i++)
          values[i] = scale === 0 ? 0 : Math.max(-8, Math.min(7, roundHalfEven(f32(table[i]! / scale))));
      } else {
        min = Math.min(min, 0);
        max = Math.max(max, 0);
        const scale = f32(f32(max - min) / 15);
        const zp = scale === 0 ? 8 : Math.max(0, Math.min(15, roundHalfEven(f32(-min / scale))));
        scales[r * kBlocks + b] = scale;
        zeroPoints![r * kBlocks + b] = zp;
        for (let i = start; i < end; i++)
          values[i] = scale === 0 ? 8 : Math.max(0, Math.min(15, roundHalfEven(f32(f32(table[i]! / scale) + zp))));
      }
    }
  }
  return { values, scales, ...(zeroPoints ? { zeroPoints } : {}), kBlocks };
}

/** Two 4-bit values a byte, the first in the low bits; `offset` is added to each value first. */
function pack4(values: ArrayLike<number>, offset = 0): Uint8Array {
  const out = new Uint8Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) out[i >> 1] = out[i >> 1]! | (((values[i]! + offset) & 0xf) << ((i & 1) * 4));
  return out;
}

/** Packs each row of a (rows, columns) 4-bit array on its own (GatherBlockQuantized's uint8 form). */
function pack4Rows(values: ArrayLike<number>, rows: number, columns: number, offset = 0): Uint8Array {
  const perRow = Math.ceil(columns / 2);
  const out = new Uint8Array(rows * perRow);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) {
      const at = r * perRow + (c >> 1);
      out[at] = out[at]! | (((values[r * columns + c]! + offset) & 0xf) << ((c & 1) * 4));
    }
  }
  return out;
}

/** Rewrites one Gather of a constant table, or says why it stays. */
export function quantizeGather(
  graph: Graph,
  node: Node,
  settings: Q4Settings,
  opset: number,
  scratch: Scratch,
  replaced: Set<Value>,
): string | undefined {
  if (settings.bits !== 4) return 'tables are quantized to 4 bits only';
  const matrix = floatMatrix(node.inputs[0], 'table');
  if (typeof matrix === 'string') return matrix;
  const { value: data, tensor } = matrix;
  const axis = node.attrInt('axis', 0);
  if (axis !== 0) return `it gathers along axis ${axis}, not 0`;
  const [rows, k] = tensor.dims as [number, number];
  const q = quantizeTable(tensor.peekFloat32(scratch), rows, k, settings.blockSize, settings.symmetric);
  const fp16 = tensor.dataType === DataType.FLOAT16;
  const scales = fp16
    ? Tensor.fromArray('', DataType.FLOAT16, [rows, q.kBlocks], Uint16Array.from(q.scales, numberToFloat16Bits))
    : Tensor.fromArray('', DataType.FLOAT, [rows, q.kBlocks], q.scales);
  const int4 = opset >= 21;
  const inputs: Value[] = [];
  if (int4) {
    const type = settings.symmetric ? DataType.INT4 : DataType.UINT4;
    inputs.push(
      graph.addInitializer(`${data.name}_Q4`, new Tensor('', type, [rows, k], pack4(q.values))),
      node.input(1),
      graph.addInitializer(`${data.name}_scales`, scales),
    );
    if (q.zeroPoints)
      inputs.push(
        graph.addInitializer(
          `${data.name}_zero_points`,
          new Tensor('', DataType.UINT4, [rows, q.kBlocks], pack4(q.zeroPoints)),
        ),
      );
  } else {
    const packed = pack4Rows(q.values, rows, k, settings.symmetric ? 8 : 0);
    inputs.push(
      graph.addInitializer(`${data.name}_Q4`, new Tensor('', DataType.UINT8, [rows, Math.ceil(k / 2)], packed)),
      node.input(1),
      graph.addInitializer(`${data.name}_scales`, scales),
    );
    if (q.zeroPoints) {
      const zp = pack4Rows(q.zeroPoints, rows, q.kBlocks);
      inputs.push(
        graph.addInitializer(
          `${data.name}_zero_points`,
          new Tensor('', DataType.UINT8, [rows, Math.ceil(q.kBlocks / 2)], zp),
        ),
      );
    }
  }
  const attributes = [attr('gather_axis', 0), attr('quantize_axis', 1), attr('block_size', settings.blockSize)];
  if (!int4) attributes.push(attr('bits', 4));
  const out = node.output(0);
  const gq = graph.createNode({
    opType: 'GatherBlockQuantized',
    domain: 'com.microsoft',
    inputs,
    outputs: [graph.newValue(`${out.name}_Q4`, out.type)],
    attributes,
    name: node.name ? `${node.name}_Q4` : '',
    before: node,
  });
  if (!node.name) gq.name = '';
  replaced.add(data);
  takeOver(graph, node, gq.output(0));
  return undefined;
}
