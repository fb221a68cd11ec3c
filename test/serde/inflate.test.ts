// src/serde/inflate.ts against node:zlib: whatever zlib compresses (stored, fixed and dynamic Huffman blocks, every
// level and strategy), ours decompresses to the same bytes; damaged data is refused; CRC-32 agrees with zlib's.
import { constants, crc32 as zlibCrc32, deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32, inflateRaw } from '../../src/serde/inflate.js';
import { lcg } from '../kit/random.js';

/** Bytes with structure (repeats at many distances, runs, text) and noise, deterministic per seed. */
function sample(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  const rand = lcg(seed >>> 0 || 1);
  for (let i = 0; i < size;) {
    const kind = rand();
    const n = Math.min(size - i, 1 + Math.floor(rand() * 300));
    if (kind < 0.3 && i > 0) {
      const from = Math.max(0, i - 1 - Math.floor(rand() * Math.min(i, 40000)));
      for (let k = 0; k < n; k++, i++) out[i] = out[from + k]!;
    } else if (kind < 0.5) out.fill(Math.floor(rand() * 256), i, (i += n));
    else for (let k = 0; k < n; k++, i++) out[i] = kind < 0.8 ? 97 + Math.floor(rand() * 26) : Math.floor(rand() * 256);
  }
  return out;
}

describe('inflateRaw', () => {
  const float32 = new Uint8Array(Float32Array.from({ length: 50000 }, (_, i) => Math.sin(i) * 3).buffer);
  it.each([
    ['empty', new Uint8Array(0)],
    ['one byte', Uint8Array.of(7)],
    ['text-like, 300 KB', sample(300_000, 1)],
    ['float32 data', float32],
    ['zeros, 1 MB', new Uint8Array(1 << 20)],
  ])('decompresses %s as zlib wrote it, at every level and strategy', (_, data) => {
    for (const level of [0, 1, 6, 9]) {
      for (const strategy of [
        constants.Z_DEFAULT_STRATEGY,
        constants.Z_FIXED,
        constants.Z_HUFFMAN_ONLY,
        constants.Z_RLE,
      ]) {
        const packed = deflateRawSync(data, { level, strategy });
        expect(Buffer.compare(inflateRaw(packed, data.byteLength), data), `level ${level} strategy ${strategy}`).toBe(
          0,
        );
        // without a size hint, the output grows as needed
        expect(Buffer.compare(inflateRaw(packed), data)).toBe(0);
      }
    }
  });

  it('decompresses random inputs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 0, max: 9 }), (data, level) => {
        expect(Buffer.compare(inflateRaw(deflateRawSync(data, { level })), data)).toBe(0);
      }),
      { numRuns: 200, seed: 16 },
    );
  });

  it('refuses damaged data with an Error', () => {
    const packed = deflateRawSync(sample(20000, 2));
    expect(() => inflateRaw(packed.subarray(0, packed.byteLength >> 1))).toThrow(/end of compressed data/);
    expect(() => inflateRaw(Uint8Array.of(0x07))).toThrow(/invalid block type/);
    // a stored block whose length and its complement disagree
    expect(() => inflateRaw(Uint8Array.of(0x01, 0x05, 0x00, 0x00, 0x00))).toThrow(/length check/);
    let refused = 0;
    for (let i = 0; i < 200; i++) {
      const bad = Uint8Array.from(packed);
      const at = (i * 7919) % bad.byteLength;
      bad[at] = bad[at]! ^ (1 << (i % 8));
      try {
        inflateRaw(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
  });
});

describe('crc32', () => {
  it('agrees with zlib', () => {
    for (const data of [new Uint8Array(0), Uint8Array.of(0), sample(10000, 3)])
      expect(crc32(data)).toBe(zlibCrc32(data));
  });
});
