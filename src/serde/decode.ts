// ModelProto bytes -> IR. Tensors keep raw_data as views on the input; external data becomes lazy bytes. Fields the
// schema does not know are kept (as raw bytes) on the IR objects that have a place for them.
import { OnnxOptError } from '../errors.js';
import type { Attribute, AttributeType, SparseTensor } from '../ir/attribute.js';
import { Graph, Node, Value } from '../ir/graph.js';
import { Model, OnnxFunction, type OpsetImport } from '../ir/model.js';
import { Tensor, elementCount, type ExternalLoader, type ExternalLocation, type StringEntries } from '../ir/tensor.js';
import type { Dim, ValueType } from '../ir/types.js';
import { DataType, bitsPerElement, byteLengthOf, dataTypeName, isKnownDataType } from '../tensor/dtype.js';
import { onnxSchema } from './onnx-schema.js';
import { decodeMessage, type Message } from './wire.js';

// Decoded protobuf messages are read structurally; `P` keeps that reading terse.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type P = any;

/** int64 fields decode to numbers, or to bigints beyond 2^53. */
type Int64 = number | bigint;

const has = (msg: Message, field: string): boolean => msg[field] !== undefined;

export interface DecodeOptions {
  /** Reads external tensor data; without it a model with external data fails when a tensor is read. */
  externalLoader?: ExternalLoader;
}

export const ATTRIBUTE_TYPES: readonly AttributeType[] = [
  'undefined',
  'float',
  'int',
  'string',
  'tensor',
  'graph',
  'floats',
  'ints',
  'strings',
  'tensors',
  'graphs',
  'sparse_tensor',
  'sparse_tensors',
  'type_proto',
  'type_protos',
];

/** Field of AttributeProto holding each attribute type's payload. */
export const ATTRIBUTE_FIELDS: Record<Exclude<AttributeType, 'undefined'>, string> = {
  float: 'f',
  int: 'i',
  string: 's',
  tensor: 't',
  graph: 'g',
  sparse_tensor: 'sparse_tensor',
  type_proto: 'tp',
  floats: 'floats',
  ints: 'ints',
  strings: 'strings',
  tensors: 'tensors',
  graphs: 'graphs',
  sparse_tensors: 'sparse_tensors',
  type_protos: 'type_protos',
};

export function decodeModel(bytes: Uint8Array, options: DecodeOptions = {}): Model {
  let proto: P;
  try {
    proto = decodeMessage(onnxSchema, 'ModelProto', bytes);
  } catch (e) {
    throw new OnnxOptError(`not a valid ONNX model: ${(e as Error).message}`, undefined, { cause: e });
  }
  return new Decoder(options).model(proto);
}

/** Decodes a serialized TensorProto (e.g. the ONNX backend tests' input_N.pb files). */
export function decodeTensor(bytes: Uint8Array): Tensor {
  let proto: P;
  try {
    proto = decodeMessage(onnxSchema, 'TensorProto', bytes);
  } catch (e) {
    throw new OnnxOptError(`not a valid ONNX tensor: ${(e as Error).message}`, undefined, { cause: e });
  }
  return new Decoder({}).tensor(proto);
}

function num(x: Int64 | null | undefined, what: string): number {
  if (x == null) return 0;
  if (typeof x === 'bigint') throw new OnnxOptError(`${what} ${x} is out of range`);
  return x;
}

function entries(list: P[] | undefined): StringEntries {
  return (list ?? []).map((e: P) => [e.key ?? '', e.value ?? '']);
}

class Decoder {
  constructor(private readonly options: DecodeOptions) {}

  model(p: P): Model {
    if (!has(p, 'graph')) throw new OnnxOptError('model has no graph');
    const m = new Model(this.graph(p.graph, null, 'graph'));
    m.irVersion = num(p.ir_version, 'ir_version');
    m.opsetImports = this.opsets(p.opset_import);
    m.producerName = p.producer_name ?? '';
    m.producerVersion = p.producer_version ?? '';
    m.domain = p.domain ?? '';
    m.modelVersion = num(p.model_version, 'model_version');
    m.docString = p.doc_string ?? '';
    m.metadataProps = entries(p.metadata_props);
    m.trainingInfo = p.training_info ?? [];
    m.configuration = p.configuration ?? [];
    m.functions = (p.functions ?? []).map((f: P) => this.function(f));
    if (p.$unknown) m.unknownFields = p.$unknown;
    return m;
  }

  opsets(list: P[] | undefined): OpsetImport[] {
    return (list ?? []).map((o: P) => ({ domain: o.domain ?? '', version: num(o.version, 'opset version') }));
  }

  function(p: P): OnnxFunction {
    const f = new OnnxFunction(p.domain ?? '', p.name ?? '');
    f.overload = p.overload ?? '';
    f.docString = p.doc_string ?? '';
    f.metadataProps = entries(p.metadata_props);
    f.attributeNames = [...(p.attribute ?? [])];
    f.attributeDefaults = (p.attribute_proto ?? []).map((a: P) => this.attribute(a, f.body));
    f.opsetImports = this.opsets(p.opset_import);
    if (p.$unknown) f.unknownFields = p.$unknown;
    const where = `function '${f.domain}::${f.name}'`;
    const scope = new Map<string, Value>();
    for (const name of p.input ?? []) f.body.addInput(this.define(scope, new Value(name), where));
    this.nodes(f.body, p.node ?? [], scope, where);
    for (const name of p.output ?? []) f.body.outputs.push(this.resolve(f.body, scope, name, `${where} output`));
    this.valueInfo(f.body, p.value_info, scope);
    return f;
  }

  graph(p: P, parent: Graph | null, where: string): Graph {
    const g = new Graph(p.name ?? '', parent);
    g.docString = p.doc_string ?? '';
    g.metadataProps = entries(p.metadata_props);
    if (p.$unknown) g.unknownFields = p.$unknown;
    const scope = new Map<string, Value>();
    scopes.set(g, scope);
    for (const vi of p.input ?? []) g.addInput(this.define(scope, this.valueFromInfo(vi), where));
    const initializers = new Set<Value>();
    for (const tp of p.initializer ?? []) {
      const t = this.tensor(tp);
      const earlier = scope.get(t.name);
      // Of initializers sharing a name, onnxruntime uses the last one: so does the IR, which holds one per name.
      if (earlier && initializers.has(earlier)) {
        earlier.initializer = t;
        continue;
      }
      initializers.add(g.adoptInitializer(earlier ?? this.define(scope, new Value(t.name), where), t));
    }
    for (const sp of p.sparse_initializer ?? []) {
      const s = this.sparse(sp);
      g.sparseInitializers.push(s);
      if (!scope.has(s.values.name)) this.define(scope, new Value(s.values.name), where);
    }
    this.nodes(g, p.node ?? [], scope, where);
    for (const vi of p.output ?? []) {
      const v = this.resolve(g, scope, vi.name ?? '', `${where} output`);
      this.annotate(v, vi);
      g.outputs.push(v);
    }
    this.valueInfo(g, p.value_info, scope);
    g.quantizationAnnotations = (p.quantization_annotation ?? []).map((q: P) => ({
      tensorName: q.tensor_name ?? '',
      quantParameterTensorNames: entries(q.quant_parameter_tensor_names),
    }));
    return g;
  }

  /** Creates every node's outputs first, so inputs (and subgraphs) may refer to values defined later. */
  nodes(g: Graph, protos: P[], scope: Map<string, Value>, where: string): void {
    const built = protos.map((np: P) => {
      const outputs = (np.output ?? []).map((name: string) =>
        name ? this.define(scope, new Value(name), where) : null,
      );
      const node = new Node({ opType: np.op_type ?? '', domain: np.domain ?? '', name: np.name ?? '', outputs });
      return node;
    });
    protos.forEach((np: P, i) => {
      const node = built[i]!;
      // Only what is there: nodes are many, and their defaults are set already.
      if (np.overload) node.overload = np.overload;
      if (np.doc_string) node.docString = np.doc_string;
      if (np.metadata_props) node.metadataProps = entries(np.metadata_props);
      if (np.device_configurations) node.deviceConfigurations = np.device_configurations;
      if (np.$unknown) node.unknownFields = np.$unknown;
      const inputs = (np.input ?? []).map((name: string) =>
        name ? this.resolve(g, scope, name, () => `node ${node.describe()} input`) : null,
      );
      node.setInputs(inputs);
      for (const ap of np.attribute ?? []) {
        const a = this.attribute(ap, g);
        node.attributes.set(a.name, a);
      }
      g.insertNode(node);
    });
  }

  define(scope: Map<string, Value>, v: Value, where: string): Value {
    if (scope.has(v.name)) throw new OnnxOptError(`${where}: value '${v.name}' is defined more than once`);
    scope.set(v.name, v);
    return v;
  }

  /** `what` names the reader in the error; a function when building that name costs (it runs only on failure). */
  resolve(g: Graph, scope: Map<string, Value>, name: string, what: string | (() => string)): Value {
    const v = scope.get(name) ?? lookupOuter(g.parent, name);
    if (!v) {
      const reader = typeof what === 'string' ? what : what();
      throw new OnnxOptError(`${reader} '${name}' is not produced by any node, input or initializer`);
    }
    return v;
  }

  /**
   * A subgraph's value_info may describe a value of an outer graph (an initializer its nodes read): the entry is
   * that value, so a pass that changes its type (fp16) changes what the subgraph declares too.
   */
  valueInfo(g: Graph, list: P[] | undefined, scope: Map<string, Value>): void {
    for (const vi of list ?? []) {
      const name = vi.name ?? '';
      const v = scope.get(name) ?? lookupOuter(g.parent, name) ?? new Value(name);
      this.annotate(v, vi);
      g.valueInfo.push(v);
    }
  }

  valueFromInfo(vi: P): Value {
    const v = new Value(vi.name ?? '');
    this.annotate(v, vi);
    return v;
  }

  annotate(v: Value, vi: P): void {
    if (has(vi, 'type')) v.type = this.type(vi.type);
    if (vi.doc_string) v.docString = vi.doc_string;
    if (vi.metadata_props?.length) v.metadataProps = entries(vi.metadata_props);
    if (vi.$unknown) v.unknownFields = vi.$unknown;
  }

  type(p: P): ValueType {
    const denotation = p.denotation || undefined;
    const withDenotation = <T extends ValueType>(t: T): T => (denotation ? { ...t, denotation } : t);
    const shaped = (kind: 'tensor' | 'sparse_tensor', t: P): ValueType => {
      const out: { kind: typeof kind; elemType: number; shape?: Dim[] } = { kind, elemType: t.elem_type ?? 0 };
      if (has(t, 'shape')) out.shape = (t.shape.dim ?? []).map((d: P) => this.dim(d));
      return withDenotation(out);
    };
    if (has(p, 'tensor_type')) return shaped('tensor', p.tensor_type);
    if (has(p, 'sparse_tensor_type')) return shaped('sparse_tensor', p.sparse_tensor_type);
    const inner = (t: P): ValueType | undefined => (has(t, 'elem_type') ? this.type(t.elem_type) : undefined);
    if (has(p, 'sequence_type')) return withDenotation({ kind: 'sequence', elem: inner(p.sequence_type) });
    if (has(p, 'optional_type')) return withDenotation({ kind: 'optional', elem: inner(p.optional_type) });
    if (has(p, 'map_type')) {
      const mt = p.map_type;
      return withDenotation({
        kind: 'map',
        keyType: mt.key_type ?? 0,
        value: has(mt, 'value_type') ? this.type(mt.value_type) : undefined,
      });
    }
    if (has(p, 'opaque_type')) {
      return withDenotation({ kind: 'opaque', domain: p.opaque_type.domain ?? '', name: p.opaque_type.name ?? '' });
    }
    return withDenotation({ kind: 'none' });
  }

  dim(d: P): Dim {
    const out: Dim = {};
    if (has(d, 'dim_value')) out.value = num(d.dim_value, 'dim');
    else if (has(d, 'dim_param')) out.param = d.dim_param;
    if (d.denotation) out.denotation = d.denotation;
    return out;
  }

  attribute(p: P, g: Graph): Attribute {
    const name: string = p.name ?? '';
    let type = ATTRIBUTE_TYPES[p.type ?? 0] ?? 'undefined';
    let a: Attribute;
    if (p.ref_attr_name) a = { name, type: 'ref', refType: type, refAttrName: p.ref_attr_name };
    else {
      if (type === 'undefined') type = inferAttributeType(p);
      a = { name, type, value: this.attributeValue(type, p, g, name) } as Attribute;
    }
    // set only when present: attributes are many, and most have neither
    if (p.doc_string) a.docString = p.doc_string;
    if (p.$unknown) a.unknownFields = p.$unknown;
    return a;
  }

  attributeValue(type: AttributeType, p: P, g: Graph, name: string): unknown {
    const where = () => `attribute '${name}' graph`;
    switch (type) {
      case 'float':
        return p.f ?? 0;
      case 'int':
        return p.i ?? 0;
      case 'string':
        return p.s ?? new Uint8Array();
      case 'tensor':
        return this.tensor(p.t ?? {});
      case 'graph':
        return this.graph(p.g ?? {}, g, where());
      case 'sparse_tensor':
        return this.sparse(p.sparse_tensor ?? {});
      case 'type_proto':
        return this.type(p.tp ?? {});
      case 'floats':
        return p.floats ?? [];
      case 'ints':
        return p.ints ?? [];
      case 'strings':
        return p.strings ?? [];
      case 'tensors':
        return (p.tensors ?? []).map((t: P) => this.tensor(t));
      case 'graphs':
        return (p.graphs ?? []).map((x: P) => this.graph(x, g, where()));
      case 'sparse_tensors':
        return (p.sparse_tensors ?? []).map((s: P) => this.sparse(s));
      case 'type_protos':
        return (p.type_protos ?? []).map((t: P) => this.type(t));
      default:
        throw new OnnxOptError(`attribute '${name}' has no value`);
    }
  }

  sparse(p: P): SparseTensor {
    return {
      values: this.tensor(p.values ?? {}),
      indices: this.tensor(p.indices ?? {}),
      dims: (p.dims ?? []).map((d: Int64) => num(d, 'sparse dim')),
    };
  }

  tensor(p: P): Tensor {
    const name: string = p.name ?? '';
    const dataType: number = p.data_type ?? 0;
    const dims = (p.dims ?? []).map((d: Int64) => {
      const v = num(d, `tensor '${name}' dim`);
      if (v < 0) throw new OnnxOptError(`tensor '${name}' has a negative dim ${v}`);
      return v;
    });
    if (!isKnownDataType(dataType)) throw new OnnxOptError(`tensor '${name}' has unknown data type ${dataType}`);
    const t = new Tensor(name, dataType, dims, this.tensorData(p, name, dataType, dims));
    if (p.doc_string) t.docString = p.doc_string;
    if (p.metadata_props?.length) t.metadataProps = entries(p.metadata_props);
    if (has(p, 'segment')) t.segment = { begin: num(p.segment.begin, 'segment'), end: num(p.segment.end, 'segment') };
    if (p.$unknown) t.unknownFields = p.$unknown;
    return t;
  }

  tensorData(p: P, name: string, dataType: number, dims: number[]) {
    const count = elementCount(dims);
    if (!Number.isSafeInteger(count)) throw new OnnxOptError(`tensor '${name}' dims ${dims.join('x')} are too large`);
    if (dataType === DataType.STRING) return (p.string_data ?? []) as Uint8Array[];
    if (p.data_location === 1) return this.external(p, name, byteLengthOf(dataType, count));
    if (has(p, 'raw_data')) return p.raw_data as Uint8Array;
    return fromTypedFields(p, dataType, count, name);
  }

  external(p: P, name: string, expected: number) {
    const kv = entries(p.external_data);
    const get = (k: string) => kv.find(([key]) => key === k)?.[1];
    const location = get('location');
    if (!location) throw new OnnxOptError(`tensor '${name}' is external but names no location`);
    const parseInt = (s: string | undefined, what: string) => {
      if (s === undefined) return undefined;
      if (!/^\d+$/.test(s)) throw new OnnxOptError(`tensor '${name}': external ${what} '${s}' is not a number`);
      return Number(s);
    };
    const offset = parseInt(get('offset'), 'offset') ?? 0;
    const length = parseInt(get('length'), 'length') ?? expected;
    if (length !== expected) {
      throw new OnnxOptError(
        `tensor '${name}': external length ${length} does not match its ${expected} bytes of data`,
      );
    }
    const where: ExternalLocation = {
      location,
      offset,
      length,
      extra: kv.filter(([k]) => k !== 'location' && k !== 'offset' && k !== 'length'),
    };
    const loader = this.options.externalLoader;
    if (!loader)
      throw new OnnxOptError(
        `tensor '${name}' has external data '${location}', but the model was not read from a file`,
      );
    return { byteLength: length, load: (into?: Uint8Array) => loader(where, into), external: { where, loader } };
  }
}

// Each graph's own name -> value map, so subgraphs can resolve outer-scope names while decoding.
const scopes = new WeakMap<Graph, Map<string, Value>>();

function lookupOuter(g: Graph | null, name: string): Value | undefined {
  for (let cur = g; cur; cur = cur.parent) {
    const v = scopes.get(cur)?.get(name);
    if (v) return v;
  }
  return undefined;
}

function inferAttributeType(p: P): AttributeType {
  for (const [type, field] of Object.entries(ATTRIBUTE_FIELDS)) {
    const v = p[field];
    if (Array.isArray(v) ? v.length > 0 : has(p, field)) return type as AttributeType;
  }
  return 'undefined';
}

/** Converts the typed repeated fields (float_data, int32_data, ...) into raw_data bytes, once. */
function fromTypedFields(p: P, dataType: number, count: number, name: string): Uint8Array {
  let bytes!: Uint8Array;
  let view!: DataView;
  // Allocates only once the values are known to be there, so dims that claim gigabytes fail fast instead.
  const need = (field: string, n: number): P[] => {
    const list: P[] = p[field] ?? [];
    if (list.length !== n) {
      throw new OnnxOptError(
        `tensor '${name}' (${dataTypeName(dataType)}) needs ${n} values in ${field}, has ${list.length}`,
      );
    }
    bytes = new Uint8Array(byteLengthOf(dataType, count));
    view = new DataView(bytes.buffer);
    return list;
  };
  const bits = bitsPerElement(dataType);
  switch (dataType) {
    case DataType.FLOAT:
    case DataType.COMPLEX64: {
      const n = dataType === DataType.COMPLEX64 ? count * 2 : count;
      need('float_data', n).forEach((v: number, i) => view.setFloat32(i * 4, v, true));
      break;
    }
    case DataType.DOUBLE:
    case DataType.COMPLEX128: {
      const n = dataType === DataType.COMPLEX128 ? count * 2 : count;
      need('double_data', n).forEach((v: number, i) => view.setFloat64(i * 8, v, true));
      break;
    }
    case DataType.INT64:
      need('int64_data', count).forEach((v: Int64, i) => view.setBigInt64(i * 8, BigInt(v), true));
      break;
    case DataType.UINT64:
      need('uint64_data', count).forEach((v: Int64, i) => view.setBigUint64(i * 8, BigInt(v), true));
      break;
    case DataType.UINT32:
      need('uint64_data', count).forEach((v: Int64, i) => view.setUint32(i * 4, Number(BigInt(v) & 0xffffffffn), true));
      break;
    case DataType.INT32:
      need('int32_data', count).forEach((v: number, i) => view.setInt32(i * 4, v, true));
      break;
    default:
      if (bits === 16) need('int32_data', count).forEach((v: number, i) => view.setUint16(i * 2, v & 0xffff, true));
      // 8-bit types hold one element per int32; packed sub-byte types hold one byte (two or four elements) per int32.
      else need('int32_data', byteLengthOf(dataType, count)).forEach((v: number, i) => (bytes[i] = v & 0xff));
  }
  return bytes;
}
