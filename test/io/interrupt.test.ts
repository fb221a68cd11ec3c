// Ctrl-C or SIGTERM while the CLI writes its output: every temp file is removed, no output appears, the input is
// untouched, and the process ends by the signal. A real child process runs the CLI from the TypeScript sources.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Graph, Value } from '../../src/ir/graph.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DataType } from '../../src/tensor/dtype.js';
import { tempFolder } from '../kit/temp.js';

const root = tempFolder('interrupt');

/** 128 MB of weights: the write takes several 16 MB blocks, so a signal lands in the middle of it. */
const ELEMENTS = 32 * 1024 * 1024;

/** y = x + w with w in a sparse (all-zero) external file, so the input costs no disk. */
function writeInput(dir: string): string {
  const g = new Graph('big');
  const m = new Model(g);
  m.irVersion = 10;
  m.opsetImports = [{ domain: '', version: 21 }];
  const x = g.addInput(new Value('x', tensorType(DataType.FLOAT, [ELEMENTS])));
  const w = g.addInitializer(
    'w',
    new Tensor('w', DataType.FLOAT, [ELEMENTS], {
      byteLength: ELEMENTS * 4,
      load: () => {
        throw new Error('the weights are only referenced here');
      },
    }),
  );
  const y = new Value('y', tensorType(DataType.FLOAT, [ELEMENTS]));
  g.createNode({ opType: 'Add', inputs: [x, w], outputs: [y] });
  g.outputs.push(y);
  const path = join(dir, 'm.onnx');
  writeFileSync(
    path,
    encodeModel(m, () => ({ location: 'm.onnx_data', offset: 0, length: ELEMENTS * 4, extra: [] })),
  );
  writeFileSync(join(dir, 'm.onnx_data'), '');
  truncateSync(join(dir, 'm.onnx_data'), ELEMENTS * 4);
  return path;
}

/** Runs the CLI on the input and sends `signal` as soon as a temp file shows up in the folder. */
function interruptWrite(
  dir: string,
  input: string,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; sent: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', './test/helpers/run-ts.mjs', 'bin/onnx-opt.ts', input, join(dir, 'out.onnx')],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d) => (stderr += String(d)));
    const watcher = watch(dir, (_, name) => {
      if (!sent && name?.endsWith('.tmp')) {
        sent = true;
        child.kill(signal);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, sig) => {
      watcher.close();
      resolve({ code, signal: sig, stderr, sent });
    });
  });
}

describe('interrupting the CLI while it writes', () => {
  it.concurrent.each(['SIGTERM', 'SIGINT'] as const)(
    '%s: no temp file, no output, input untouched, ends by the signal',
    async (signal) => {
      const dir = mkdtempSync(join(root, `${signal}-`));
      const input = writeInput(dir);
      const modelBytes = readFileSync(input);
      const result = await interruptWrite(dir, input, signal);
      expect(result.sent, result.stderr).toBe(true);
      expect(result.signal, result.stderr).toBe(signal);
      expect(readdirSync(dir).sort()).toEqual(['m.onnx', 'm.onnx_data']);
      expect(readFileSync(input)).toEqual(modelBytes);
      expect(statSync(join(dir, 'm.onnx_data')).size).toBe(ELEMENTS * 4);
    },
    120_000,
  );
});
