// Inputs are sacred: no file a run read (the model, its external data) is ever written, whatever the output path's
// spelling, case or folder; the sidecar's name follows the output's name so two outputs never share one; a failed
// write leaves every existing file as it was.
import { linkSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OnnxOptError } from '../../src/errors.js';
import { readModel } from '../../src/io/read.js';
import { sidecarName, writeModel } from '../../src/io/write.js';
import { runCli } from '../cli/run-cli.js';
import { describeModel } from '../helpers/describe-ir.js';
import { mlpModel } from '../helpers/models.js';
import { tempFolder } from '../kit/temp.js';

const root = tempFolder('sacred');
let folders = 0;

/** A fresh folder holding m.onnx with its weights in m.onnx_data. */
function inputFolder(): { dir: string; input: string } {
  const dir = join(root, `case-${++folders}`);
  mkdirSync(dir);
  const input = join(dir, 'm.onnx');
  writeModel(mlpModel(64), input, { externalData: 'always' });
  return { dir, input };
}

/** Every file in a folder (recursively) with its bytes, to show that nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      out[path.slice(dir.length + 1)] = readFileSync(path).toString('base64');
    }
  }
  return out;
}

const expected = describeModel(mlpModel(64));

describe('the sidecar is named after the whole output name', () => {
  it.each([
    ['model.onnx', 'model.onnx_data'],
    ['m.ONNX', 'm.ONNX_data'],
    ['m', 'm_data'],
    ['m.onnx.onnx', 'm.onnx.onnx_data'],
    ['/some/folder/x.Onnx', 'x.Onnx_data'],
  ])('%s -> %s', (output, sidecar) => {
    expect(sidecarName(output)).toBe(sidecar);
  });
});

describe('outputs beside an input with external data', () => {
  it.each(['m.ONNX', 'm', 'M.onnx', 'sub/../m.Onnx', 'm.onnx.onnx'])(
    'output %s: the input is untouched and the output loads',
    async (output) => {
      const { dir, input } = inputFolder();
      mkdirSync(join(dir, 'sub'));
      const before = snapshot(dir);
      const out = join(dir, output);
      // quantize rewrites the weights, so an output sidecar written over the input's would change its bytes.
      const result = await runCli('quantize', input, out);
      expect(result.code).toBe(0);
      const after = snapshot(dir);
      for (const [file, bytes] of Object.entries(before)) expect(after[file], file).toBe(bytes);
      expect(describeModel(readModel(input))).toEqual(expected);
      expect(readModel(out).graph.nodes.map((n) => n.opType)).toContain('DynamicQuantizeMatMul');
    },
  );
});

describe('an output that is a file the run read is refused', () => {
  const cases: [string, (dir: string) => string][] = [
    ['the input itself', (dir) => join(dir, 'm.onnx')],
    ['the input by another spelling', (dir) => join(dir, 'sub', '..', '.', 'm.onnx')],
    [
      'a symbolic link to the input',
      (dir) => {
        symlinkSync(join(dir, 'm.onnx'), join(dir, 'link.onnx'));
        return join(dir, 'link.onnx');
      },
    ],
    [
      'a hard link to the input',
      (dir) => {
        linkSync(join(dir, 'm.onnx'), join(dir, 'hard.onnx'));
        return join(dir, 'hard.onnx');
      },
    ],
    ["the input's sidecar", (dir) => join(dir, 'm.onnx_data')],
    // On a case-insensitive file system m.ONNX_data is m.onnx_data; a hard link makes the same alias here.
    [
      "an output whose sidecar is the input's sidecar under another case",
      (dir) => {
        linkSync(join(dir, 'm.onnx_data'), join(dir, 'm.ONNX_data'));
        return join(dir, 'm.ONNX');
      },
    ],
  ];

  it.each(cases)('%s: exit 2, one line naming the file, nothing written', async (_, outputIn) => {
    const { dir, input } = inputFolder();
    mkdirSync(join(dir, 'sub'));
    const output = outputIn(dir);
    const before = snapshot(dir);
    const result = await runCli('clean', input, output);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/would overwrite .*read/);
    expect(snapshot(dir)).toEqual(before);
    expect(describeModel(readModel(input))).toEqual(expected);
  });

  it('writeModel refuses to write over the files a model was read from', () => {
    const { dir, input } = inputFolder();
    const before = snapshot(dir);
    const model = readModel(input);
    for (const mode of ['auto', 'always', 'never'] as const) {
      expect(() => writeModel(model, input, { externalData: mode }), mode).toThrow(OnnxOptError);
      expect(snapshot(dir), mode).toEqual(before);
    }
    // A model read from bytes (no file) can be written anywhere, the same path included.
    const inline = join(dir, 'inline.onnx');
    writeModel(mlpModel(8), inline);
    writeModel(mlpModel(16), inline);
    expect(describeModel(readModel(inline))).toEqual(describeModel(mlpModel(16)));
  });
});

describe('a failed write keeps existing files', () => {
  it('output path is a folder: exit 2, the sidecar beside it is kept, no temp file', async () => {
    const { dir, input } = inputFolder();
    mkdirSync(join(dir, 'out.onnx'));
    writeFileSync(join(dir, 'out.onnx_data'), 'an earlier output');
    const before = snapshot(dir);
    const result = await runCli(input, join(dir, 'out.onnx'));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/out\.onnx: .*folder/);
    expect(snapshot(dir)).toEqual(before);
    expect(readdirSync(dir).sort()).toEqual(['m.onnx', 'm.onnx_data', 'out.onnx', 'out.onnx_data']);
  });

  it('sidecar path is a folder: exit 2, the old output is kept', async () => {
    const { dir, input } = inputFolder();
    writeFileSync(join(dir, 'out.onnx'), 'an earlier output');
    mkdirSync(join(dir, 'out.onnx_data'));
    const before = snapshot(dir);
    const result = await runCli(input, join(dir, 'out.onnx'));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/out\.onnx_data: .*folder/);
    expect(snapshot(dir)).toEqual(before);
  });
});
