// Raw DEFLATE decompression (RFC 1951) and CRC-32, for the deflated entries of .npz archives: synchronous and free of
// Node built-ins, so datasets read in a browser too (DecompressionStream would make every reader async).

// Length and distance codes: base values and extra bits (RFC 1951, 3.2.5).
const LENGTH_BASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DISTANCE_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
  8193, 12289, 16385, 24577,
];
const DISTANCE_EXTRA = [
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
];
// The order code-length code lengths are sent in (3.2.7).
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/**
 * A Huffman code as a lookup table indexed by the next `bits` input bits: each entry is symbol << 4 | code length
 * (0: no code starts with those bits).
 */
interface Huffman {
  table: Uint32Array;
  bits: number;
}

function huffman(lengths: ArrayLike<number>): Huffman {
  let maxLength = 0;
  const count = new Uint16Array(16);
  for (let i = 0; i < lengths.length; i++) {
    count[lengths[i]!]!++;
    maxLength = Math.max(maxLength, lengths[i]!);
  }
  count[0] = 0;
  // canonical codes: the first code of each length (3.2.2); more codes than a length allows is an error
  const next = new Uint16Array(16);
  let left = 1;
  for (let len = 1, code = 0; len <= 15; len++) {
    left = (left << 1) - count[len]!;
    if (left < 0) throw new Error('invalid Huffman code lengths (over-subscribed)');
    next[len] = code;
    code = (code + count[len]!) << 1;
  }
  const bits = Math.max(maxLength, 1);
  const table = new Uint32Array(1 << bits);
  for (let symbol = 0; symbol < lengths.length; symbol++) {
    const len = lengths[symbol]!;
    if (!len) continue;
    // codes are sent most significant bit first, into a stream read least significant bit first
    let code = next[len]!++;
    let reversed = 0;
    for (let i = 0; i < len; i++, code >>= 1) reversed = (reversed << 1) | (code & 1);
    for (let i = reversed; i < table.length; i += 1 << len) table[i] = (symbol << 4) | len;
  }
  return { table, bits };
}

let fixedCodes: { lengths: Huffman; distances: Huffman } | undefined;

function fixed(): { lengths: Huffman; distances: Huffman } {
  if (!fixedCodes) {
    const lengths = new Uint8Array(288);
    lengths.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
    fixedCodes = { lengths: huffman(lengths), distances: huffman(new Uint8Array(30).fill(5)) };
  }
  return fixedCodes;
}

class Inflater {
  private pos = 0;
  private bitBuffer = 0;
  private bitCount = 0;
  out: Uint8Array;
  written = 0;

  constructor(
    private readonly input: Uint8Array,
    expectedSize: number,
  ) {
    this.out = new Uint8Array(Math.max(expectedSize, 1024));
  }

  private need(n: number): void {
    while (this.bitCount < n) {
      if (this.pos >= this.input.byteLength) throw new Error('unexpected end of compressed data');
      this.bitBuffer |= this.input[this.pos++]! << this.bitCount;
      this.bitCount += 8;
    }
  }

  bits(n: number): number {
    if (n === 0) return 0;
    this.need(n);
    const v = this.bitBuffer & ((1 << n) - 1);
    this.bitBuffer >>>= n;
    this.bitCount -= n;
    return v;
  }

  decode(h: Huffman): number {
    // Fill as many bits as the table needs, or as the input still has (the last code may be shorter).
    while (this.bitCount < h.bits && this.pos < this.input.byteLength) {
      this.bitBuffer |= this.input[this.pos++]! << this.bitCount;
      this.bitCount += 8;
    }
    const entry = h.table[this.bitBuffer & ((1 << h.bits) - 1)]!;
    const len = entry & 15;
    if (len === 0) throw new Error('invalid Huffman code in compressed data');
    if (len > this.bitCount) throw new Error('unexpected end of compressed data');
    this.bitBuffer >>>= len;
    this.bitCount -= len;
    return entry >>> 4;
  }

  private room(n: number): void {
    if (this.written + n <= this.out.byteLength) return;
    const grown = new Uint8Array(Math.max(this.out.byteLength * 2, this.written + n));
    grown.set(this.out.subarray(0, this.written));
    this.out = grown;
  }

  stored(): void {
    // Skip to the byte boundary; whole bytes already in the bit buffer go back to the input.
    this.pos -= this.bitCount >>> 3;
    this.bitBuffer = 0;
    this.bitCount = 0;
    if (this.pos + 4 > this.input.byteLength) throw new Error('unexpected end of compressed data');
    const len = this.input[this.pos]! | (this.input[this.pos + 1]! << 8);
    const complement = this.input[this.pos + 2]! | (this.input[this.pos + 3]! << 8);
    if ((len ^ 0xffff) !== complement) throw new Error('stored block length check failed');
    this.pos += 4;
    if (this.pos + len > this.input.byteLength) throw new Error('unexpected end of compressed data');
    this.room(len);
    this.out.set(this.input.subarray(this.pos, this.pos + len), this.written);
    this.written += len;
    this.pos += len;
  }

  dynamicCodes(): { lengths: Huffman; distances: Huffman } {
    const literals = this.bits(5) + 257;
    const distances = this.bits(5) + 1;
    const codeLengthCount = this.bits(4) + 4;
    if (literals > 286 || distances > 30) throw new Error('too many length or distance codes');
    const codeLengthLengths = new Uint8Array(19);
    for (let i = 0; i < codeLengthCount; i++) codeLengthLengths[CODE_LENGTH_ORDER[i]!] = this.bits(3);
    const codeLengths = huffman(codeLengthLengths);
    const lengths = new Uint8Array(literals + distances);
    for (let i = 0; i < lengths.length;) {
      const symbol = this.decode(codeLengths);
      if (symbol < 16) {
        lengths[i++] = symbol;
        continue;
      }
      let repeat: number;
      let value = 0;
      if (symbol === 16) {
        if (i === 0) throw new Error('repeated code length with no previous length');
        value = lengths[i - 1]!;
        repeat = 3 + this.bits(2);
      } else repeat = symbol === 17 ? 3 + this.bits(3) : 11 + this.bits(7);
      if (i + repeat > lengths.length) throw new Error('code lengths run past their count');
      lengths.fill(value, i, i + repeat);
      i += repeat;
    }
    if (lengths[256] === 0) throw new Error('no end-of-block code');
    return { lengths: huffman(lengths.subarray(0, literals)), distances: huffman(lengths.subarray(literals)) };
  }

  block(codes: { lengths: Huffman; distances: Huffman }): void {
    for (;;) {
      const symbol = this.decode(codes.lengths);
      if (symbol < 256) {
        this.room(1);
        this.out[this.written++] = symbol;
        continue;
      }
      if (symbol === 256) return;
      const l = symbol - 257;
      if (l >= 29) throw new Error('invalid length code');
      const length = LENGTH_BASE[l]! + this.bits(LENGTH_EXTRA[l]!);
      const d = this.decode(codes.distances);
      if (d >= 30) throw new Error('invalid distance code');
      const distance = DISTANCE_BASE[d]! + this.bits(DISTANCE_EXTRA[d]!);
      if (distance > this.written) throw new Error('distance reaches before the start of the data');
      this.room(length);
      const out = this.out;
      // byte by byte: a copy may overlap its own output (distance < length repeats a pattern)
      for (let i = 0, from = this.written - distance; i < length; i++) out[this.written++] = out[from + i]!;
    }
  }
}

/**
 * Decompresses raw DEFLATE data. `expectedSize` (when known, e.g. from a zip directory) sizes the output buffer;
 * throws an Error on damaged data.
 */
export function inflateRaw(input: Uint8Array, expectedSize = input.byteLength * 4): Uint8Array {
  const z = new Inflater(input, expectedSize);
  for (let last = 0; !last;) {
    last = z.bits(1);
    const type = z.bits(2);
    if (type === 0) z.stored();
    else if (type === 1) z.block(fixed());
    else if (type === 2) z.block(z.dynamicCodes());
    else throw new Error('invalid block type');
  }
  return z.out.subarray(0, z.written);
}

let crcTable: Int32Array | undefined;

/** CRC-32 (as zip and PNG use it), unsigned. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  let crc = -1;
  for (let i = 0; i < bytes.byteLength; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}
