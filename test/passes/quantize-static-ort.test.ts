// quantize-static against onnxruntime 1.30's quantize_static (QDQ), made by fixtures/export_static_references.py on
// the calibration sets in fixtures/static: given the ranges onnxruntime calibrated, every QuantizeLinear's scale and
// zero point, the set of quantized tensors, and every quantized weight (scales, zero points, data) must be
// onnxruntime's. The ranges our own calibration measures are compared in test/runtime/calibrate-ort.test.ts.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { quantizeStaticPass } from '../../passes/quantize-static.js';
import { readModel } from '../../src/io/read.js';
import type { Model } from '../../src/ir/model.js';
import {
  readReference,
  REFERENCE_MODELS,
  REFERENCE_SETTINGS,
  type QEntry,
  type WEntry,
} from '../helpers/static-references.js';

/** Our Q nodes by the tensor they read, and our weights' DequantizeLinear by their quantized initializer. */
function describeOurs(model: Model) {
  const quantized = new Map<string, QEntry>();
  const weights = new Map<string, WEntry>();
  for (const n of model.graph.nodes) {
    const values = (i: number) => n.inputs[i]?.initializer?.toNumbers() ?? [];
    if (n.opType === 'QuantizeLinear') quantized.set(n.input(0).name, { scale: values(1), zero_point: values(2) });
    if (n.opType === 'DequantizeLinear' && n.input(0).initializer) {
      const data = n.input(0).initializer!.bytes();
      weights.set(n.input(0).name, {
        input: n.input(0).name,
        scale: values(1),
        zero_point: values(2),
        axis: n.attrInt('axis') ?? null,
        sha256: createHash('sha256').update(data).digest('hex'),
      });
    }
  }
  return { quantized, weights };
}

const sameNumbers = (a: number[], b: number[]) =>
  a.length === b.length && a.every((x, i) => Object.is(x, b[i]) || x === b[i]);

// The references are committed (fixtures/README.md says how they were made): a missing one fails, never skips.
describe.each(REFERENCE_MODELS)('%s against onnxruntime quantize_static', (name) => {
  it.each(Object.keys(REFERENCE_SETTINGS))(
    '%s: same tensors quantized, same scales and zero points, same weights',
    (setting) => {
      const reference = readReference(name);
      const ref = reference.settings[setting]!;
      expect(ref.error, 'onnxruntime failed to make this reference').toBeUndefined();
      const model = readModel(`fixtures/${name}.onnx`);
      quantizeStaticPass.run(model, {
        options: { ...REFERENCE_SETTINGS[setting], calibratedRanges: ref.ranges },
        log: () => {},
      });
      const ours = describeOurs(model);
      const theirs = new Map(Object.entries(ref.quantized!));
      const onlyTheirs = [...theirs.keys()].filter((k) => !ours.quantized.has(k));
      const onlyOurs = [...ours.quantized.keys()].filter((k) => !theirs.has(k));
      const common = [...theirs.keys()].filter((k) => ours.quantized.has(k));
      const sameParams = (k: string) =>
        sameNumbers(ours.quantized.get(k)!.scale, theirs.get(k)!.scale) &&
        sameNumbers(ours.quantized.get(k)!.zero_point, theirs.get(k)!.zero_point);
      const equal = common.filter(sameParams);
      // Deliberate departure (README): where the symmetric range reaches float32's extremes (an additive attention
      // mask of -3.4e38), onnxruntime's float32 width 2 x absmax overflows and its scale is Infinity (every dequantized
      // value NaN); ours is absmax / 127 (int8) or 2 x absmax / 255 (uint8) in float64, finite. Counted apart.
      const overflowed = common.filter(
        (k) =>
          !sameParams(k) &&
          theirs.get(k)!.scale.every((x) => x === Infinity) &&
          ours.quantized.get(k)!.scale.every(Number.isFinite) &&
          sameNumbers(ours.quantized.get(k)!.zero_point, theirs.get(k)!.zero_point),
      );
      const refWeights = [...Object.values(ref.weights!)];
      const weightsEqual = refWeights.filter((w) => {
        const o = ours.weights.get(w.input);
        return (
          o &&
          o.sha256 === w.sha256 &&
          sameNumbers(o.scale, w.scale) &&
          sameNumbers(o.zero_point, w.zero_point) &&
          o.axis === w.axis
        );
      });
      const differing = common
        .filter((k) => !equal.includes(k) && !overflowed.includes(k))
        .map(
          (k) =>
            `${k}: ours ${ours.quantized.get(k)!.scale}/${ours.quantized.get(k)!.zero_point}, onnxruntime ${theirs.get(k)!.scale}/${theirs.get(k)!.zero_point}`,
        );
      const weightsDiffering = refWeights
        .filter((w) => !weightsEqual.includes(w))
        .map((w) => {
          const o = ours.weights.get(w.input);
          return `${w.input}: ${o ? `ours ${o.scale.slice(0, 2)}/${o.zero_point.slice(0, 2)} axis ${o.axis}` : 'not ours'}, onnxruntime ${w.scale.slice(0, 2)}/${w.zero_point.slice(0, 2)} axis ${w.axis}`;
        });
      console.log(
        `${name} ${setting}: activation scale/zero point equal ${equal.length}/${theirs.size}` +
          `${overflowed.length ? `, onnxruntime's scale Infinity (ours finite, departure) ${overflowed.length}/${theirs.size}` : ''} ` +
          `(only onnxruntime: ${onlyTheirs.length}${onlyTheirs.length ? ` [${onlyTheirs.slice(0, 4).join(', ')}]` : ''}, ` +
          `only ours: ${onlyOurs.length}${onlyOurs.length ? ` [${onlyOurs.slice(0, 4).join(', ')}]` : ''}); ` +
          `weights/constants/biases equal ${weightsEqual.length}/${refWeights.length} (ours ${ours.weights.size})` +
          `${differing.length || weightsDiffering.length ? `\n  differing: ${[...differing, ...weightsDiffering].slice(0, 6).join('\n  ')}` : ''}`,
      );
      expect(onlyTheirs).toEqual([]);
      expect(onlyOurs).toEqual([]);
      expect(differing).toEqual([]);
      expect(equal.length + overflowed.length).toBe(theirs.size);
      expect(weightsEqual.length).toBe(refWeights.length);
      expect(ours.weights.size).toBe(refWeights.length);
    },
  );
});
