// A strict Content Security Policy (script-src without 'unsafe-eval') forbids building functions from strings.
// Reading and writing models must not need that; protobufjs does, which shows the stand-in policy here bites.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeModel } from '../../src/serde/decode.js';
import { encodeModel } from '../../src/serde/encode.js';
import { fusePass } from '../../passes/fuse.js';
import { runPasses } from '../../src/pipeline.js';
import { DESCRIPTOR_FILE } from '../helpers/protobufjs-onnx.js';

const MODEL = readFileSync('fixtures/bert-sdpa-dynamo18.onnx');

// A fresh protobufjs type: it generates its decoder on first use, which the test below makes under the policy.
const { FileDescriptorSet } = descriptor as unknown as { FileDescriptorSet: protobuf.Type };
const fromDescriptor = (protobuf.Root as unknown as { fromDescriptor(s: protobuf.Message): protobuf.Root })
  .fromDescriptor;
const protobufjsModelProto = fromDescriptor(FileDescriptorSet.decode(readFileSync(DESCRIPTOR_FILE))).lookupType(
  'onnx.ModelProto',
);

describe('with code generation from strings refused', () => {
  const saved = { Function: globalThis.Function, eval: globalThis.eval };
  beforeEach(() => {
    const refuse = () => {
      throw new EvalError('Code generation from strings disallowed for this context');
    };
    globalThis.Function = refuse as unknown as FunctionConstructor;
    globalThis.eval = refuse;
  });
  afterEach(() => {
    globalThis.Function = saved.Function;
    globalThis.eval = saved.eval;
  });

  it('protobufjs cannot decode a model (the stand-in policy is in force)', () => {
    expect(() => protobufjsModelProto.decode(MODEL)).toThrow(/Code generation from strings disallowed/);
  });

  it('decodeModel, fuse and encodeModel work and give the same bytes as without it', () => {
    const model = decodeModel(MODEL);
    runPasses(model, [fusePass]);
    const bytes = encodeModel(model);
    globalThis.Function = saved.Function;
    globalThis.eval = saved.eval;
    const reference = decodeModel(MODEL);
    runPasses(reference, [fusePass]);
    expect(Buffer.compare(bytes, encodeModel(reference))).toBe(0);
    expect(model.graph.nodes.some((n) => n.opType === 'Attention')).toBe(true);
  });
});
