// The conformance suite's canonical tensor form must give the same elements for both storages of the same data,
// and different elements for different data.
import { describe, expect, it } from 'vitest';
import { elementsToBytes, scalarBits, tensorElements, type TensorObject } from './tensor-elements.js';

const b64 = (bytes: number[]) => Buffer.from(bytes).toString('base64');

describe('tensorElements', () => {
  const pairs: [string, TensorObject, TensorObject, string[]][] = [
    [
      'float with NaN payload and -0',
      { data_type: 1, dims: [3], float_data: [1, -0, Number.NaN] },
      { data_type: 1, dims: [3], raw_data: b64([0, 0, 0x80, 0x3f, 0, 0, 0, 0x80, 0, 0, 0xc0, 0x7f]) },
      ['3f800000', '80000000', '7fc00000'],
    ],
    [
      'int64 below zero and at the limits',
      { data_type: 7, dims: [2], int64_data: ['-1', '9223372036854775807'] },
      {
        data_type: 7,
        dims: [2],
        raw_data: b64([255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0x7f]),
      },
      ['ffffffffffffffff', '7fffffffffffffff'],
    ],
    [
      'int8 in int32_data',
      { data_type: 3, dims: [2], int32_data: [-2, 5] },
      { data_type: 3, dims: [2], raw_data: b64([0xfe, 5]) },
      ['fe', '05'],
    ],
    [
      'float16 bits in int32_data',
      { data_type: 10, dims: [1, 2], int32_data: [0x3c00, 0x7e01] },
      { data_type: 10, dims: [1, 2], raw_data: b64([0x00, 0x3c, 0x01, 0x7e]) },
      ['3c00', '7e01'],
    ],
    [
      'int4, odd count, packed low nibble first',
      { data_type: 22, dims: [3], int32_data: [0x21, 0x0f] },
      { data_type: 22, dims: [3], raw_data: b64([0x21, 0x0f]) },
      ['1', '2', 'f'],
    ],
    [
      'uint32 in uint64_data',
      { data_type: 12, dims: [1], uint64_data: ['4294967295'] },
      { data_type: 12, dims: [1], raw_data: b64([255, 255, 255, 255]) },
      ['ffffffff'],
    ],
    [
      'complex64 as real, imaginary pairs',
      { data_type: 14, dims: [1], float_data: [1, 2] },
      { data_type: 14, dims: [1], raw_data: b64([0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]) },
      ['3f800000', '40000000'],
    ],
  ];

  it.each(pairs)('%s: typed field and raw_data agree', (_, typed, raw, expected) => {
    expect(tensorElements(typed)).toEqual(expected);
    expect(tensorElements(raw)).toEqual(expected);
  });

  it.each(pairs)('%s: elementsToBytes gives raw_data back', (_, typed, raw) => {
    const bytes = elementsToBytes(tensorElements(typed), scalarBits(typed.data_type!));
    expect(Buffer.from(bytes).toString('base64')).toBe(raw.raw_data);
  });

  it('keeps strings as they are stored', () => {
    expect(tensorElements({ data_type: 8, dims: [2], string_data: [b64([0x61]), ''] })).toEqual(['YQ==', '']);
  });

  it('marks data that does not fit the dims', () => {
    expect(tensorElements({ data_type: 1, dims: [2], float_data: [1] })).toEqual([
      '3f800000',
      '<1 stored, 2 expected>',
    ]);
    expect(tensorElements({ data_type: 1, dims: [1], raw_data: b64([0, 0, 0x80, 0x3f, 0]) }).at(-1)).toBe(
      '<5 stored, 4 expected>',
    );
  });

  it('tells different values apart', () => {
    expect(tensorElements({ data_type: 1, dims: [1], float_data: [Number.NaN] })).not.toEqual(
      tensorElements({ data_type: 1, dims: [1], raw_data: b64([1, 0, 0xc0, 0x7f]) }),
    );
  });
});
