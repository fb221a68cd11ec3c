// onnxruntime-node as the oracle: run a model and report the dims of every output it computes.

import * as ort from 'onnxruntime-node';
import type { Value } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { allocate, ORT_TYPES } from '../../src/runtime/host-tensor.js';
import { uniformFloats, withSessions } from '../kit/index.js';

/** An input of the given type and dims: seeded floats in [0, 1), zero integers (valid as indices). */
export function feed(elemType: number, dims: readonly number[]): ort.Tensor {
  const t = allocate(elemType, [...dims]);
  if (t.data instanceof Float32Array) t.data.set(uniformFloats(t.data.length).map((v) => v + 0.5));
  return new ort.Tensor(ORT_TYPES[elemType] as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.dims);
}

/** The ONNX element type of an onnxruntime tensor type. */
export function dataTypeOf(type: ort.Tensor.Type): number | undefined {
  const entry = Object.entries(ORT_TYPES).find(([, t]) => t === type);
  return entry ? Number(entry[0]) : undefined;
}

export interface OrtOutput {
  dims: number[];
  elemType: number | undefined;
}

/** Runs the model on the feeds; returns each output's dims and element type by name. */
export async function ortOutputs(model: Model, feeds: Record<string, ort.Tensor>): Promise<Map<string, OrtOutput>> {
  return withSessions([model], 'disabled', async ([session]) => {
    const results = await session!.run(feeds);
    return new Map(
      Object.entries(results).map(([name, t]) => [name, { dims: t.dims.map(Number), elemType: dataTypeOf(t.type) }]),
    );
  });
}

/** Makes every node output of the main graph a graph output (untyped), so the oracle reports all of them. */
export function exposeAllOutputs(model: Model): Value[] {
  const outputs = model.graph.nodes.flatMap((n) => n.outputs.filter((v): v is Value => v !== null));
  for (const v of outputs) if (!model.graph.outputs.includes(v)) model.graph.outputs.push(v);
  return outputs;
}
