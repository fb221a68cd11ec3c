// IR -> ModelProto bytes, as a list of chunks. Messages are built as plain objects and written by ./wire.ts in
// field-number order (as protobuf's own serializers write them, so a model read and written unchanged comes back
// byte for byte); large inline initializers stay references, so a writer can stream their bytes.
import type { Attribute, SparseTensor } from '../ir/attribute.js';
import type { Graph, Value } from '../ir/graph.js';
import type { Model, OpsetImport } from '../ir/model.js';
import type { ExternalLocation, StringEntries, Tensor } from '../ir/tensor.js';
import type { Dim, ValueType } from '../ir/types.js';
import { DataType } from '../tensor/dtype.js';
import { ATTRIBUTE_FIELDS, ATTRIBUTE_TYPES } from './decode.js';
import { onnxSchema } from './onnx-schema.js';
import { encodeMessageChunks } from './wire.js';

/** Where a tensor's bytes go: inline in the model, or at a place in an external file. */
export type Placement = (tensor: Tensor) => 'inline' | ExternalLocation;

/** A piece of the encoded model: bytes, or a tensor whose raw bytes stand here. */
export type Chunk = Uint8Array | { tensor: Tensor };

/** Inline initializers at least this large are left as references rather than copied into the model's buffer. */
const STREAM_BYTES = 64 * 1024;

export function chunkLength(c: Chunk): number {
  return c instanceof Uint8Array ? c.byteLength : c.tensor.byteLength;
}

/** Encodes a model into chunks whose concatenation is the ModelProto. */
export function encodeModelChunks(model: Model, placement: Placement = () => 'inline'): Chunk[] {
  const fields = new Encoder(placement).model(model);
  return encodeMessageChunks<{ tensor: Tensor }>(onnxSchema, 'ModelProto', fields, (ref) => ref.tensor.byteLength);
}

/** Encodes a model into one buffer (for small models and tests). */
export function encodeModel(model: Model, placement?: Placement): Uint8Array {
  const chunks = encodeModelChunks(model, placement);
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(chunks.reduce((n, c) => n + chunkLength(c), 0));
  let at = 0;
  for (const c of chunks) {
    const b = c instanceof Uint8Array ? c : c.tensor.bytes();
    out.set(b, at);
    at += b.byteLength;
  }
  return out;
}

const strEntries = (e: StringEntries) => e.map(([key, value]) => ({ key, value }));

type Obj = Record<string, unknown> & { $unknown?: Uint8Array[] };

/**
 * The fields that carry something, so absent proto2 fields stay absent (copied rather than deleted from: deleting
 * turns objects into slow dictionaries).
 */
function compact(o: Obj): Obj {
  const out: Obj = {};
  for (const k in o) {
    const v = o[k];
    if (!(v === undefined || v === '' || (Array.isArray(v) && v.length === 0))) out[k] = v;
  }
  return out;
}

class Encoder {
  constructor(private readonly placement: Placement) {}

  model(m: Model): Obj {
    return compact({
      ir_version: m.irVersion,
      opset_import: this.opsets(m.opsetImports),
      producer_name: m.producerName,
      producer_version: m.producerVersion,
      domain: m.domain,
      model_version: m.modelVersion || undefined,
      graph: this.graph(m.graph, true),
      doc_string: m.docString,
      metadata_props: strEntries(m.metadataProps),
      training_info: m.trainingInfo,
      functions: m.functions.map((f) =>
        compact({
          name: f.name,
          input: f.body.inputs.map((v) => v.name),
          output: f.body.outputs.map((v) => v.name),
          attribute: f.attributeNames,
          attribute_proto: f.attributeDefaults.map((a) => this.attribute(a)),
          node: f.body.nodes.map((n) => this.node(n)),
          doc_string: f.docString,
          opset_import: this.opsets(f.opsetImports),
          domain: f.domain,
          overload: f.overload,
          value_info: f.body.valueInfo.map((v) => this.valueInfo(v)),
          metadata_props: strEntries(f.metadataProps),
          $unknown: f.unknownFields,
        }),
      ),
      configuration: m.configuration,
      $unknown: m.unknownFields,
    });
  }

  opsets(list: OpsetImport[]) {
    return list.map((o) => ({ domain: o.domain, version: o.version }));
  }

  /** A GraphProto; the main graph (`top`) places its initializers inline or in external files. */
  graph(g: Graph, top = false): Obj {
    return compact({
      node: g.nodes.map((n) => this.node(n)),
      name: g.name,
      initializer: g.initializers.map((v) =>
        this.tensor(v.initializer!, v.name, top ? this.placement(v.initializer!) : 'inline', top),
      ),
      sparse_initializer: g.sparseInitializers.map((s) => this.sparse(s)),
      doc_string: g.docString,
      input: g.inputs.map((v) => this.valueInfo(v)),
      output: g.outputs.map((v) => this.valueInfo(v)),
      value_info: g.valueInfo.map((v) => this.valueInfo(v)),
      quantization_annotation: g.quantizationAnnotations.map((q) => ({
        tensor_name: q.tensorName,
        quant_parameter_tensor_names: strEntries(q.quantParameterTensorNames),
      })),
      metadata_props: strEntries(g.metadataProps),
      $unknown: g.unknownFields,
    });
  }

  node(n: Graph['nodes'][number]): Obj {
    return compact({
      input: n.inputs.map((v) => v?.name ?? ''),
      output: n.outputs.map((v) => v?.name ?? ''),
      name: n.name,
      op_type: n.opType,
      domain: n.domain,
      overload: n.overload,
      attribute: [...n.attributes.values()].map((a) => this.attribute(a)),
      doc_string: n.docString,
      metadata_props: strEntries(n.metadataProps),
      device_configurations: n.deviceConfigurations,
      $unknown: n.unknownFields,
    });
  }

  attribute(a: Attribute): Obj {
    const o: Obj = { name: a.name };
    if (a.docString) o.doc_string = a.docString;
    if (a.unknownFields) o.$unknown = a.unknownFields;
    if (a.type === 'ref') {
      o.ref_attr_name = a.refAttrName;
      o.type = ATTRIBUTE_TYPES.indexOf(a.refType);
      return o;
    }
    o.type = ATTRIBUTE_TYPES.indexOf(a.type);
    const field = ATTRIBUTE_FIELDS[a.type];
    switch (a.type) {
      case 'tensor':
        o[field] = this.tensor(a.value, a.value.name, 'inline');
        break;
      case 'tensors':
        o[field] = a.value.map((t) => this.tensor(t, t.name, 'inline'));
        break;
      case 'graph':
        o[field] = this.graph(a.value);
        break;
      case 'graphs':
        o[field] = a.value.map((g) => this.graph(g));
        break;
      case 'sparse_tensor':
        o[field] = this.sparse(a.value);
        break;
      case 'sparse_tensors':
        o[field] = a.value.map((s) => this.sparse(s));
        break;
      case 'type_proto':
        o[field] = typeProto(a.value);
        break;
      case 'type_protos':
        o[field] = a.value.map(typeProto);
        break;
      default:
        o[field] = a.value;
    }
    return o;
  }

  valueInfo(v: Value): Obj {
    return compact({
      name: v.name,
      type: v.type && typeProto(v.type),
      doc_string: v.docString,
      metadata_props: strEntries(v.metadataProps),
      $unknown: v.unknownFields,
    });
  }

  sparse(s: SparseTensor): Obj {
    return {
      values: this.tensor(s.values, s.values.name, 'inline'),
      indices: this.tensor(s.indices, s.indices.name, 'inline'),
      dims: s.dims,
    };
  }

  /**
   * A TensorProto. Only the main graph's initializers (`stream`) may leave large inline bytes as a reference to the
   * tensor, to be streamed by the writer.
   */
  tensor(t: Tensor, name: string, place: 'inline' | ExternalLocation, stream = false): Obj {
    const o = compact({
      dims: [...t.dims],
      data_type: t.dataType,
      segment: t.segment,
      name,
      doc_string: t.docString,
      metadata_props: strEntries(t.metadataProps),
      $unknown: t.unknownFields,
    });
    if (t.dataType === DataType.STRING) o.string_data = t.strings;
    else if (place === 'inline') o.raw_data = stream && t.byteLength >= STREAM_BYTES ? { tensor: t } : t.bytes();
    else {
      o.data_location = 1;
      o.external_data = strEntries([
        ['location', place.location],
        ['offset', String(place.offset)],
        ['length', String(place.length)],
        ...place.extra,
      ]);
    }
    return o;
  }
}

function dimProto(d: Dim): Obj {
  return compact({ dim_value: d.value, dim_param: d.param, denotation: d.denotation });
}

function typeProto(t: ValueType): Obj {
  const o: Obj = {};
  if (t.denotation) o.denotation = t.denotation;
  const shaped = (x: { elemType: number; shape?: Dim[] }) =>
    compact({ elem_type: x.elemType || undefined, shape: x.shape && { dim: x.shape.map(dimProto) } });
  switch (t.kind) {
    case 'tensor':
      o.tensor_type = shaped(t);
      break;
    case 'sparse_tensor':
      o.sparse_tensor_type = shaped(t);
      break;
    case 'sequence':
      o.sequence_type = compact({ elem_type: t.elem && typeProto(t.elem) });
      break;
    case 'optional':
      o.optional_type = compact({ elem_type: t.elem && typeProto(t.elem) });
      break;
    case 'map':
      o.map_type = compact({ key_type: t.keyType, value_type: t.value && typeProto(t.value) });
      break;
    case 'opaque':
      o.opaque_type = compact({ domain: t.domain, name: t.name });
      break;
    case 'none':
      break;
  }
  return o;
}
