// `onnx-opt transformers-js DIR`: every variant transformers.js loads, with its file names, settings by model type,
// records beside config.json, and each variant running in onnxruntime-node.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { readNpz } from '../../src/io/npz.js';
import { readModel } from '../../src/io/read.js';
import { writeModel } from '../../src/io/write.js';
import { makeTransformersJsFolder } from '../../src/transformers-js.js';
import { runCli } from './run-cli.js';
import { buildModel, tempFolder } from '../kit/index.js';

const root = tempFolder('tjs');

function folder(name: string, fixture: string, modelType: string): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  copyFileSync(`fixtures/${fixture}.onnx`, join(dir, 'onnx', 'model.onnx'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: modelType }));
  return dir;
}

const ops = (path: string) => new Set(readModel(path).graph.nodes.map((n) => n.opType));

describe('transformers-js folders', () => {
  it('writes all seven variants with transformers.js file names; each runs in onnxruntime-node', async () => {
    const dir = folder('bert', 'bert-eager-ts14', 'bert');
    const records = await makeTransformersJsFolder(dir);
    const files = [
      'model_fp16.onnx',
      'model_quantized.onnx',
      'model_int8.onnx',
      'model_uint8.onnx',
      'model_q4.onnx',
      'model_q4f16.onnx',
      'model_bnb4.onnx',
    ];
    expect(records.map((r) => r.file)).toEqual(files);
    const feeds = readNpz('fixtures/bert-eager-ts14.inputs.npz');
    for (const f of files) {
      const session = await ort.InferenceSession.create(join(dir, 'onnx', f));
      const out = await session.run(
        Object.fromEntries(
          session.inputNames.map((n) => {
            const a = feeds.get(n)!;
            return [n, new ort.Tensor('int64', a.data as BigInt64Array, a.dims)];
          }),
        ),
      );
      expect(Object.keys(out).length, f).toBeGreaterThan(0);
      await session.release();
    }
    expect(ops(join(dir, 'onnx', 'model_q4.onnx')).has('MatMulNBits')).toBe(true);
    expect(ops(join(dir, 'onnx', 'model_bnb4.onnx')).has('MatMulBnb4')).toBe(true);
    const config = JSON.parse(readFileSync(join(dir, 'quantize_config.json'), 'utf8'));
    expect(config).toMatchObject({
      per_channel: true,
      reduce_range: true,
      block_size: 32,
      is_symmetric: true,
      quant_type: 1,
    });
  });

  it('q8 follows transformers.js: int8 weights without Conv, per channel and reduced range for BERT, not for llama', async () => {
    const bert = folder('bert-q8', 'bert-eager-ts14', 'bert');
    const [b] = await makeTransformersJsFolder(bert, { modes: ['q8'] });
    const bq = readModel(join(bert, 'onnx', 'model_quantized.onnx'));
    // MatMul weights int8 (Gather tables are uint8 in any case, as onnxruntime makes them)
    const matmulWeights = bq.graph.nodes
      .filter((n) => n.opType === 'DynamicQuantizeMatMul' || n.opType === 'MatMulIntegerToFloat')
      .map((n) => n.input(1).initializer!.dataType);
    expect(matmulWeights.length).toBeGreaterThan(0);
    expect(new Set(matmulWeights)).toEqual(new Set([3]));
    expect(b!.stats['quantize.quantizedNodes']).toBeGreaterThan(0);
    const llama = folder('gpt2-q8', 'gpt2-eager-ts14', 'gpt2');
    await makeTransformersJsFolder(llama, { modes: ['q8'] });
    expect(JSON.parse(readFileSync(join(llama, 'quantize_config.json'), 'utf8'))).toMatchObject({
      per_channel: false,
      reduce_range: false,
    });
  });

  it('variants of variants are never made; --modes picks a subset; a rerun replaces the files', async () => {
    const dir = folder('rerun', 'bert-eager-ts14', 'bert');
    const r = await runCli('transformers-js', dir, '--modes', 'q4,fp16');
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(dir, 'onnx', 'model_q4.onnx'))).toBe(true);
    expect(existsSync(join(dir, 'onnx', 'model_int8.onnx'))).toBe(false);
    const again = await runCli('transformers-js', dir, '--modes', 'q4', '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).map((x: { file: string }) => x.file)).toEqual(['model_q4.onnx']);
  });

  it('a model with external data: variants written with it are listed in config.json for transformers.js', async () => {
    const dir = folder('external', 'bert-eager-ts14', 'bert');
    writeModel(readModel('fixtures/bert-eager-ts14.onnx'), join(dir, 'onnx', 'model.onnx'), { externalData: 'always' });
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ model_type: 'bert', 'transformers.js_config': { use_external_data_format: true } }),
    );
    const records = await makeTransformersJsFolder(dir, { modes: ['fp16', 'q4'] });
    expect(records.map((r) => r.externalData)).toEqual([true, true]);
    expect(existsSync(join(dir, 'onnx', 'model_q4.onnx_data'))).toBe(true);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config['transformers.js_config'].use_external_data_format).toEqual({
      'model.onnx': true,
      'model_fp16.onnx': 1,
      'model_q4.onnx': 1,
    });
    const session = await ort.InferenceSession.create(join(dir, 'onnx', 'model_q4.onnx'));
    expect(session.outputNames.length).toBeGreaterThan(0);
    await session.release();
  });

  it('a variant that breaks the model is checked in onnxruntime and not written: exit 1, a line naming it', async () => {
    const dir = join(root, 'clamped');
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    // transformers.js's float16 limits clamp constants to ±1e4: x + [1e5, 9e3 × 7] becomes x + [1e4, 9e3 × 7],
    // whose outputs point elsewhere (cosine about 0.6)
    const model = buildModel((g) => {
      const x = g.input('x', [2, 8]);
      g.output(g.op('Add', [x, g.init('offsets', [1e5, 9e3, 9e3, 9e3, 9e3, 9e3, 9e3, 9e3])]), [2, 8]);
    });
    writeModel(model, join(dir, 'onnx', 'model.onnx'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert' }));
    const r = await runCli('transformers-js', dir, '--modes', 'fp16,q8');
    expect(r.code, r.stderr).toBe(1);
    const refusals = r.stderr.split('\n').filter((l) => l.startsWith('onnx-opt: '));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toContain(join(dir, 'onnx', 'model_fp16.onnx'));
    expect(refusals[0]).toMatch(/infinit|NaN|cosine/i);
    expect(existsSync(join(dir, 'onnx', 'model_fp16.onnx'))).toBe(false);
    expect(existsSync(join(dir, 'onnx', 'model_quantized.onnx'))).toBe(true);
    // --no-check writes it, as asked
    expect((await runCli('transformers-js', dir, '--modes', 'fp16', '--no-check')).code).toBe(0);
    expect(existsSync(join(dir, 'onnx', 'model_fp16.onnx'))).toBe(true);
  });

  it('the library writes what its check keeps and records what it refuses', async () => {
    const dir = folder('library-check', 'bert-eager-ts14', 'bert');
    const checked: string[] = [];
    const records = await makeTransformersJsFolder(dir, {
      modes: ['q8', 'q4'],
      check: async (base, variant, file) => {
        checked.push(`${file} ${base.graph.nodes.length > 0} ${variant !== base}`);
        return file.endsWith('_q4.onnx') ? 'refused by the test' : undefined;
      },
    });
    expect(checked).toEqual(['model_quantized.onnx true true', 'model_q4.onnx true true']);
    expect(records.map((r) => [r.file, r.refused])).toEqual([
      ['model_quantized.onnx', undefined],
      ['model_q4.onnx', 'refused by the test'],
    ]);
    expect(existsSync(join(dir, 'onnx', 'model_quantized.onnx'))).toBe(true);
    expect(existsSync(join(dir, 'onnx', 'model_q4.onnx'))).toBe(false);
  });

  it('a folder without onnx/: exit 2 and one line naming it', async () => {
    const r = await runCli('transformers-js', join(root, 'missing'));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('missing');
  });
});

describe('onnx-opt q4 / bnb4 from the command line', () => {
  it('each pass takes its own defaults for the flags passes share (--ops, --block-size)', async () => {
    const q4 = join(root, 'cli.q4.onnx');
    const r = await runCli('q4', '--json', 'fixtures/bert-eager-ts14.onnx', q4);
    expect(r.code, r.stderr).toBe(0);
    const nbits = readModel(q4).graph.nodes.filter((n) => n.opType === 'MatMulNBits');
    expect(nbits.length).toBe(12);
    expect(nbits[0]!.attrInt('block_size')).toBe(32);
    const bnb4 = join(root, 'cli.bnb4.onnx');
    expect((await runCli('bnb4', 'fixtures/bert-eager-ts14.onnx', bnb4)).code).toBe(0);
    const node = readModel(bnb4).graph.nodes.find((n) => n.opType === 'MatMulBnb4')!;
    expect(node.attrInt('block_size')).toBe(64);
    const gather = join(root, 'cli.q4g.onnx');
    expect(
      (
        await runCli(
          'q4',
          '--ops',
          'Gather',
          '--block-size',
          '16',
          '--no-symmetric',
          'fixtures/bert-eager-ts14.onnx',
          gather,
        )
      ).code,
    ).toBe(0);
    expect(ops(gather).has('GatherBlockQuantized')).toBe(true);
  });

  it('a block size onnxruntime cannot run: exit 2, one line, no output', async () => {
    const out = join(root, 'cli.bad.onnx');
    const r = await runCli('q4', '--block-size', '512', 'fixtures/bert-eager-ts14.onnx', out);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  });
});
