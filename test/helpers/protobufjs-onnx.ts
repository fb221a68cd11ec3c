// ONNX 1.23.1's schema as protobufjs builds it from the vendored descriptor: a reference codec for tests, sharing
// no code with src/serde's own reader and writer.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';

// Relative to the repository root, where tests and benchmarks run (the compiled bench lives in dist/).
export const DESCRIPTOR_FILE = resolve('src/serde/onnx-1.23.1-descriptor.pb');

const { FileDescriptorSet } = descriptor as unknown as { FileDescriptorSet: protobuf.Type };

/** The FileDescriptorSet as a plain object (camelCase keys, enums as numbers). */
export function readDescriptorSet(): DescriptorSet {
  return FileDescriptorSet.toObject(FileDescriptorSet.decode(readFileSync(DESCRIPTOR_FILE)), {
    enums: Number,
  }) as DescriptorSet;
}

export interface DescriptorSet {
  file: { package: string; messageType?: MessageDescriptor[]; enumType?: EnumDescriptor[] }[];
}
export interface MessageDescriptor {
  name: string;
  field?: {
    name: string;
    number: number;
    label: number;
    type: number;
    typeName?: string;
    options?: { packed?: boolean };
  }[];
  nestedType?: MessageDescriptor[];
  enumType?: EnumDescriptor[];
}
export interface EnumDescriptor {
  name: string;
  value: { name: string; number: number }[];
}

const fromDescriptor = (protobuf.Root as unknown as { fromDescriptor(s: protobuf.Message): protobuf.Root })
  .fromDescriptor;

export const onnxRoot = fromDescriptor(FileDescriptorSet.decode(readFileSync(DESCRIPTOR_FILE)));
export const ModelProto = onnxRoot.lookupType('onnx.ModelProto');
export const TensorProto = onnxRoot.lookupType('onnx.TensorProto');
