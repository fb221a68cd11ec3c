// Graphs of the seed-sized benchmark exports (fixtures/seed: a raw TorchScript export, onnxruntime-optimized with
// contrib ops, INT8 and FP16): every node output gets a fully known shape built from the inputs' batch and seq symbols.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { Model } from '../../src/ir/model.js';
import { shapeOf, staticShapeOf } from '../../src/ir/types.js';
import { decodeModel } from '../../src/serde/decode.js';
import { inferShapes } from '../../src/shape/index.js';

const MODELS = join(import.meta.dirname, '../../fixtures/seed');

/** Decodes a model without its weights file: inference never reads large (external) initializers. */
function load(file: string): Model {
  return decodeModel(readFileSync(join(MODELS, file)), {
    externalLoader: () => {
      throw new Error('weights are not part of this test');
    },
  });
}

/** A size, or a product of the inputs' symbols (batch*seq after a flattening Reshape). */
const FROM_INPUTS = /^(batch|seq)(\*(batch|seq))*$/;

const files = readdirSync(MODELS)
  .filter((f) => f.endsWith('.onnx'))
  .sort();

describe('exported transformer models', () => {
  test('finds the seed graphs', () => {
    expect(files.length).toBe(5);
  });

  test.each(files)('%s: every node output is fully known', (file) => {
    const model = load(file);
    const declaredOutputs = model.graph.outputs.map((v) => structuredClone(v.type));
    // Names the model itself gives (not unk__ placeholders) are kept as they are.
    const ownNames = new Set(
      [...model.graph.outputs, ...model.graph.valueInfo]
        .flatMap((v) => shapeOf(v.type) ?? [])
        .filter((d): d is string => typeof d === 'string' && !d.startsWith('unk__')),
    );
    const { issues } = inferShapes(model);
    expect(issues).toEqual([]);
    const vague: string[] = [];
    for (const node of model.graph.nodes) {
      for (const v of node.outputs) {
        if (!v || model.graph.outputs.includes(v)) continue;
        const shape = shapeOf(v.type);
        const known = shape?.every(
          (d) => typeof d === 'number' || (typeof d === 'string' && (FROM_INPUTS.test(d) || ownNames.has(d))),
        );
        if (!known) vague.push(`${node.opType} ${v.name}: ${JSON.stringify(shape)}`);
      }
    }
    expect(vague).toEqual([]);
    // Declared outputs keep their names; an output declared without a shape gets one.
    model.graph.outputs.forEach((v, i) => {
      const before = declaredOutputs[i];
      if (before?.kind === 'tensor' && before.shape) expect(v.type).toEqual(before);
      else expect(shapeOf(v.type)?.length).toBe(3);
    });
  });

  test('pinning batch and seq makes every intermediate static', () => {
    const model = load('bert-base.onnx');
    inferShapes(model, { fixedDims: { batch: 1, seq: 128 } });
    const dynamic = model.graph.valueInfo.filter((v) => !staticShapeOf(v.type)).map((v) => v.name);
    expect(model.graph.valueInfo.length).toBeGreaterThan(1000);
    expect(dynamic).toEqual([]);
    expect(shapeOf(model.graph.inputs[0]!.type)).toEqual(['batch', 'seq']);
  });
});
