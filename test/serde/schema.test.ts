// src/serde/onnx-schema.ts is ONNX 1.23.1's onnx-ml.proto, generated from its FileDescriptorSet (vendored beside it
// as src/serde/onnx-1.23.1-descriptor.pb, see src/serde/README.md). This test checks it still matches the descriptor
// (UPDATE_SCHEMA=1 regenerates it) and that it has what the IR relies on.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { describe, expect, it } from 'vitest';
import { onnxSchema } from '../../src/serde/onnx-schema.js';
import { onnxRoot } from '../../src/serde/proto.js';

const DESCRIPTOR = fileURLToPath(new URL('../../src/serde/onnx-1.23.1-descriptor.pb', import.meta.url));
const SCHEMA_FILE = fileURLToPath(new URL('../../src/serde/onnx-schema.ts', import.meta.url));

function schemaFromDescriptor(): protobuf.INamespace {
  const { FileDescriptorSet } = descriptor as unknown as { FileDescriptorSet: protobuf.Type };
  const set = FileDescriptorSet.decode(readFileSync(DESCRIPTOR));
  const fromDescriptor = (protobuf.Root as unknown as { fromDescriptor(s: protobuf.Message): protobuf.Root }).fromDescriptor;
  return fromDescriptor(set).toJSON();
}

function schemaSource(schema: protobuf.INamespace): string {
  return (
    "// Generated from ONNX 1.23.1's onnx-ml.proto FileDescriptorSet (src/serde/onnx-1.23.1-descriptor.pb)\n" +
    '// by test/serde/schema.test.ts with UPDATE_SCHEMA=1. Do not edit by hand.\n' +
    `export const onnxSchema = ${JSON.stringify(schema, null, 1)} as const;\n`
  );
}

describe('ONNX schema', () => {
  it('equals the schema protobufjs builds from the 1.23.1 descriptor', () => {
    const expected = schemaFromDescriptor();
    if (process.env.UPDATE_SCHEMA === '1') writeFileSync(SCHEMA_FILE, schemaSource(expected));
    expect(onnxSchema).toEqual(expected);
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(schemaSource(expected));
  });

  const type = (name: string) => onnxRoot.lookupType(`onnx.${name}`);
  const fieldNames = (name: string) => Object.keys(type(name).fields);
  /** A field's message type (short name) and whether it is repeated. */
  const field = (message: string, name: string) => {
    const f = type(message).fields[name];
    return f && { type: f.resolve().resolvedType?.name ?? f.type, repeated: f.repeated };
  };

  it('has every data type up to FLOAT6E3M2', () => {
    const values = onnxRoot.lookupEnum('onnx.TensorProto.DataType').values;
    expect(values).toMatchObject({
      BFLOAT16: 16, FLOAT8E4M3FN: 17, FLOAT8E5M2FNUZ: 20, UINT4: 21, INT4: 22, FLOAT4E2M1: 23, FLOAT8E8M0: 24,
      UINT2: 25, INT2: 26, FLOAT6E2M3: 27, FLOAT6E3M2: 28,
    });
    expect(Math.max(...Object.values(values))).toBe(28);
  });

  it('has the FunctionProto fields of IR 10+', () => {
    expect(fieldNames('FunctionProto')).toEqual(
      expect.arrayContaining(['attribute_proto', 'value_info', 'overload', 'metadata_props']),
    );
    expect(fieldNames('NodeProto')).toContain('overload');
  });

  it.each(['ModelProto', 'GraphProto', 'NodeProto', 'TensorProto', 'ValueInfoProto', 'FunctionProto'])(
    '%s has metadata_props',
    (name) => {
      expect(field(name, 'metadata_props')).toEqual({ type: 'StringStringEntryProto', repeated: true });
    },
  );

  it('has device configurations and sharding', () => {
    for (const name of ['DeviceConfigurationProto', 'NodeDeviceConfigurationProto', 'ShardingSpecProto', 'ShardedDimProto', 'SimpleShardedDimProto', 'IntIntListEntryProto']) {
      expect(type(name).fieldsArray.length, name).toBeGreaterThan(0);
    }
    expect(field('ModelProto', 'configuration')).toEqual({ type: 'DeviceConfigurationProto', repeated: true });
    expect(field('NodeProto', 'device_configurations')).toEqual({ type: 'NodeDeviceConfigurationProto', repeated: true });
  });

  it('has training info, sparse tensors and quantization annotations', () => {
    expect(fieldNames('TrainingInfoProto')).toEqual(
      expect.arrayContaining(['initialization', 'algorithm', 'initialization_binding', 'update_binding']),
    );
    expect(field('ModelProto', 'training_info')).toEqual({ type: 'TrainingInfoProto', repeated: true });
    expect(fieldNames('SparseTensorProto')).toEqual(['values', 'indices', 'dims']);
    expect(field('GraphProto', 'sparse_initializer')).toEqual({ type: 'SparseTensorProto', repeated: true });
    expect(field('GraphProto', 'quantization_annotation')).toEqual({ type: 'TensorAnnotation', repeated: true });
  });

  it('has every TypeProto kind', () => {
    expect(type('TypeProto').oneofs.value!.oneof.sort()).toEqual(
      ['map_type', 'opaque_type', 'optional_type', 'sequence_type', 'sparse_tensor_type', 'tensor_type'],
    );
    for (const kind of ['Tensor', 'Sequence', 'Map', 'Optional', 'SparseTensor', 'Opaque']) {
      expect(onnxRoot.lookupType(`onnx.TypeProto.${kind}`).fieldsArray.length, kind).toBeGreaterThan(0);
    }
  });

  it('has every attribute type', () => {
    const values = onnxRoot.lookupEnum('onnx.AttributeProto.AttributeType').values;
    expect(Object.keys(values).sort()).toEqual(
      ['UNDEFINED', 'FLOAT', 'INT', 'STRING', 'TENSOR', 'GRAPH', 'SPARSE_TENSOR', 'TYPE_PROTO',
        'FLOATS', 'INTS', 'STRINGS', 'TENSORS', 'GRAPHS', 'SPARSE_TENSORS', 'TYPE_PROTOS'].sort(),
    );
    expect(values.TYPE_PROTOS).toBe(14);
  });

  it('is IR version 14', () => {
    expect(onnxRoot.lookupEnum('onnx.Version').values.IR_VERSION).toBe(14);
  });
});
