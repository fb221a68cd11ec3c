// clean and fold on every exported fixture: outputs kept (onnxruntime-node, the fixture's own inputs), node count
// never grows, a second run changes nothing, the same input gives the same bytes; with batch and sequence pinned,
// every Shape-driven computation folds away.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cleanPass } from '../../passes/clean.js';
import { foldPass } from '../../passes/fold.js';
import { readModel } from '../../src/io/read.js';
import type { Model } from '../../src/ir/model.js';
import type { PassOptions } from '../../src/pipeline.js';
import { readInputsFile } from '../../src/runtime/data-files.js';
import { describeInputs } from '../../src/runtime/inputs.js';
import { checkParity } from '../../src/runtime/parity.js';
import { encodeModel } from '../../src/serde/encode.js';
import { opHistogram } from '../../src/summary.js';

const names = readdirSync('fixtures')
  .filter((f) => f.endsWith('.inputs.npz'))
  .map((f) => f.replace('.inputs.npz', ''))
  .sort();

function cleanFold(model: Model, options: PassOptions = {}): boolean {
  const context = { options, log: () => {} };
  const a = cleanPass.run(model, context).changed;
  const b = foldPass.run(model, context).changed;
  const c = cleanPass.run(model, context).changed;
  return a || b || c;
}

const nodes = (m: Model) => Object.values(opHistogram(m)).reduce((a, b) => a + b, 0);

describe('clean + fold on every fixture', () => {
  it('has the fixtures', () => expect(names.length).toBe(53)); // 38 transformer variants, digits, 14 cross-attention exports

  it.each(names)(
    '%s',
    async (name) => {
      const file = `fixtures/${name}.onnx`;
      const original = readModel(file);
      const inputs = readInputsFile(`fixtures/${name}.inputs.npz`, describeInputs(original));
      for (const options of [{}, { fixedDims: fixedDimsOf(original, inputs[0]!) }]) {
        const model = readModel(file);
        cleanFold(model, options);
        expect(nodes(model)).toBeLessThanOrEqual(nodes(original));
        if (options.fixedDims)
          expect(opHistogram(model)['ai.onnx::Shape'] ?? 0, 'Shape ops left with pinned dims').toBe(0);
        const bytes = encodeModel(model);
        const report = await checkParity(file, bytes, {
          inputs,
          atol: 1e-6,
          rtol: 0,
          threads: 1,
          optimization: 'disabled',
        });
        expect(report.pass, JSON.stringify(report.outputs.map((o) => o.maxAbs))).toBe(true);
        expect(cleanFold(model, options), 'a second run changes nothing').toBe(false);
        expect(Buffer.compare(Buffer.from(encodeModel(model)), Buffer.from(bytes))).toBe(0);
        const again = readModel(file);
        cleanFold(again, options);
        expect(Buffer.compare(Buffer.from(encodeModel(again)), Buffer.from(bytes)), 'deterministic').toBe(0);
      }
    },
    60_000,
  );
});

/** Sizes of the symbolic input dims, read off the fixture's own inputs. */
function fixedDimsOf(model: Model, feeds: Record<string, { dims: readonly number[] }>): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const v of model.graph.inputs) {
    const t = v.type;
    if (t?.kind !== 'tensor' || !t.shape) continue;
    t.shape.forEach((d, i) => {
      if (d.param) dims[d.param] = feeds[v.name]!.dims[i]!;
    });
  }
  return dims;
}
