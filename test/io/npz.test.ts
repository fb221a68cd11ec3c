// numpy .npy/.npz reading: hand-made files (stored and deflated zip entries, versions 1 and 2, every supported
// dtype), real numpy files from the fixtures, and the clear failures.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OnnxOptError } from '../../src/errors.js';
import { readNpz } from '../../src/io/npz.js';
import { parseNpy, parseNpz } from '../../src/serde/npz.js';
import { DataType } from '../../src/tensor/dtype.js';
import { fixture, haveFixtures, npyBytes, npzBytes } from '../runtime/helpers.js';
import { tempFolder } from '../kit/temp.js';

const dir = tempFolder('npz');

describe('parseNpy', () => {
  const cases = [
    { descr: '<f4', data: Float32Array.from([1.5, -2, 3.25, 0, 7, 8]), dataType: DataType.FLOAT },
    { descr: '<f8', data: Float64Array.from([1e-300, 2, 3, 4, 5, 6]), dataType: DataType.DOUBLE },
    { descr: '<f2', data: Uint16Array.from([0x3c00, 0xc000, 0, 1, 2, 3]), dataType: DataType.FLOAT16 },
    { descr: '<i8', data: BigInt64Array.from([-1n, 2n ** 40n, 3n, 4n, 5n, 6n]), dataType: DataType.INT64 },
    { descr: '<i4', data: Int32Array.from([-7, 1, 2, 3, 4, 2 ** 31 - 1]), dataType: DataType.INT32 },
    { descr: '|b1', data: Uint8Array.from([1, 0, 1, 1, 0, 0]), dataType: DataType.BOOL },
    { descr: '|u1', data: Uint8Array.from([255, 0, 1, 2, 3, 4]), dataType: DataType.UINT8 },
    { descr: '|i1', data: Int8Array.from([-128, 127, 0, 1, 2, 3]), dataType: DataType.INT8 },
  ];
  for (const c of cases) {
    it(`reads ${c.descr} arrays with their shape and values`, () => {
      const a = parseNpy(npyBytes(c.descr, [2, 3], c.data));
      expect(a.dataType).toBe(c.dataType);
      expect(a.dims).toEqual([2, 3]);
      expect(Array.from(a.data as ArrayLike<number | bigint>)).toEqual(
        Array.from(c.data as ArrayLike<number | bigint>),
      );
    });
  }

  it('reads version 2 headers, scalars and empty arrays', () => {
    expect(parseNpy(npyBytes('<f4', [3], Float32Array.from([1, 2, 3]), { version: 2 })).dims).toEqual([3]);
    const scalar = parseNpy(npyBytes('<i8', [], BigInt64Array.from([42n])));
    expect(scalar.dims).toEqual([]);
    expect(scalar.data[0]).toBe(42n);
    expect(parseNpy(npyBytes('<f4', [0, 4], new Float32Array(0))).data.length).toBe(0);
  });

  it('copies data that sits at an offset a typed view cannot use', () => {
    const npy = npyBytes('<f8', [2], Float64Array.from([0.5, -0.25]));
    const shifted = new Uint8Array(npy.length + 3);
    shifted.set(npy, 3);
    expect(Array.from(parseNpy(shifted.subarray(3)).data as Float64Array)).toEqual([0.5, -0.25]);
  });

  it('refuses Fortran order, big-endian and unsupported dtypes, and truncated data, naming the file', () => {
    const fail = (bytes: Uint8Array) => {
      try {
        parseNpy(bytes, 'x.npy');
      } catch (e) {
        expect(e).toBeInstanceOf(OnnxOptError);
        expect((e as OnnxOptError).file).toBe('x.npy');
        return (e as Error).message;
      }
      throw new Error('expected a failure');
    };
    expect(fail(npyBytes('<f4', [2, 2], new Float32Array(4), { fortran: true }))).toMatch(/Fortran/);
    expect(fail(npyBytes('>f4', [2], new Float32Array(2)))).toMatch(/unsupported dtype '>f4'/);
    expect(fail(npyBytes('<c8', [2], new Float32Array(4)))).toMatch(/unsupported dtype '<c8'/);
    const whole = npyBytes('<f4', [4], new Float32Array(4));
    expect(fail(whole.subarray(0, whole.length - 4))).toMatch(/needs 16/);
    expect(fail(whole.subarray(0, 40))).toMatch(/header runs past/);
    expect(fail(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]))).toMatch(/magic/);
  });
});

describe('parseNpz', () => {
  const arrays = {
    pixel_values: npyBytes('<f4', [2, 2], Float32Array.from([0.1, 0.2, 0.3, 0.4])),
    labels: npyBytes('<i8', [2], BigInt64Array.from([3n, 7n])),
  };

  for (const method of ['stored', 'deflated'] as const) {
    it(`reads ${method} entries by name`, () => {
      const npz = parseNpz(npzBytes(arrays, method));
      expect([...npz.keys()].sort()).toEqual(['labels', 'pixel_values']);
      expect(Array.from(npz.get('pixel_values')!.data as Float32Array)).toEqual(
        Array.from(Float32Array.from([0.1, 0.2, 0.3, 0.4])),
      );
      expect(npz.get('labels')!.data).toEqual(BigInt64Array.from([3n, 7n]));
    });
  }

  it('reads a file, and a bare .npy file as arr_0', () => {
    const npzPath = join(dir, 'data.npz');
    writeFileSync(npzPath, npzBytes(arrays, 'deflated'));
    expect(readNpz(npzPath).get('labels')!.dims).toEqual([2]);
    const npyPath = join(dir, 'one.npy');
    writeFileSync(npyPath, arrays.labels);
    expect([...readNpz(npyPath).keys()]).toEqual(['arr_0']);
  });

  it('reads deflated entries alike with zlib (readNpz) and with its own inflate (parseNpz, as in a browser)', () => {
    const npzPath = join(dir, 'deflated.npz');
    const bytes = npzBytes(arrays, 'deflated');
    writeFileSync(npzPath, bytes);
    const viaZlib = readNpz(npzPath);
    const ours = parseNpz(bytes);
    for (const key of ['labels', 'pixel_values']) expect(ours.get(key)).toEqual(viaZlib.get(key));
  });

  it('fails clearly on files that are not archives or are damaged', () => {
    expect(() => parseNpz(new Uint8Array(100), 'bad.npz')).toThrow(/no end-of-central-directory/);
    for (const method of ['stored', 'deflated'] as const) {
      const damaged = npzBytes(arrays, method);
      damaged[50] = damaged[50]! ^ 0x01; // inside the first entry's data
      expect(() => parseNpz(damaged, 'bad.npz')).toThrow(OnnxOptError);
    }
    expect(() => readNpz(join(dir, 'absent.npz'))).toThrow(/no such file/);
  });
});

describe.runIf(haveFixtures)('numpy-written files (fixtures)', () => {
  it('reads np.savez output (zip64 fields) with the shapes numpy reports', () => {
    const test = readNpz(fixture('digits.test.npz'));
    expect(test.get('pixel_values')!.dims).toEqual([540, 1, 8, 8]);
    expect(test.get('pixel_values')!.dataType).toBe(DataType.FLOAT);
    const labels = Array.from(test.get('labels')!.data as BigInt64Array, Number);
    expect(labels).toHaveLength(540);
    expect(labels.every((l) => l >= 0 && l <= 9)).toBe(true);
    const pixels = test.get('pixel_values')!.data as Float32Array;
    expect(Math.min(...pixels)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...pixels)).toBeLessThanOrEqual(1);
  });
});
