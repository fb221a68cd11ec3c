// quantize-static from given ranges (no onnxruntime): where the Q/DQ pairs go, the scales and zero points they carry,
// weights and int32 biases, --trt, and the refusals.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { quantizeStaticPass, readStaticSettings, staticPlacement } from '../../passes/quantize-static.js';
import { OnnxOptError } from '../../src/errors.js';
import { Graph, Value, type Node } from '../../src/ir/graph.js';
import { Model as IrModel } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { computeScaleZeroPoint, quantRange } from '../../src/tensor/quantize.js';
import { runOrt } from '../kit/ort.js';
import { uniformFloats as floats } from '../kit/random.js';
import { mlpModel } from '../helpers/models.js';

type Ranges = Record<string, [number, number]>;

function quantize(model: Model, options: Record<string, unknown>) {
  return quantizeStaticPass.run(model, { options, log: () => {} });
}

/** A range for every tensor the settings calibrate: [-k, k + 0.5] for the k-th. */
function someRanges(model: Model, options: Record<string, unknown> = {}): Ranges {
  const placement = staticPlacement(model, readStaticSettings(options));
  return Object.fromEntries(placement.calibrated.map((v, k) => [v.name, [-(k + 1) * 0.37, (k + 1) * 0.41 + 0.5]]));
}

const producerOf = (model: Model, opType: string) => model.graph.nodes.filter((n) => n.opType === opType);
const scalar = (n: Node, i: number) => n.input(i).initializer!.toNumbers()[0]!;
/** The tensors a QuantizeLinear reads, sorted. */
const quantizedTensors = (model: Model) =>
  producerOf(model, 'QuantizeLinear')
    .map((q) => q.input(0).name)
    .sort();

/** Ranges of the small MLP's tensors, from the float model's own values. */
const MLP_RANGES: Ranges = {
  x: [-0.5, 0.5],
  MatMul_output_0: [-2, 2],
  MatMul_1_output_0: [-4, 4],
  Add_output_0: [-4.5, 4.5],
  y: [0, 4.5],
};

describe('quantize-static on a small MLP (MatMul, MatMul, Add, Reshape, Relu)', () => {
  it('puts a Q/DQ pair on each float input and output of the listed ops; QuantizeLinear reads the original tensor', () => {
    const model = mlpModel(8);
    const ranges = someRanges(model);
    expect(Object.keys(ranges).sort()).toEqual(
      ['Add_output_0', 'MatMul_1_output_0', 'MatMul_output_0', 'x', 'y'].sort(),
    );
    const result = quantize(model, { calibratedRanges: ranges });
    expect(result.changed).toBe(true);
    const quantized = quantizedTensors(model);
    // Reshape's output shares Add's parameters; y (the graph output) is read under a new name and keeps its own
    expect(quantized).toEqual(
      [
        'Add_output_0',
        'MatMul_1_output_0',
        'MatMul_output_0',
        'Reshape_output_0',
        'x',
        'y_QuantizeLinear_Input',
      ].sort(),
    );
    expect(model.graph.outputs.map((v) => v.name)).toEqual(['y']);
    expect(model.graph.outputs[0]!.producer!.opType).toBe('DequantizeLinear');
    // every float reader of a quantized tensor reads its DequantizeLinear
    for (const n of model.graph.nodes.filter((x) => ['MatMul', 'Add', 'Reshape', 'Relu'].includes(x.opType))) {
      expect(n.input(0).producer?.opType, n.describe()).toBe('DequantizeLinear');
    }
    expect(result.stats).toMatchObject({
      quantizedActivations: 5,
      sharedActivations: 1,
      quantizedWeights: 2,
      quantizedConstants: 1,
    });
  });

  it('scales and zero points are compute_scale_zp of the given ranges (int8 and uint8, asymmetric and symmetric)', () => {
    for (const [activationType, symmetricActivations] of [
      ['int8', false],
      ['int8', true],
      ['uint8', false],
      ['uint8', true],
    ] as const) {
      const model = mlpModel(8);
      const ranges = someRanges(model);
      quantize(model, {
        calibratedRanges: ranges,
        activationType,
        symmetricActivations,
        weightType: activationType === 'uint8' && symmetricActivations ? 'uint8' : 'int8',
      });
      const range = quantRange(activationType, { symmetric: symmetricActivations, reduceRange: false });
      for (const q of producerOf(model, 'QuantizeLinear')) {
        const name =
          q.input(0).name === 'Reshape_output_0'
            ? 'Add_output_0'
            : q.input(0).name.replace(/_QuantizeLinear_Input$/, '');
        const [min, max] = ranges[name]!;
        const want = computeScaleZeroPoint(Math.fround(min), Math.fround(max), range, symmetricActivations);
        expect([scalar(q, 1), scalar(q, 2)], `${name} ${activationType} ${symmetricActivations}`).toEqual([
          want.scale,
          want.zeroPoint,
        ]);
      }
    }
  });

  // onnxruntime 1.30 restricts only int8 when symmetric: uint8 keeps 0..255 and round(127.5) gives 128 (its
  // quantize_static output, fixtures/static/*.ort-static.json minmax-u8-sym)
  it('uint8 symmetric activations get zero point 128, as onnxruntime 1.30 computes it', () => {
    const model = mlpModel(8);
    quantize(model, { calibratedRanges: someRanges(model), activationType: 'uint8', symmetricActivations: true });
    const zps = new Set(producerOf(model, 'QuantizeLinear').map((q) => scalar(q, 2)));
    expect([...zps]).toEqual([128]);
  });

  it('the shared tensor reads the same scale and zero point initializers as its source', () => {
    const model = mlpModel(8);
    quantize(model, { calibratedRanges: someRanges(model) });
    const qs = producerOf(model, 'QuantizeLinear');
    const add = qs.find((q) => q.input(0).name === 'Add_output_0')!;
    const reshape = qs.find((q) => q.input(0).name === 'Reshape_output_0')!;
    expect(reshape.input(1)).toBe(add.input(1));
    expect(reshape.input(2)).toBe(add.input(2));
  });

  it('weights are stored 8-bit behind a DequantizeLinear (per channel along N when asked), and the float weights go', () => {
    const model = mlpModel(8);
    quantize(model, { calibratedRanges: someRanges(model), perChannel: true });
    const names = model.graph.initializers.map((v) => v.name);
    expect(names).not.toContain('w1');
    const dq = producerOf(model, 'DequantizeLinear').find((n) => n.input(0).name === 'w1_quantized')!;
    expect(dq.attrInt('axis')).toBe(1);
    expect(dq.input(1).initializer!.dims).toEqual([8]);
    expect(dq.input(0).initializer!.dataType).toBe(3); // INT8
    expect(new Set(dq.input(2).initializer!.toNumbers())).toEqual(new Set([0])); // int8 weights are symmetric
  });

  it('runs in onnxruntime, close to the float model for ranges that cover the values', async () => {
    const float = mlpModel(8);
    const model = mlpModel(8);
    const x = floats(4 * 8, 9);
    const run = async (m: Model) => (await runOrt(m, { x: new ort.Tensor('float32', x, [4, 8]) }, 'all')).y!.data;
    const ranges = MLP_RANGES;
    quantize(model, { calibratedRanges: ranges });
    const [want, got] = [await run(float), await run(model)];
    const worst = Math.max(...want.map((v, i) => Math.abs(v - got[i]!)));
    expect(worst).toBeLessThan(0.1);
    expect(worst).toBeGreaterThan(0); // it is quantized
  });
});

describe('quantize-static --trt', () => {
  it('int8 symmetric everywhere (zero points 0), weights per channel, Q/DQ on MatMul inputs only', () => {
    const model = mlpModel(8);
    const ranges = someRanges(model, { trt: true });
    expect(Object.keys(ranges).sort()).toEqual(['MatMul_output_0', 'x']);
    quantize(model, { calibratedRanges: ranges, trt: true });
    for (const n of model.graph.nodes.filter((x) => x.opType === 'QuantizeLinear' || x.opType === 'DequantizeLinear')) {
      expect(
        n
          .input(2)
          .initializer!.toNumbers()
          .every((z) => z === 0),
        n.name,
      ).toBe(true);
      expect(n.input(2).initializer!.dataType).toBe(3);
    }
    expect(producerOf(model, 'DequantizeLinear').filter((n) => n.attrInt('axis') === 1)).toHaveLength(2);
    // the Add, Reshape and Relu stay float, and nothing else is quantized
    expect(quantizedTensors(model)).toEqual(['MatMul_output_0', 'x']);
  });

  it('refuses contrib ops, which TensorRT cannot run', () => {
    const model = mlpModel(8);
    model.graph.nodes.find((n) => n.opType === 'Relu')!.domain = 'com.microsoft';
    expect(() => quantize(model, { calibratedRanges: {}, trt: true })).toThrow(/--trt needs standard ONNX ops/);
  });
});

describe('quantize-static refusals', () => {
  it('without ranges says how to get them', () => {
    expect(() => quantize(mlpModel(8), {})).toThrow(/--calibration FILE.npz\|.json .* or --ranges FILE/);
  });

  it('names the tensors it has no range for', () => {
    const model = mlpModel(8);
    const ranges = someRanges(model);
    delete ranges.MatMul_output_0;
    expect(() => quantize(model, { calibratedRanges: ranges })).toThrow(
      /no calibrated range for 1 tensor\(s\) to quantize: 'MatMul_output_0'/,
    );
  });

  it('refuses bad ranges, int8 activations with uint8 weights, and a quantized model', () => {
    const model = mlpModel(8);
    expect(() => quantize(model, { calibratedRanges: { x: [1, Infinity] } })).toThrow(OnnxOptError);
    expect(() => quantize(model, { calibratedRanges: { x: [1] } })).toThrow(/must be \[min, max\]/);
    expect(() => quantize(model, { calibratedRanges: {}, weightType: 'uint8' })).toThrow(
      /int8 activations with uint8 weights/,
    );
    quantize(model, { calibratedRanges: someRanges(model) });
    expect(() => quantize(model, { calibratedRanges: {} })).toThrow(/already quantized/);
  });

  it('leaves excluded nodes and unlisted ops float', () => {
    const model = mlpModel(8);
    const options = { ops: 'MatMul', exclude: 'MatMul_1' };
    quantize(model, { calibratedRanges: someRanges(model, options), ...options });
    expect(quantizedTensors(model)).toEqual(['MatMul_output_0', 'x']);
  });
});

describe('quantize-static --format qoperator', () => {
  it('turns Q/DQ groups into integer ops that onnxruntime runs, close to the QDQ model', async () => {
    const ranges = MLP_RANGES;
    const qdq = mlpModel(8);
    quantize(qdq, { calibratedRanges: ranges });
    const qop = mlpModel(8);
    const result = quantize(qop, { calibratedRanges: ranges, format: 'qoperator' });
    expect(result.stats).toMatchObject({
      'qoperator.QLinearMatMul': 2,
      'qoperator.QLinearAdd': 1,
      'qoperator.Reshape': 1,
    });
    const ops = qop.graph.nodes.map((n) => n.opType);
    expect(ops).not.toContain('MatMul');
    expect(ops.filter((o) => o === 'QuantizeLinear')).toHaveLength(2); // x, and y (Relu stays float)
    const x = floats(4 * 8, 9);
    const run = async (m: Model) => (await runOrt(m, { x: new ort.Tensor('float32', x, [4, 8]) }, 'all')).y!.data;
    const [a, b] = [await run(qdq), await run(qop)];
    // the same integer arithmetic up to rounding of the rescale: within one step of the output scale
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!)))).toBeLessThanOrEqual(2 * (9 / 255) + 1e-6);
  });
});

describe('quantize-static: Relu as onnxruntime treats it', () => {
  /** x -> MatMul -> h -> Relu -> r -> MatMul -> out */
  function reluModel(): Model {
    const g = new Graph('relu');
    const m = new IrModel(g);
    m.opsetImports = [{ domain: '', version: 17 }];
    const x = g.addInput(new Value('x', tensorType(DataType.FLOAT, [2, 4])));
    const w1 = g.addInitializer('w1', Tensor.fromArray('', DataType.FLOAT, [4, 4], floats(16, 1)));
    const w2 = g.addInitializer('w2', Tensor.fromArray('', DataType.FLOAT, [4, 4], floats(16, 2)));
    const h = g
      .createNode({ opType: 'MatMul', inputs: [x, w1], outputs: [new Value('h', tensorType(DataType.FLOAT, [2, 4]))] })
      .output();
    const r = g
      .createNode({ opType: 'Relu', inputs: [h], outputs: [new Value('r', tensorType(DataType.FLOAT, [2, 4]))] })
      .output();
    const out = new Value('out', tensorType(DataType.FLOAT, [2, 4]));
    g.createNode({ opType: 'MatMul', inputs: [r, w2], outputs: [out] });
    g.outputs.push(out);
    return m;
  }
  const ranges: Ranges = { x: [-0.5, 0.5], h: [-1, 1], r: [0, 1], out: [-1, 1] };

  it("asymmetric activations: the Relu goes, and the MatMul writes r, quantized with r's range", () => {
    const model = reluModel();
    const result = quantize(model, { calibratedRanges: ranges });
    expect(result.stats.removedActivations).toBe(1);
    expect(model.graph.nodes.map((n) => n.opType)).not.toContain('Relu');
    const q = producerOf(model, 'QuantizeLinear').find((n) => n.input(0).name === 'r')!;
    expect(q.input(0).producer!.opType).toBe('MatMul');
    const want = computeScaleZeroPoint(0, 1, quantRange('int8', { symmetric: false, reduceRange: false }), false);
    expect([scalar(q, 1), scalar(q, 2)]).toEqual([want.scale, want.zeroPoint]);
    expect(want.zeroPoint).toBe(-128); // the range starts at 0: every negative value quantizes to 0, as Relu gave
  });

  it("symmetric activations keep it, between its input's and its output's Q/DQ pairs", () => {
    const model = reluModel();
    quantize(model, { calibratedRanges: ranges, symmetricActivations: true });
    expect(model.graph.nodes.map((n) => n.opType)).toContain('Relu');
    expect(
      producerOf(model, 'QuantizeLinear')
        .map((n) => n.input(0).name)
        .sort(),
    ).toEqual(['h', 'out_QuantizeLinear_Input', 'r', 'x']);
  });
});
