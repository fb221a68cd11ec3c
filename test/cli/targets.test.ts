// --target from the command line: the passes it adds, the fusions it turns off, its warnings, bad names.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';
import { tempFolder } from '../kit/temp.js';

const dir = tempFolder('target');
const FIXTURE = 'fixtures/gpt2-eager-ts14.onnx';
const BERT = 'fixtures/bert-eager-ts14.onnx';

describe('onnx-opt --target', () => {
  it('defaults to cpu: fuse is followed by split-skip-layer-norm', async () => {
    const r = await runCli('fuse', '--json', BERT, join(dir, 'cpu.onnx'));
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.target).toBe('cpu');
    expect(summary.passes.map((p: { name: string }) => p.name)).toEqual(['fuse', 'split-skip-layer-norm']);
    // cuda keeps the fused SkipLayerNormalization that the CPU form splits (those with a bias)
    const cuda = JSON.parse((await runCli('fuse', '--target', 'cuda', '--json', BERT, join(dir, 'cuda.onnx'))).stdout);
    expect(cuda.passes.map((p: { name: string }) => p.name)).toEqual(['fuse']);
    const skip = (s: { ops: { after: Record<string, number> } }) =>
      s.ops.after['com.microsoft::SkipLayerNormalization'] ?? 0;
    expect(skip(summary)).toBeLessThan(skip(cuda));
  });

  it('webgpu: no EmbedLayerNormalization, masks as a bias, nothing left off the GPU', async () => {
    const r = await runCli('fuse', '--target', 'webgpu', '--json', FIXTURE, join(dir, 'webgpu.onnx'));
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.passes.map((p: { name: string }) => p.name)).toEqual([
      'fuse',
      'attention-mask-to-bias',
      'split-bias-gelu',
    ]);
    expect(summary.ops.after['com.microsoft::EmbedLayerNormalization']).toBeUndefined();
    expect(summary.ops.after['com.microsoft::Attention']).toBe(2);
    expect(summary.offDevice).toBeUndefined();
    expect(r.stderr).not.toContain('warning');
  });

  it('adds its fusions to those --disable turns off', async () => {
    const r = await runCli(
      'fuse',
      '--disable',
      'gelu',
      '--target',
      'webgpu',
      '--json',
      FIXTURE,
      join(dir, 'no-gelu.onnx'),
    );
    expect(r.code, r.stderr).toBe(0);
    const after = JSON.parse(r.stdout).ops.after;
    expect(after['com.microsoft::EmbedLayerNormalization']).toBeUndefined();
    expect(
      after['com.microsoft::FastGelu'] ?? after['com.microsoft::Gelu'] ?? after['com.microsoft::BiasGelu'],
    ).toBeUndefined();
    expect(after['com.microsoft::Attention']).toBe(2);
  });

  it('says loudly what does not suit the target', async () => {
    const r = await runCli('fuse', 'quantize', '--target', 'webgpu', FIXTURE, join(dir, 'int8.onnx'));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('onnx-opt: warning: --target webgpu: quantize: dynamic INT8 is a CPU form');
    expect(r.stderr).toMatch(/no onnxruntime-web WebGPU provider kernel, run on the CPU: .*DynamicQuantizeMatMul x\d+/);
  });

  it('rejects an unknown target with exit 2 and writes nothing', async () => {
    const out = join(dir, 'never.onnx');
    const r = await runCli('fuse', '--target', 'tpu', FIXTURE, out);
    expect(r.code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});
