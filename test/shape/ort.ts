// onnxruntime-node as the oracle: run a model and report the dims of every output it computes.

import * as ort from 'onnxruntime-node';
import type { Value } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DataType } from '../../src/tensor/dtype.js';

const ORT_TYPES: Record<number, ort.Tensor.Type> = {
  [DataType.FLOAT]: 'float32',
  [DataType.INT32]: 'int32',
  [DataType.INT64]: 'int64',
  [DataType.UINT8]: 'uint8',
  [DataType.INT8]: 'int8',
  [DataType.BOOL]: 'bool',
};

/** An input of the given type and dims: random floats, zero integers (valid as indices). */
export function feed(elemType: number, dims: readonly number[]): ort.Tensor {
  const type = ORT_TYPES[elemType];
  if (!type) throw new Error(`no test feed for element type ${elemType}`);
  const size = dims.reduce((a, b) => a * b, 1);
  const data =
    type === 'float32' ? new Float32Array(size).map(() => Math.random()) :
    type === 'int64' ? new BigInt64Array(size) :
    type === 'int32' ? new Int32Array(size) :
    type === 'int8' ? new Int8Array(size) :
    new Uint8Array(size);
  return new ort.Tensor(type, data, [...dims]);
}

/** The ONNX element type of an onnxruntime tensor type. */
export function dataTypeOf(type: ort.Tensor.Type): number | undefined {
  const entry = Object.entries(ORT_TYPES).find(([, t]) => t === type);
  return entry ? Number(entry[0]) : type === 'float16' ? DataType.FLOAT16 : undefined;
}

export interface OrtOutput {
  dims: number[];
  elemType: number | undefined;
}

/** Runs the model on the feeds; returns each output's dims and element type by name. */
export async function ortOutputs(model: Model, feeds: Record<string, ort.Tensor>): Promise<Map<string, OrtOutput>> {
  const session = await ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: 'disabled' });
  try {
    const results = await session.run(feeds);
    return new Map(Object.entries(results).map(([name, t]) => [name, { dims: t.dims.map(Number), elemType: dataTypeOf(t.type) }]));
  } finally {
    await session.release();
  }
}

/** Makes every node output of the main graph a graph output (untyped), so the oracle reports all of them. */
export function exposeAllOutputs(model: Model): Value[] {
  const outputs = model.graph.nodes.flatMap((n) => n.outputs.filter((v): v is Value => v !== null));
  for (const v of outputs) if (!model.graph.outputs.includes(v)) model.graph.outputs.push(v);
  return outputs;
}
