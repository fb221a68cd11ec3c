// Without onnxruntime-node installed, the tools that run models fail with an EnvironmentError that says how to
// install it (the CLI: one line, exit 3), while everything else works.
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { EnvironmentError } from '../../src/errors.js';
import { checkParity } from '../../src/runtime/parity.js';
import { runCli } from '../cli/run-cli.js';
import { tempFolder } from '../kit/temp.js';

vi.mock('onnxruntime-node', () => {
  throw Object.assign(new Error("Cannot find package 'onnxruntime-node'"), { code: 'ERR_MODULE_NOT_FOUND' });
});

const dir = tempFolder('no-ort');

describe('without onnxruntime-node', () => {
  it('checkParity rejects with an EnvironmentError naming the install command', async () => {
    const failure = checkParity('fixtures/cnn.onnx', 'fixtures/cnn.onnx');
    await expect(failure).rejects.toThrow(EnvironmentError);
    await expect(failure).rejects.toThrow(/onnxruntime-node is not installed.*npm install onnxruntime-node/);
  });

  it('the CLI says so in one line and exits 3; passes still run', async () => {
    const parity = await runCli('parity', 'fixtures/cnn.onnx', 'fixtures/cnn.onnx');
    expect(parity.code).toBe(3);
    expect(parity.stderr.trim().split('\n')).toHaveLength(1);
    expect(parity.stderr).toMatch(/^onnx-opt: onnxruntime-node is not installed; .*npm install onnxruntime-node$/m);

    const bench = await runCli('bench', 'fixtures/cnn.onnx');
    expect(bench.code).toBe(3);

    const fuse = await runCli('fuse', 'fixtures/bert-sdpa-dynamo18.onnx', join(dir, 'fused.onnx'));
    expect(fuse.stderr).toMatch(/^fuse: changed/);
    expect(fuse.code).toBe(0);
  });
});
