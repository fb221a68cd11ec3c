// Model and sidecar are committed together: when the model cannot be moved into place after its new sidecar was,
// the earlier sidecar comes back, so the earlier output still loads as it was.
import * as fs from 'node:fs';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { readModel } from '../../src/io/read.js';
import { writeModel } from '../../src/io/write.js';
import { describeModel } from '../helpers/describe-ir.js';
import { mlpModel } from '../helpers/models.js';
import { tempFolder } from '../kit/temp.js';

/** renameSync fails for a chosen target, as a full disk or a vanished folder would make it. */
const failRenameTo = vi.hoisted(() => ({ target: '' }));
vi.mock('node:fs', async (original) => {
  const real = await original<typeof import('node:fs')>();
  return {
    ...real,
    renameSync: (from: fs.PathLike, to: fs.PathLike) => {
      if (String(to) === failRenameTo.target) throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO' });
      return real.renameSync(from, to);
    },
  };
});

const root = tempFolder('commit');

describe('committing model and sidecar', () => {
  it('puts the earlier sidecar back when the model cannot be moved into place', () => {
    const path = join(root, 'out.onnx');
    writeModel(mlpModel(32), path, { externalData: 'always' });
    const before = [readFileSync(path), readFileSync(`${path}_data`)];
    failRenameTo.target = path;
    try {
      expect(() => writeModel(mlpModel(48), path, { externalData: 'always' })).toThrow(/EIO/);
    } finally {
      failRenameTo.target = '';
    }
    expect([readFileSync(path), readFileSync(`${path}_data`)]).toEqual(before);
    expect(readdirSync(root).sort()).toEqual([basename(path), `${basename(path)}_data`]);
    expect(describeModel(readModel(path))).toEqual(describeModel(mlpModel(32)));
  });

  it('removes its new sidecar when there was none before', () => {
    const path = join(root, 'fresh.onnx');
    failRenameTo.target = path;
    try {
      expect(() => writeModel(mlpModel(48), path, { externalData: 'always' })).toThrow(/EIO/);
    } finally {
      failRenameTo.target = '';
    }
    expect(readdirSync(root).filter((f) => f.startsWith('fresh') || f.startsWith('.fresh'))).toEqual([]);
  });
});

describe('committing model and chunks', () => {
  it('every chunk of the earlier output comes back, and no new one stays, when the model cannot be moved into place', () => {
    const path = join(root, 'chunked.onnx');
    writeModel(mlpModel(32), path, { externalData: 'always', externalChunkBytes: 1000 });
    const files = () =>
      readdirSync(root)
        .filter((f) => f.startsWith('chunked') || f.startsWith('.chunked'))
        .sort();
    const before = files().map((f) => readFileSync(join(root, f)));
    expect(files()).toEqual(['chunked.onnx', 'chunked.onnx_data', 'chunked.onnx_data_1']);
    failRenameTo.target = path;
    try {
      // three chunks this time: the new third one must not stay either
      expect(() =>
        writeModel(mlpModel(32), path, { externalData: 'always', externalThreshold: 100, externalChunkBytes: 1000 }),
      ).toThrow(/EIO/);
    } finally {
      failRenameTo.target = '';
    }
    expect(files()).toEqual(['chunked.onnx', 'chunked.onnx_data', 'chunked.onnx_data_1']);
    expect(files().map((f) => readFileSync(join(root, f)))).toEqual(before);
    expect(describeModel(readModel(path))).toEqual(describeModel(mlpModel(32)));
  });
});
