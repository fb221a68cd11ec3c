// IR models as plain data (names instead of object links, tensor bytes as hex), so two models can be compared with
// toEqual, and the use-def bookkeeping of a graph can be checked against its node lists.
import type { Attribute, SparseTensor } from '../../src/ir/attribute.js';
import type { Graph, Node, Value } from '../../src/ir/graph.js';
import type { Model, OnnxFunction } from '../../src/ir/model.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { onnxRoot } from './protobufjs-onnx.js';

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Pass-through protobuf messages (training info, device configurations), whether plain objects or decoded. */
function message(typeName: string, m: unknown): unknown {
  const type = onnxRoot.lookupType(`onnx.${typeName}`);
  return type.toObject(type.fromObject(m as Record<string, unknown>), { longs: String, bytes: String });
}

export function describeTensor(t: Tensor): unknown {
  return {
    name: t.name,
    dataType: t.dataType,
    dims: [...t.dims],
    data: t.strings ? t.strings.map(hex) : hex(t.bytes()),
    docString: t.docString,
    metadataProps: t.metadataProps,
    segment: t.segment,
  };
}

function describeSparse(s: SparseTensor): unknown {
  return { values: describeTensor(s.values), indices: describeTensor(s.indices), dims: s.dims };
}

function describeAttribute(a: Attribute): unknown {
  const common = { name: a.name, type: a.type, docString: a.docString };
  switch (a.type) {
    case 'ref':
      return { ...common, refType: a.refType, refAttrName: a.refAttrName };
    case 'int':
      return { ...common, value: BigInt(a.value) };
    case 'ints':
      return { ...common, value: a.value.map(BigInt) };
    case 'string':
      return { ...common, value: hex(a.value) };
    case 'strings':
      return { ...common, value: a.value.map(hex) };
    case 'tensor':
      return { ...common, value: describeTensor(a.value) };
    case 'tensors':
      return { ...common, value: a.value.map(describeTensor) };
    case 'graph':
      return { ...common, value: describeGraph(a.value) };
    case 'graphs':
      return { ...common, value: a.value.map(describeGraph) };
    case 'sparse_tensor':
      return { ...common, value: describeSparse(a.value) };
    case 'sparse_tensors':
      return { ...common, value: a.value.map(describeSparse) };
    // Float attributes are float32 on the wire.
    case 'float':
      return { ...common, value: Math.fround(a.value) };
    case 'floats':
      return { ...common, value: a.value.map(Math.fround) };
    default:
      return { ...common, value: a.value };
  }
}

function describeValue(v: Value): unknown {
  return { name: v.name, type: v.type, docString: v.docString, metadataProps: v.metadataProps };
}

function describeNode(n: Node): unknown {
  return {
    opType: n.opType,
    domain: n.domain,
    name: n.name,
    overload: n.overload,
    docString: n.docString,
    metadataProps: n.metadataProps,
    inputs: n.inputs.map((v) => v?.name ?? null),
    outputs: n.outputs.map((v) => v?.name ?? null),
    attributes: [...n.attributes.values()].map(describeAttribute),
    deviceConfigurations: n.deviceConfigurations.map((c) => message('NodeDeviceConfigurationProto', c)),
  };
}

export function describeGraph(g: Graph): unknown {
  return {
    name: g.name,
    docString: g.docString,
    metadataProps: g.metadataProps,
    inputs: g.inputs.map(describeValue),
    outputs: g.outputs.map(describeValue),
    initializers: g.initializers.map((v) => ({ value: v.name, tensor: describeTensor(v.initializer!) })),
    sparseInitializers: g.sparseInitializers.map(describeSparse),
    valueInfo: g.valueInfo.map(describeValue),
    quantizationAnnotations: g.quantizationAnnotations,
    nodes: g.nodes.map(describeNode),
  };
}

function describeFunction(f: OnnxFunction): unknown {
  return {
    name: f.name,
    domain: f.domain,
    overload: f.overload,
    docString: f.docString,
    metadataProps: f.metadataProps,
    attributeNames: f.attributeNames,
    attributeDefaults: f.attributeDefaults.map(describeAttribute),
    opsetImports: f.opsetImports,
    body: describeGraph(f.body),
  };
}

/** The whole model as plain data. */
export function describeModel(m: Model): unknown {
  return {
    irVersion: m.irVersion,
    opsetImports: m.opsetImports,
    producerName: m.producerName,
    producerVersion: m.producerVersion,
    domain: m.domain,
    modelVersion: m.modelVersion,
    docString: m.docString,
    metadataProps: m.metadataProps,
    functions: m.functions.map(describeFunction),
    trainingInfo: m.trainingInfo.map((t) => message('TrainingInfoProto', t)),
    configuration: m.configuration.map((c) => message('DeviceConfigurationProto', c)),
    graph: describeGraph(m.graph),
  };
}

/**
 * Use-def problems in a graph and its subgraphs (empty when consistent): every node input lists the node among
 * its value's uses, every use points back at a matching input, and every node output names its producer.
 */
export function useDefProblems(root: Graph): string[] {
  const problems: string[] = [];
  const values = new Set<Value>();
  const nodes = new Set<Node>();
  for (const g of root.allGraphs()) {
    for (const v of [...g.inputs, ...g.initializers]) {
      values.add(v);
      if (v.producer) problems.push(`graph '${g.name}' input/initializer '${v.name}' has a producer`);
    }
    for (const n of g.nodes) {
      nodes.add(n);
      if (n.graph !== g) problems.push(`node '${n.name}' does not know it is in graph '${g.name}'`);
      n.inputs.forEach((v, i) => {
        if (!v) return;
        values.add(v);
        if (!v.uses.some((u) => u.node === n && u.index === i))
          problems.push(`'${v.name}' misses use (${n.name}, ${i})`);
      });
      n.outputs.forEach((v, i) => {
        if (!v) return;
        values.add(v);
        if (v.producer !== n || v.outputIndex !== i) problems.push(`'${v.name}' producer is not (${n.name}, ${i})`);
      });
    }
  }
  for (const v of values) {
    for (const u of v.uses) {
      if (!nodes.has(u.node)) problems.push(`'${v.name}' is used by '${u.node.name}', which is not in the graph`);
      else if (u.node.inputs[u.index] !== v) problems.push(`'${v.name}' use (${u.node.name}, ${u.index}) is stale`);
    }
  }
  return problems;
}
