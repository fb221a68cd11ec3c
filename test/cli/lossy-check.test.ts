// Lossy passes check themselves: a result that breaks an output is not written (exit 1, the output named), fp16
// falls back to --mixed and names the nodes it kept in float32, --no-check opts out, --check-inputs picks the inputs.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Graph, Value } from '../../src/ir/graph.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DataType } from '../../src/tensor/dtype.js';
import { npyBytes, npzBytes } from '../runtime/helpers.js';
import { runCli } from './run-cli.js';
import { tempFolder } from '../kit/temp.js';

const F = DataType.FLOAT;
const dir = tempFolder('lossy');

function model(fill: (g: Graph, x: Value) => Value): string {
  const g = new Graph('g');
  const m = new Model(g);
  m.irVersion = 8;
  m.opsetImports = [{ domain: '', version: 17 }];
  const x = g.addInput(new Value('x', tensorType(F, ['batch', 16])));
  const y = fill(g, x);
  y.name = 'y';
  y.type = tensorType(F, ['batch', 16]);
  g.outputs.push(y);
  const path = join(dir, `model-${Math.random().toString(36).slice(2, 8)}.onnx`);
  writeFileSync(path, encodeModel(m));
  return path;
}

/** y = x @ (A + D) - x @ A, with A ~ 1 and D ~ 1e-3: INT8 rounding of A and A + D (steps of ~1e-2) wipes D out. */
const cancelling = () =>
  model((g, x) => {
    const a = Array.from({ length: 256 }, (_, i) => 1 + ((i * 37) % 19) / 19);
    const d = Array.from({ length: 256 }, (_, i) => (((i * 11) % 7) - 3) * 1e-3);
    const wide = g.addInitializer(
      'a_plus_d',
      Tensor.fromArray(
        '',
        F,
        [16, 16],
        a.map((v, i) => v + d[i]!),
      ),
    );
    const base = g.addInitializer('a', Tensor.fromArray('', F, [16, 16], a));
    const left = g.createNode({ opType: 'MatMul', inputs: [x, wide] }).output(0);
    const right = g.createNode({ opType: 'MatMul', inputs: [x, base] }).output(0);
    return g.createNode({ opType: 'Sub', inputs: [left, right] }).output(0);
  });

/** y = x·100000 - x·99999: float16 holds neither factor (both become 65504), so y becomes 0. */
const beyondHalf = () =>
  model((g, x) => {
    const a = g.addInitializer('a', Tensor.fromArray('', F, [], [100000]));
    const b = g.addInitializer('b', Tensor.fromArray('', F, [], [99999]));
    const left = g.createNode({ opType: 'Mul', inputs: [x, a], name: 'times_a' }).output(0);
    const right = g.createNode({ opType: 'Mul', inputs: [x, b], name: 'times_b' }).output(0);
    return g.createNode({ opType: 'Sub', inputs: [left, right], name: 'difference' }).output(0);
  });

describe('lossy passes check themselves', () => {
  it('quantize that breaks an output: exit 1 naming it, nothing written', async () => {
    const out = join(dir, 'broken.int8.onnx');
    const r = await runCli('quantize', cancelling(), out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/quantize breaks the model: output 'y': cosine/);
    expect(existsSync(out)).toBe(false);
  });

  it('--no-check writes it anyway', async () => {
    const out = join(dir, 'unchecked.int8.onnx');
    const r = await runCli('quantize', cancelling(), out, '--no-check');
    expect(r.code).toBe(0);
    expect(existsSync(out)).toBe(true);
  });

  it('--check-inputs: the check runs on the given inputs (all zero here, where nothing can break)', async () => {
    const zeros = join(dir, 'zeros.npz');
    writeFileSync(zeros, npzBytes({ x: npyBytes('<f4', [2, 16], new Float32Array(32)) }));
    const out = join(dir, 'zero-checked.int8.onnx');
    const r = await runCli('quantize', cancelling(), out, '--check-inputs', zeros);
    expect(r.stderr, r.stderr).toMatch(/quantize: checked in onnxruntime on 1 input samples/);
    expect(r.code).toBe(0);
  });

  it('fp16 that breaks an output falls back to --mixed and names the nodes it kept in float32', async () => {
    const input = beyondHalf();
    const out = join(dir, 'beyond.fp16.onnx');
    const r = await runCli('fp16', input, out);
    expect(r.stderr, r.stderr).toMatch(/fp16 breaks the model: output 'y'.*converting again as fp16 --mixed/);
    expect(r.stderr).toMatch(/kept in float32 after measuring: .*times_[ab]/);
    expect(r.stderr).toMatch(/fp16 --mixed: checked in onnxruntime/);
    expect(r.code).toBe(0);
    const parity = await runCli('parity', input, out, '--min-cosine', '0.99');
    expect(parity.code, parity.stdout + parity.stderr).toBe(0);
  });

  it('a lossy pass that keeps the outputs says it was checked', async () => {
    const input = model((g, x) =>
      g
        .createNode({
          opType: 'MatMul',
          inputs: [
            x,
            g.addInitializer(
              'w',
              Tensor.fromArray(
                '',
                F,
                [16, 16],
                Array.from({ length: 256 }, (_, i) => Math.sin(i)),
              ),
            ),
          ],
        })
        .output(0),
    );
    const r = await runCli('quantize', input, join(dir, 'fine.int8.onnx'));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/quantize: checked in onnxruntime on 2 input samples: lowest output cosine 0\.99/);
  });
});
