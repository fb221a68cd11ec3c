// The pass pipeline from the command line: exit codes, one-line errors naming the file, no partial output.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';
import { tempFolder } from '../kit/temp.js';

const dir = tempFolder('cli');
const FIXTURE = 'fixtures/bert-eager-ts14.onnx';

describe('onnx-opt [passes...] in out', () => {
  it('fuses and quantizes, with a summary table on stderr and --json on stdout', async () => {
    const out = join(dir, 'int8.onnx');
    const r = await runCli('fuse', 'quantize', '--json', FIXTURE, out);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.passes.map((p: { name: string }) => p.name)).toEqual(['fuse', 'quantize']);
    expect(summary.ops.after['com.microsoft::QAttention']).toBe(2);
    expect(existsSync(out)).toBe(true);
  });

  it('writes a quantize_config.json record beside the output only when asked', async () => {
    const plain = join(dir, 'plain.onnx');
    expect((await runCli('quantize', FIXTURE, plain)).code).toBe(0);
    expect(existsSync(join(dir, 'plain.quantize_config.json'))).toBe(false);
    const recorded = join(dir, 'recorded.onnx');
    expect((await runCli('quantize', '--save-config', FIXTURE, recorded)).code).toBe(0);
    const record = JSON.parse(readFileSync(join(dir, 'recorded.quantize_config.json'), 'utf8'));
    expect(record.settings).toMatchObject({ perChannel: true, reduceRange: true, weightType: 'int8' });
    expect(record.quantized.length).toBe(record.stats.quantizedNodes);
  });

  it('refuses to quantize twice: exit 2, one line naming the file, no output', async () => {
    const once = join(dir, 'once.onnx');
    expect((await runCli('quantize', FIXTURE, once)).code).toBe(0);
    const twice = join(dir, 'twice.onnx');
    const r = await runCli('quantize', once, twice);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`${once}: model is already quantized`);
    expect(existsSync(twice)).toBe(false);
  });

  it('reads and writes back with no passes; bad input leaves nothing behind and the input untouched', async () => {
    const copy = join(dir, 'copy.onnx');
    expect((await runCli(FIXTURE, copy)).code).toBe(0);
    const truncated = join(dir, 'truncated.onnx');
    writeFileSync(truncated, readFileSync(FIXTURE).subarray(0, 1000));
    const before = readFileSync(truncated);
    const out = join(dir, 'never.onnx');
    const r = await runCli('fuse', truncated, out);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^onnx-opt: ${truncated}: `));
    expect(r.stderr).not.toContain('    at ');
    expect(existsSync(out)).toBe(false);
    expect(readFileSync(truncated).equals(before)).toBe(true);
  });

  it('rejects an unknown pass and a bad option value with exit 2', async () => {
    expect((await runCli('no-such-pass', FIXTURE, join(dir, 'x.onnx'))).code).toBe(2);
    expect((await runCli('fuse', '--disable', 'nope', FIXTURE, join(dir, 'x.onnx'))).code).toBe(2);
  });
});
