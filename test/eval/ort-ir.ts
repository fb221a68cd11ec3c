// IR tensors to and from onnxruntime-node tensors, for tests that compare the evaluator with onnxruntime.
import * as ort from 'onnxruntime-node';
import { Tensor } from '../../src/ir/tensor.js';
import { ORT_TYPES } from '../../src/runtime/host-tensor.js';
import { dataTypeName } from '../../src/tensor/dtype.js';

const DATA_TYPES = new Map(Object.entries(ORT_TYPES).map(([k, v]) => [v, Number(k)]));

export function toOrt(t: Tensor): ort.Tensor {
  const type = ORT_TYPES[t.dataType] as ort.Tensor.Type | undefined;
  if (!type) throw new Error(`onnxruntime-node has no ${dataTypeName(t.dataType)} tensors`);
  return new ort.Tensor(type, t.typed() as ort.Tensor.DataType, [...t.dims]);
}

export function fromOrt(t: ort.Tensor): Tensor {
  const dataType = DATA_TYPES.get(t.type);
  if (dataType === undefined) throw new Error(`no IR type for onnxruntime type ${t.type}`);
  const data = t.data as ArrayBufferView;
  return new Tensor('', dataType, t.dims.map(Number), new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}
