// quantize-static end to end through the CLI: calibration in onnxruntime-node, accuracy of the digits ViT for the
// three methods, --save-config / --ranges, gate and parity on the result, and bad input.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readModel } from '../../src/io/read.js';
import { calibrate, readCalibrationData } from '../../src/runtime/calibrate.js';
import { describeInputs } from '../../src/runtime/inputs.js';
import { runCli } from '../cli/run-cli.js';
import { tempFolder } from '../kit/temp.js';

const dir = tempFolder('static');

const DIGITS = 'fixtures/digits.onnx';
const CALIBRATION = 'fixtures/static/digits.calib.npz';

/** The gate's accuracy of a quantized digits model against the float one, on all 540 test images. */
async function digitsAccuracy(model: string): Promise<{ baseline: number; candidate: number; drop: number }> {
  const r = await runCli(
    'gate',
    '--baseline',
    DIGITS,
    '--candidate',
    model,
    '--data',
    'fixtures/digits.test.npz',
    '--max-drop',
    '0.005',
    '--json',
  );
  expect(r.stderr).not.toMatch(/error/);
  return JSON.parse(r.stdout);
}

describe('quantize-static on the digits ViT', () => {
  it.each(['minmax', 'entropy', 'percentile'])(
    '%s: accuracy within 0.5 points of float32',
    async (method) => {
      const out = join(dir, `digits.${method}.onnx`);
      const r = await runCli('quantize-static', '--calibration', CALIBRATION, '--method', method, DIGITS, out);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`calibrated \\d+ tensors on 64 samples \\(8 runs, ${method}\\)`));
      const gate = await digitsAccuracy(out);
      console.log(
        `digits ${method}: float32 ${gate.baseline.toFixed(4)}, static int8 ${gate.candidate.toFixed(4)}, drop ${gate.drop.toFixed(4)}`,
      );
      expect(gate.drop).toBeLessThanOrEqual(0.005);
    },
    60_000,
  );

  it('--format qoperator: integer ops (QLinearMatMul, QLinearAdd, ...) with the same accuracy bound', async () => {
    const out = join(dir, 'digits.qoperator.onnx');
    const r = await runCli('quantize-static', '--calibration', CALIBRATION, '--format', 'qoperator', DIGITS, out);
    expect(r.code, r.stderr).toBe(0);
    const ops = readModel(out).graph.nodes.map((n) => n.opType);
    expect(ops).toContain('QLinearMatMul');
    expect(ops).not.toContain('MatMul');
    const gate = await digitsAccuracy(out);
    console.log(
      `digits qoperator: float32 ${gate.baseline.toFixed(4)}, static int8 ${gate.candidate.toFixed(4)}, drop ${gate.drop.toFixed(4)}`,
    );
    expect(gate.drop).toBeLessThanOrEqual(0.005);
  }, 60_000);

  it('--save-config records the ranges, and --ranges makes the same model without calibrating', async () => {
    const first = join(dir, 'digits.saved.onnx');
    const again = join(dir, 'digits.again.onnx');
    expect((await runCli('quantize-static', '--calibration', CALIBRATION, '--save-config', DIGITS, first)).code).toBe(
      0,
    );
    const config = join(dir, 'digits.saved.quantize-static_config.json');
    const record = JSON.parse(readFileSync(config, 'utf8'));
    expect(record.calibration).toMatchObject({ method: 'minmax', samples: 64, runs: 8 });
    expect(Object.keys(record.ranges).length).toBeGreaterThan(50);
    // without calibration data the lossy check needs inputs like the real ones
    const r = await runCli('quantize-static', '--ranges', config, '--check-inputs', CALIBRATION, DIGITS, again);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/calibrat/);
    expect(Buffer.compare(readFileSync(first), readFileSync(again))).toBe(0);
  }, 60_000);

  it('gate and parity run on the result', async () => {
    const out = join(dir, 'digits.minmax.check.onnx');
    expect((await runCli('quantize-static', '--calibration', CALIBRATION, DIGITS, out)).code).toBe(0);
    const parity = await runCli(
      'parity',
      DIGITS,
      out,
      '--inputs',
      CALIBRATION.replace('digits.calib', 'digits.calib'),
      '--min-cosine',
      '0.99',
      '--atol',
      '1',
      '--json',
    );
    expect(parity.code, parity.stderr).toBe(0);
    expect(JSON.parse(parity.stdout).pass).toBe(true);
  }, 60_000);

  it('--trt gives int8 with every zero point 0 and Q/DQ only before MatMul/Gemm/Conv', async () => {
    const out = join(dir, 'digits.trt.onnx');
    expect((await runCli('quantize-static', '--calibration', CALIBRATION, '--trt', DIGITS, out)).code).toBe(0);
    const model = readModel(out);
    const qdq = model.graph.nodes.filter((n) => n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear');
    expect(qdq.length).toBeGreaterThan(0);
    for (const n of qdq)
      expect(
        n
          .input(2)
          .initializer!.toNumbers()
          .every((z) => z === 0),
      ).toBe(true);
    for (const n of model.graph.nodes.filter((x) => x.opType === 'DequantizeLinear' && !x.input(0).initializer)) {
      for (const u of n.output(0).uses) expect(['MatMul', 'Gemm', 'Conv']).toContain(u.node.opType);
    }
    expect(model.graph.nodes.every((n) => n.domain === '' || n.domain === 'ai.onnx')).toBe(true);
    const gate = await digitsAccuracy(out);
    console.log(
      `digits --trt: float32 ${gate.baseline.toFixed(4)}, static int8 ${gate.candidate.toFixed(4)}, drop ${gate.drop.toFixed(4)}`,
    );
    expect(gate.drop).toBeLessThanOrEqual(0.005);
  }, 60_000);
});

describe("quantize-static on the BERT and GPT-2 fixtures (attention masks filled with float32's lowest)", () => {
  it.each(['bert-eager-ts14', 'gpt2-eager-ts14'])(
    '%s: every method calibrates and the result runs',
    async (name) => {
      for (const method of ['minmax', 'entropy', 'percentile']) {
        const out = join(dir, `${name}.${method}.onnx`);
        // --no-check: onnxruntime's default placement quantizes the attention mask's Add, whose range reaches float32's
        // lowest, and these tiny random-weight models end below the lossy check's cosine 0.99 (see the test below)
        const r = await runCli(
          'quantize-static',
          '--calibration',
          `fixtures/static/${name}.calib.npz`,
          '--method',
          method,
          '--no-check',
          `fixtures/${name}.onnx`,
          out,
        );
        expect(r.code, `${method}: ${r.stderr}`).toBe(0);
        const parity = await runCli(
          'parity',
          `fixtures/${name}.onnx`,
          out,
          '--inputs',
          `fixtures/${name}.inputs.npz`,
          '--json',
        );
        const cosine = JSON.parse(parity.stdout).outputs[0].cosine;
        console.log(`${name} ${method}: cosine to float32 ${cosine.toFixed(4)}`);
        expect(cosine).toBeGreaterThan(0.9);
      }
    },
    60_000,
  );
});

describe('the lossy check on quantize-static runs on the calibration data', () => {
  it('keeps the digits model (checked on its calibration images) and refuses ranges that clip it, writing nothing', async () => {
    const digits = await runCli(
      'quantize-static',
      '--calibration',
      CALIBRATION,
      DIGITS,
      join(dir, 'digits.checked.onnx'),
    );
    expect(digits.code, digits.stderr).toBe(0);
    expect(digits.stderr).toMatch(/quantize-static: checked in onnxruntime/);
    // the 50th percentile of each activation's magnitudes clips half of every tensor: the logits no longer point the
    // same way (cosine near 0)
    const out = join(dir, 'digits.clipped.onnx');
    const clipped = await runCli(
      'quantize-static',
      '--calibration',
      CALIBRATION,
      '--method',
      'percentile',
      '--percentile',
      '50',
      DIGITS,
      out,
    );
    expect(clipped.code).toBe(1);
    expect(clipped.stderr).toMatch(/quantize-static breaks the model: output 'logits'/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});

describe('quantize-static on the CNN fixture (Conv, BatchNormalization, Relu, Resize)', () => {
  it("int32 biases, the Relus folded into their producers' ranges, and a Resize whose scales stay float", async () => {
    const out = join(dir, 'cnn.static.onnx');
    const r = await runCli('quantize-static', '--calibration', 'fixtures/cnn.inputs.npz', 'fixtures/cnn.onnx', out);
    expect(r.code, r.stderr).toBe(0);
    const model = readModel(out);
    expect(model.graph.nodes.map((n) => n.opType)).not.toContain('Relu');
    const resize = model.graph.nodes.find((n) => n.opType === 'Resize')!;
    expect(resize.inputs[2]?.producer?.opType).toBe('Concat');
    const parity = await runCli('parity', 'fixtures/cnn.onnx', out, '--inputs', 'fixtures/cnn.inputs.npz', '--json');
    expect(JSON.parse(parity.stdout).outputs[0].cosine).toBeGreaterThan(0.999);
  }, 60_000);
});

describe('calibration', () => {
  it('does not change the model it measures', async () => {
    const model = readModel(DIGITS);
    const before = model.graph.nodes.length;
    const outputs = model.graph.outputs.map((v) => v.name);
    const data = readCalibrationData(CALIBRATION, describeInputs(model));
    const tensors = model.graph.nodes.filter((n) => n.opType === 'MatMul').map((n) => n.output(0));
    const result = await calibrate(model, tensors, data, { method: 'percentile' });
    expect(result.ranges.size).toBe(tensors.length);
    expect(model.graph.nodes.length).toBe(before);
    expect(model.graph.outputs.map((v) => v.name)).toEqual(outputs);
  }, 60_000);

  it('bad calibration data: one line naming the file, exit 2, no output written', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify([{ input_ids: [[1, 2]] }]));
    const out = join(dir, 'never.onnx');
    const r = await runCli('quantize-static', '--calibration', bad, DIGITS, out);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/bad\.json.*not a model input/);
    expect(existsSync(out)).toBe(false);
    const none = await runCli('quantize-static', DIGITS, out);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/needs calibrated ranges/);
  }, 60_000);
});
