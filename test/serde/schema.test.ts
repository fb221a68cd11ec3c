// src/serde/onnx-schema.ts holds ONNX 1.23.1's onnx-ml.proto as field tables, generated from its FileDescriptorSet
// (vendored beside it as src/serde/onnx-1.23.1-descriptor.pb). This test checks the tables still match the
// descriptor (UPDATE_SCHEMA=1 regenerates them) and that the IR's own numbering agrees with the descriptor's enums.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ATTRIBUTE_FIELDS, ATTRIBUTE_TYPES } from '../../src/serde/decode.js';
import { onnxSchema } from '../../src/serde/onnx-schema.js';
import { DataType } from '../../src/tensor/dtype.js';
import { readDescriptorSet, type EnumDescriptor, type MessageDescriptor } from '../helpers/protobufjs-onnx.js';

const SCHEMA_FILE = fileURLToPath(new URL('../../src/serde/onnx-schema.ts', import.meta.url));

// descriptor.proto's FieldDescriptorProto.Label
const LABEL_REPEATED = 3;
const TYPE_MESSAGE = 11;

const file = readDescriptorSet().file[0]!;

/** Every message, nested ones named Outer.Inner, as in the tables. */
function allMessages(list: MessageDescriptor[] = [], prefix = ''): [string, MessageDescriptor][] {
  return list.flatMap((m) => [
    [prefix + m.name, m] as [string, MessageDescriptor],
    ...allMessages(m.nestedType, `${prefix}${m.name}.`),
  ]);
}

function allEnums(): Map<string, EnumDescriptor> {
  const out = new Map<string, EnumDescriptor>((file.enumType ?? []).map((e) => [e.name, e]));
  for (const [name, m] of allMessages(file.messageType))
    for (const e of m.enumType ?? []) out.set(`${name}.${e.name}`, e);
  return out;
}

function tableSource(): string {
  const lines = allMessages(file.messageType).map(([name, m]) => {
    const fields = [...(m.field ?? [])]
      .sort((a, b) => a.number - b.number)
      .map((f) => {
        const label = f.label !== LABEL_REPEATED ? 0 : f.options?.packed ? 2 : 1;
        const message = f.type === TYPE_MESSAGE ? `, '${f.typeName!.replace(`.${file.package}.`, '')}'` : '';
        return `[${f.number}, '${f.name}', ${f.type}, ${label}${message}]`;
      });
    // one message a line: the tables are data, and a field a line made every message look like every other
    return `  '${name}': [${fields.join(', ')}],\n`;
  });
  return (
    "// Generated from ONNX 1.23.1's onnx-ml.proto FileDescriptorSet (src/serde/onnx-1.23.1-descriptor.pb)\n" +
    '// by test/serde/schema.test.ts with UPDATE_SCHEMA=1. Do not edit by hand.\n' +
    "// Each field: [number, name, type (descriptor.proto's numbering), 0 single | 1 repeated | 2 packed, message type].\n" +
    "import type { Schema } from './wire.js';\n\n" +
    `export const onnxSchema: Schema = {\n${lines.join('')}};\n`
  );
}

describe('ONNX schema tables', () => {
  it('are the ones generated from the 1.23.1 descriptor', () => {
    const expected = tableSource();
    if (process.env.UPDATE_SCHEMA === '1') writeFileSync(SCHEMA_FILE, expected);
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(expected);
  });

  it('hold every message and field of the descriptor', () => {
    const messages = allMessages(file.messageType);
    expect(Object.keys(onnxSchema).sort()).toEqual(messages.map(([name]) => name).sort());
    for (const [name, m] of messages) {
      expect(onnxSchema[name]!.map(([number, fieldName]) => `${number}:${fieldName}`).sort(), name).toEqual(
        (m.field ?? []).map((f) => `${f.number}:${f.name}`).sort(),
      );
    }
    expect(onnxSchema['TensorProto']!.find(([, name]) => name === 'float_data')).toEqual([4, 'float_data', 2, 2]);
    expect(onnxSchema['ModelProto']!.find(([, name]) => name === 'graph')).toEqual([7, 'graph', 11, 0, 'GraphProto']);
  });

  it('agree with the IR on data types (up to FLOAT6E3M2)', () => {
    const values = allEnums().get('TensorProto.DataType')!.value;
    expect(Object.fromEntries(values.map((v) => [v.name, v.number]))).toEqual(DataType);
  });

  it('agree with the decoder on attribute types and their fields', () => {
    const values = allEnums().get('AttributeProto.AttributeType')!.value;
    expect([...values].sort((x, y) => x.number - y.number).map((v) => [v.number, v.name.toLowerCase()])).toEqual(
      ATTRIBUTE_TYPES.map((t, i) => [i, t]),
    );
    const fields = new Set(onnxSchema['AttributeProto']!.map(([, name]) => name));
    for (const field of Object.values(ATTRIBUTE_FIELDS)) expect(fields, field).toContain(field);
  });

  it('are IR version 14', () => {
    expect(
      allEnums()
        .get('Version')!
        .value.find((v) => v.name === 'IR_VERSION')?.number,
    ).toBe(14);
  });
});
