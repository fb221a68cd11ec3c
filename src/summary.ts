// What `inspect` reports about a model, as data (the CLI formats it).
import type { Model } from './ir/model.js';
import type { Value } from './ir/graph.js';
import { shapeOf, type ValueType } from './ir/types.js';
import { dataTypeName } from './tensor/dtype.js';

export interface ValueSummary {
  name: string;
  type: string;
  shape?: (number | string | null)[];
}

export interface ModelSummary {
  irVersion: number;
  opsets: Record<string, number>;
  producer: string;
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  nodeCount: number;
  /** domain::op -> count, over the main graph and every subgraph. */
  ops: Record<string, number>;
  /** dtype -> { tensors, elements, bytes } over initializers and Constant values. */
  parameters: Record<string, { tensors: number; elements: number; bytes: number }>;
  externalData: { file: string; tensors: number; bytes: number }[];
  functions: string[];
}

export function describeType(t: ValueType | undefined): string {
  if (!t) return '?';
  switch (t.kind) {
    case 'tensor':
      return dataTypeName(t.elemType);
    case 'sparse_tensor':
      return `sparse(${dataTypeName(t.elemType)})`;
    case 'sequence':
      return `seq(${describeType(t.elem)})`;
    case 'optional':
      return `optional(${describeType(t.elem)})`;
    case 'map':
      return `map(${dataTypeName(t.keyType)},${describeType(t.value)})`;
    case 'opaque':
      return `opaque(${t.domain}::${t.name})`;
    case 'none':
      return '?';
  }
}

function valueSummary(v: Value): ValueSummary {
  const shape = shapeOf(v.type);
  return { name: v.name, type: describeType(v.type), ...(shape ? { shape: shape.map((d) => d ?? null) } : {}) };
}

export function summarizeModel(model: Model): ModelSummary {
  const ops: Record<string, number> = {};
  const parameters: ModelSummary['parameters'] = {};
  const external = new Map<string, { tensors: number; bytes: number }>();
  let nodeCount = 0;
  const countTensor = (t: { dataType: number; size: number; byteLength: number }) => {
    const p = (parameters[dataTypeName(t.dataType)] ??= { tensors: 0, elements: 0, bytes: 0 });
    p.tensors++;
    p.elements += t.size;
    p.bytes += t.byteLength;
  };
  for (const g of model.graph.allGraphs()) {
    for (const n of g.nodes) {
      nodeCount++;
      const key = `${n.domain || 'ai.onnx'}::${n.opType}`;
      ops[key] = (ops[key] ?? 0) + 1;
      const c = n.opType === 'Constant' && n.domain === '' ? n.attrTensor('value') : undefined;
      if (c) countTensor(c);
    }
    for (const v of g.initializers) {
      const t = v.initializer!;
      countTensor(t);
      const src = t.externalSource;
      if (src) {
        const e = external.get(src.where.location) ?? { tensors: 0, bytes: 0 };
        e.tensors++;
        e.bytes += src.where.length;
        external.set(src.where.location, e);
      }
    }
  }
  const sortedOps = Object.fromEntries(Object.entries(ops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
  return {
    irVersion: model.irVersion,
    opsets: Object.fromEntries(model.opsetImports.map((o) => [o.domain || 'ai.onnx', o.version])),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    inputs: model.graph.inputs.filter((v) => !v.initializer).map(valueSummary),
    outputs: model.graph.outputs.map(valueSummary),
    nodeCount,
    ops: sortedOps,
    parameters,
    externalData: [...external].map(([file, e]) => ({ file, ...e })),
    functions: model.functions.map((f) => `${f.domain}::${f.name}`),
  };
}

/** Op counts, for before/after tables. */
export function opHistogram(model: Model): Record<string, number> {
  return summarizeModel(model).ops;
}
