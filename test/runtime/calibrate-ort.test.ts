// Our calibration (onnxruntime-node) against the ranges onnxruntime's Python calibrator computed (onnxruntime 1.30.0
// CPU, on the development machine; fixtures/README.md) for the same data and batches (fixtures/static/*.ort-static.json): MinMax ranges are compared bit
// for bit, tensor by tensor. The two machines' CPUs differ, and onnxruntime's kernels (MLAS) pick code paths by
// instruction set, so on another machine a GEMM's last bits may differ and with them a min or max; the test reports how many are equal
// and requires that every range be within a few float32 steps.
import { describe, expect, it } from 'vitest';
import { readStaticSettings, staticPlacement } from '../../passes/quantize-static.js';
import { readModel } from '../../src/io/read.js';
import { calibrate, readCalibrationData } from '../../src/runtime/calibrate.js';
import { describeInputs } from '../../src/runtime/inputs.js';
import { readReference, REFERENCE_MODELS } from '../helpers/static-references.js';

/** Distance in float32 steps between two float32 numbers of the same sign. */
function ulps(a: number, b: number): number {
  const bits = (x: number) => new Int32Array(Float32Array.of(x).buffer)[0]!;
  return a === b ? 0 : Math.sign(a) !== Math.sign(b) ? Infinity : Math.abs(bits(a) - bits(b));
}

// The references are committed (fixtures/README.md): a missing one fails, never skips.
describe.each(REFERENCE_MODELS)("%s: MinMax calibration against onnxruntime's", (name) => {
  it('the same ranges for the same data', async () => {
    const reference = readReference(name).settings['minmax-s8-asym']!;
    const model = readModel(`fixtures/${name}.onnx`);
    const placement = staticPlacement(model, readStaticSettings({}));
    const data = readCalibrationData(`fixtures/static/${name}.calib.npz`, describeInputs(model));
    const ours = (await calibrate(model, placement.calibrated, data, { batchSize: 8 })).ranges;
    const theirs = Object.entries(reference.ranges!).filter(([k]) => ours.has(k));
    const equal = theirs.filter(([k, [lo, hi]]) => ours.get(k)![0] === lo && ours.get(k)![1] === hi);
    const worst = Math.max(
      0,
      ...theirs.map(([k, [lo, hi]]) => Math.max(ulps(ours.get(k)![0], lo), ulps(ours.get(k)![1], hi))),
    );
    console.log(
      `${name}: MinMax ranges bitwise equal to onnxruntime's ${equal.length}/${theirs.length} ` +
        `(ours ${ours.size} tensors, onnxruntime's ${Object.keys(reference.ranges!).length}); worst ${worst} float32 steps`,
    );
    expect(theirs.length).toBe(ours.size);
    expect(worst).toBeLessThanOrEqual(64);
  }, 60_000);
});
