// The command line as a careless user meets it: --version, --verbose anywhere, a forgotten output path explained,
// numeric options range-checked, list options with commas, unknown --dim names refused.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { embeddingModel, writeModelFile } from '../runtime/helpers.js';
import { runCli } from './run-cli.js';
import { tempFolder } from '../kit/temp.js';

const dir = tempFolder('polish');
const model = writeModelFile(dir, 'model.onnx', embeddingModel());
const out = (name: string) => join(dir, name);

describe('command line', () => {
  it('--version prints the version from package.json', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const r = await runCli('--version');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
  });

  it.each([
    ['after a pass command', ['clean', '--verbose', model, out('a.onnx')]],
    ['at the end', ['clean', model, out('b.onnx'), '--verbose']],
    ['after parity', ['parity', model, model, '--verbose']],
  ])('--verbose is taken %s', async (_, args) => {
    const r = await runCli(...args);
    expect(r.stderr).not.toMatch(/unknown option/);
    expect(r.code).toBe(0);
  });

  it.each([[['fuse', model]], [['clean', 'fold', model]], [[model]]])(
    'a forgotten output path is explained: %j',
    async (args) => {
      const r = await runCli(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/no output path/);
      expect(r.stderr).not.toMatch(/no such file/);
    },
  );

  it.each([
    [
      ['gate', '--baseline', model, '--candidate', model, '--data', 'x.npz', '--max-drop', '-0.5'],
      /--max-drop must be at least 0/,
    ],
    [['parity', model, model, '--min-cosine', '2'], /--min-cosine must be at most 1/],
    [['parity', model, model, '--min-cosine', '-1.5'], /--min-cosine must be at least -1/],
  ])('numeric options are range-checked: %j', async (args, message) => {
    const r = await runCli(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('--dim takes commas like the other list options', async () => {
    const r = await runCli('parity', model, model, '--dim', 'batch=1,sequence=4');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('an unknown --dim name is refused, naming the dims the inputs have', async () => {
    const r = await runCli('parity', model, model, '--dim', 'batch=1,sequense=4');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--dim 'sequense': no input has a dim of that name \(dims: .*batch/);
  });
});
