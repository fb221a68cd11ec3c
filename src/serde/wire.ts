// A table-driven protobuf codec: messages are read into plain objects keyed by field name and written back from
// them, following a schema of field tables (./onnx-schema.ts). No code is generated at run time, so it works under
// a Content Security Policy without 'unsafe-eval'.
//
// Values: int64/uint64 fields are numbers when exactly representable, else bigints; bytes are views on the input
// (no copy); fields the schema does not know (or of an unexpected wire type) are kept as raw bytes in `$unknown`
// and written back after the known fields, as protobuf's own serializers do.

/** Field types, numbered as in descriptor.proto's FieldDescriptorProto.Type; only those ONNX uses. */
export const enum FieldType {
  DOUBLE = 1,
  FLOAT = 2,
  INT64 = 3,
  UINT64 = 4,
  INT32 = 5,
  STRING = 9,
  MESSAGE = 11,
  BYTES = 12,
  ENUM = 14,
}

/** How a field repeats: once, repeated (one field per element), or repeated and packed into one field. */
export const enum Label {
  SINGLE = 0,
  REPEATED = 1,
  PACKED = 2,
}

/** One field: [number, name, type, label, message type name (MESSAGE fields only)]. */
export type FieldSpec = readonly [number: number, name: string, type: FieldType, label: Label, message?: string];

/** Message name -> its fields, in field-number order. */
export type Schema = Readonly<Record<string, readonly FieldSpec[]>>;

/** A decoded message. */
export interface Message {
  [field: string]: unknown;
  /** Whole fields (tag and value) the schema does not know, in the order read. */
  $unknown?: Uint8Array[];
}

/** Nesting deeper than this is refused (protobuf's own parsers stop at 100 too) instead of overflowing the stack. */
const MAX_DEPTH = 100;

const enum Wire {
  VARINT = 0,
  FIXED64 = 1,
  LENGTH = 2,
  START_GROUP = 3,
  END_GROUP = 4,
  FIXED32 = 5,
}

interface Field {
  readonly number: number;
  readonly name: string;
  readonly type: FieldType;
  readonly label: Label;
  readonly wire: Wire;
  /** Scalars of a repeated field may come packed (wire type LENGTH) whatever the schema says. */
  readonly packable: boolean;
  message?: CompiledMessage;
}

interface CompiledMessage {
  readonly name: string;
  readonly fields: readonly Field[];
  readonly byNumber: readonly (Field | undefined)[];
}

function wireOf(type: FieldType): Wire {
  switch (type) {
    case FieldType.DOUBLE:
      return Wire.FIXED64;
    case FieldType.FLOAT:
      return Wire.FIXED32;
    case FieldType.INT64:
    case FieldType.UINT64:
    case FieldType.INT32:
    case FieldType.ENUM:
      return Wire.VARINT;
    case FieldType.STRING:
    case FieldType.MESSAGE:
    case FieldType.BYTES:
      return Wire.LENGTH;
    default:
      throw new Error(`protobuf field type ${type as number} is not supported`);
  }
}

// Schemas are compiled once, when first used (nothing runs when the module is imported).
const compiled = new WeakMap<Schema, Map<string, CompiledMessage>>();

function compile(schema: Schema): Map<string, CompiledMessage> {
  let messages = compiled.get(schema);
  if (messages) return messages;
  messages = new Map();
  for (const [name, specs] of Object.entries(schema)) {
    const fields = specs.map(([number, fieldName, type, label]): Field => ({
      number,
      name: fieldName,
      type,
      label,
      wire: wireOf(type),
      packable: label !== Label.SINGLE && wireOf(type) !== Wire.LENGTH,
    }));
    const byNumber: (Field | undefined)[] = [];
    for (const f of fields) byNumber[f.number] = f;
    messages.set(name, { name, fields: [...fields].sort((a, b) => a.number - b.number), byNumber });
  }
  for (const [name, specs] of Object.entries(schema)) {
    const m = messages.get(name)!;
    for (const [number, , type, , messageName] of specs) {
      if (type !== FieldType.MESSAGE) continue;
      const target = messages.get(messageName ?? '');
      if (!target) throw new Error(`${name}.${number} refers to unknown message '${messageName}'`);
      m.byNumber[number]!.message = target;
    }
  }
  compiled.set(schema, messages);
  return messages;
}

function messageType(schema: Schema, name: string): CompiledMessage {
  const m = compile(schema).get(name);
  if (!m) throw new Error(`unknown message '${name}'`);
  return m;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

let textDecoder: { decode(bytes: Uint8Array): string } | undefined;

class Reader {
  pos = 0;
  readonly buf: Uint8Array;
  readonly view: DataView;
  // The last 64-bit varint, as two 32-bit halves.
  lo = 0;
  hi = 0;

  constructor(bytes: Uint8Array) {
    // A plain Uint8Array even when given a Node Buffer: views cut from a Buffer are Buffers, which cost more to make.
    this.buf = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(what: string): never {
    throw new Error(`${what} at byte ${this.pos}`);
  }

  /** A varint of up to 32 bits (tags, lengths). */
  uint32(): number {
    const buf = this.buf;
    let b = buf[this.pos++]!;
    if (b < 0x80) return b;
    let v = b & 0x7f;
    b = buf[this.pos++]!;
    v |= (b & 0x7f) << 7;
    if (b < 0x80) return v;
    b = buf[this.pos++]!;
    v |= (b & 0x7f) << 14;
    if (b < 0x80) return v;
    b = buf[this.pos++]!;
    v |= (b & 0x7f) << 21;
    if (b < 0x80) return v;
    b = buf[this.pos++]!;
    v = (v | ((b & 0x0f) << 28)) >>> 0;
    if (b < 0x80) return v;
    // Longer encodings (e.g. a negative int32 as a length) carry nothing below 2^32 more.
    for (let i = 0; i < 5; i++) if (buf[this.pos++]! < 0x80) return v;
    return this.fail('varint longer than 10 bytes');
  }

  /** A varint of up to 64 bits into lo/hi. */
  varint64(): void {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    let b = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      b = buf[this.pos++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.lo = lo >>> 0;
        this.hi = 0;
        return;
      }
    }
    b = buf[this.pos++]!;
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >> 4;
    if (b >= 0x80) {
      for (let shift = 3; ; shift += 7) {
        if (shift > 31) this.fail('varint longer than 10 bytes');
        b = buf[this.pos++]!;
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  int64(): number | bigint {
    const first = this.buf[this.pos]!;
    if (first < 0x80) {
      this.pos++;
      return first;
    }
    this.varint64();
    const hi = this.hi | 0;
    if (hi >= -0x200000 && hi < 0x200000) return hi * 0x100000000 + this.lo;
    return BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(this.lo));
  }

  uint64(): number | bigint {
    this.varint64();
    if (this.hi < 0x200000) return this.hi * 0x100000000 + this.lo;
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  /** Negative int32s take 10 bytes; their low 32 bits are the value. */
  int32(): number {
    return this.uint32() | 0;
  }

  /** The end of a length-delimited field starting here, checked against the enclosing end. */
  delimited(end: number): number {
    const len = this.uint32();
    const stop = this.pos + len;
    if (stop > end) this.fail(`field length ${len} runs past the end of its message`);
    return stop;
  }

  string(end: number): string {
    const stop = this.delimited(end);
    const buf = this.buf;
    const start = this.pos;
    this.pos = stop;
    // Below about a dozen ASCII bytes, building the string by hand is faster than a TextDecoder call.
    if (stop - start <= 12) {
      let s = '';
      for (let i = start; i < stop; i++) {
        const c = buf[i]!;
        if (c >= 0x80) return utf8(buf.subarray(start, stop));
        s += String.fromCharCode(c);
      }
      return s;
    }
    return utf8(buf.subarray(start, stop));
  }

  scalar(f: Field): unknown {
    switch (f.type) {
      case FieldType.INT64:
        return this.int64();
      case FieldType.UINT64:
        return this.uint64();
      case FieldType.INT32:
      case FieldType.ENUM:
        return this.int32();
      case FieldType.FLOAT: {
        const v = this.view.getFloat32(this.pos, true);
        this.pos += 4;
        return v;
      }
      case FieldType.DOUBLE: {
        const v = this.view.getFloat64(this.pos, true);
        this.pos += 8;
        return v;
      }
      default:
        return this.fail(`field ${f.name} is not a scalar`);
    }
  }

  /** Packed scalars up to `stop`, appended to the field's list (tensor data: one loop per type, no boxing switch). */
  packed(f: Field, msg: Message, stop: number): void {
    const list = ((msg[f.name] as unknown[] | undefined) ??= []);
    const view = this.view;
    let pos = this.pos;
    if (f.type === FieldType.FLOAT || f.type === FieldType.DOUBLE) {
      const width = f.type === FieldType.FLOAT ? 4 : 8;
      if ((stop - pos) % width !== 0) this.fail(`packed field ${f.name} ends inside a value`);
      if (width === 4) for (; pos < stop; pos += 4) list.push(view.getFloat32(pos, true));
      else for (; pos < stop; pos += 8) list.push(view.getFloat64(pos, true));
      this.pos = pos;
      return;
    }
    if (f.type === FieldType.INT32 || f.type === FieldType.ENUM) while (this.pos < stop) list.push(this.int32());
    else if (f.type === FieldType.INT64) while (this.pos < stop) list.push(this.int64());
    else while (this.pos < stop) list.push(this.uint64());
    if (this.pos !== stop) this.fail(`packed field ${f.name} ends inside a value`);
  }

  /** Skips one field's value of the given wire type (groups included). */
  skip(wire: number, end: number, depth: number): void {
    switch (wire) {
      case Wire.VARINT:
        this.varint64();
        break;
      case Wire.FIXED64:
        this.pos += 8;
        break;
      case Wire.LENGTH:
        this.pos = this.delimited(end);
        break;
      case Wire.FIXED32:
        this.pos += 4;
        break;
      case Wire.START_GROUP: {
        if (depth >= MAX_DEPTH) this.fail(`messages nested deeper than ${MAX_DEPTH}`);
        for (;;) {
          if (this.pos >= end) this.fail('group without its end');
          const tag = this.uint32();
          if ((tag & 7) === Wire.END_GROUP) break;
          this.skip(tag & 7, end, depth + 1);
        }
        break;
      }
      default:
        this.fail(`invalid wire type ${wire}`);
    }
    if (this.pos > end) this.fail('truncated field');
  }

  message(type: CompiledMessage, end: number, depth: number): Message {
    if (depth > MAX_DEPTH) this.fail(`messages nested deeper than ${MAX_DEPTH}`);
    const msg: Message = {};
    while (this.pos < end) {
      const start = this.pos;
      const tag = this.uint32();
      const wire = tag & 7;
      const f = type.byNumber[tag >>> 3];
      if (tag >>> 3 === 0) this.fail('field number 0');
      if (f === undefined || (wire !== f.wire && !(f.packable && wire === Wire.LENGTH))) {
        this.skip(wire, end, depth);
        (msg.$unknown ??= []).push(this.buf.subarray(start, this.pos));
        continue;
      }
      let value: unknown;
      if (f.type === FieldType.MESSAGE) {
        const stop = this.delimited(end);
        value = this.message(f.message!, stop, depth + 1);
      } else if (f.type === FieldType.STRING) value = this.string(end);
      else if (f.type === FieldType.BYTES) {
        const stop = this.delimited(end);
        value = this.buf.subarray(this.pos, stop);
        this.pos = stop;
      } else if (wire === Wire.LENGTH) {
        this.packed(f, msg, this.delimited(end));
        continue;
      } else value = this.scalar(f);
      if (this.pos > end) this.fail('truncated field');
      if (f.label === Label.SINGLE) msg[f.name] = value;
      else ((msg[f.name] as unknown[] | undefined) ??= []).push(value);
    }
    if (this.pos !== end) this.fail('truncated message');
    return msg;
  }
}

function utf8(bytes: Uint8Array): string {
  textDecoder ??= new TextDecoder();
  return textDecoder.decode(bytes);
}

/** Decodes one message of `typeName`. Throws an Error naming the byte offset when the bytes are not that message. */
export function decodeMessage(schema: Schema, typeName: string, bytes: Uint8Array): Message {
  const r = new Reader(bytes);
  return r.message(messageType(schema, typeName), bytes.byteLength, 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

/**
 * The writer measures everything first, then writes into one buffer of exactly the right size. Lengths of nested
 * messages, packed fields and strings are recorded while measuring, in the order the writer meets them again.
 */
class Sizer {
  readonly lengths: number[] = [];
  /** Bytes of reference values, which the caller supplies: not part of the buffer. */
  deferred = 0;

  message(type: CompiledMessage, msg: Message, refLength: (ref: object) => number, depth: number): number {
    if (depth > MAX_DEPTH) throw new Error(`messages nested deeper than ${MAX_DEPTH}`);
    let n = 0;
    for (const f of type.fields) {
      const v = msg[f.name];
      if (v === undefined || v === null) continue;
      const tagSize = varintSize(f.number << 3);
      if (f.label === Label.SINGLE) n += tagSize + this.value(f, v, refLength, depth);
      else if (f.label === Label.PACKED) {
        const list = v as unknown[];
        if (list.length === 0) continue;
        let body = 0;
        for (const x of list) body += this.value(f, x, refLength, depth);
        this.lengths.push(body);
        n += tagSize + varintSize(body) + body;
      } else for (const x of v as unknown[]) n += tagSize + this.value(f, x, refLength, depth);
    }
    for (const u of msg.$unknown ?? []) n += u.byteLength;
    return n;
  }

  /** The size of one value, with its length prefix where it has one (but without its tag). */
  value(f: Field, v: unknown, refLength: (ref: object) => number, depth: number): number {
    switch (f.type) {
      case FieldType.FLOAT:
        return 4;
      case FieldType.DOUBLE:
        return 8;
      case FieldType.INT32:
      case FieldType.ENUM:
        return (v as number) < 0 ? 10 : varintSize(v as number);
      case FieldType.INT64:
      case FieldType.UINT64:
        return varint64Size(v as number | bigint);
      case FieldType.STRING: {
        const len = utf8Length(v as string);
        this.lengths.push(len);
        return varintSize(len) + len;
      }
      case FieldType.BYTES: {
        if (v instanceof Uint8Array) return varintSize(v.byteLength) + v.byteLength;
        const len = refLength(v as object);
        this.deferred += len;
        return varintSize(len) + len;
      }
      case FieldType.MESSAGE: {
        const at = this.lengths.push(0) - 1;
        const len = this.message(f.message!, v as Message, refLength, depth + 1);
        this.lengths[at] = len;
        return varintSize(len) + len;
      }
    }
  }
}

class Writer<R extends object> {
  pos = 0;
  private next = 0;
  private segmentStart = 0;
  readonly chunks: (Uint8Array | R)[] = [];
  readonly view: DataView;

  constructor(
    readonly buf: Uint8Array,
    private readonly lengths: number[],
    private readonly refLength: (ref: R) => number,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  uint32(v: number): void {
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  /** A 64-bit varint from two's complement halves. */
  varint64(lo: number, hi: number): void {
    while (hi !== 0) {
      this.buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.uint32(lo);
  }

  int64(v: number | bigint): void {
    const [lo, hi] = halves(v);
    this.varint64(lo, hi);
  }

  message(type: CompiledMessage, msg: Message): void {
    for (const f of type.fields) {
      const v = msg[f.name];
      if (v === undefined || v === null) continue;
      if (f.label === Label.SINGLE) {
        this.uint32((f.number << 3) | f.wire);
        this.value(f, v);
      } else if (f.label === Label.PACKED) {
        if ((v as unknown[]).length === 0) continue;
        this.uint32((f.number << 3) | Wire.LENGTH);
        this.uint32(this.lengths[this.next++]!);
        for (const x of v as unknown[]) this.value(f, x);
      } else {
        for (const x of v as unknown[]) {
          this.uint32((f.number << 3) | f.wire);
          this.value(f, x);
        }
      }
    }
    for (const u of msg.$unknown ?? []) {
      this.buf.set(u, this.pos);
      this.pos += u.byteLength;
    }
  }

  value(f: Field, v: unknown): void {
    switch (f.type) {
      case FieldType.FLOAT:
        this.view.setFloat32(this.pos, v as number, true);
        this.pos += 4;
        break;
      case FieldType.DOUBLE:
        this.view.setFloat64(this.pos, v as number, true);
        this.pos += 8;
        break;
      case FieldType.INT32:
      case FieldType.ENUM:
        if ((v as number) < 0) this.varint64((v as number) >>> 0, 0xffffffff);
        else this.uint32(v as number);
        break;
      case FieldType.INT64:
      case FieldType.UINT64:
        this.int64(v as number | bigint);
        break;
      case FieldType.STRING:
        this.uint32(this.lengths[this.next++]!);
        this.pos = writeUtf8(v as string, this.buf, this.pos);
        break;
      case FieldType.BYTES:
        if (v instanceof Uint8Array) {
          this.uint32(v.byteLength);
          this.buf.set(v, this.pos);
          this.pos += v.byteLength;
        } else {
          this.uint32(this.refLength(v as R));
          this.chunks.push(this.buf.subarray(this.segmentStart, this.pos), v as R);
          this.segmentStart = this.pos;
        }
        break;
      case FieldType.MESSAGE:
        this.uint32(this.lengths[this.next++]!);
        this.message(f.message!, v as Message);
        break;
    }
  }

  finish(): (Uint8Array | R)[] {
    if (this.segmentStart < this.pos || this.chunks.length === 0)
      this.chunks.push(this.buf.subarray(this.segmentStart, this.pos));
    return this.chunks;
  }
}

/**
 * Encodes a message. A BYTES field may hold, instead of a Uint8Array, a reference object whose bytes the caller
 * supplies later (e.g. streamed from a file): the result is then a list of byte chunks and those references, in
 * order, whose concatenation is the message; `refLength` gives each reference's byte length.
 */
export function encodeMessageChunks<R extends object>(
  schema: Schema,
  typeName: string,
  msg: Message,
  refLength: (ref: R) => number,
): (Uint8Array | R)[] {
  const type = messageType(schema, typeName);
  const sizer = new Sizer();
  const total = sizer.message(type, msg, refLength as (ref: object) => number, 0);
  const w = new Writer<R>(new Uint8Array(total - sizer.deferred), sizer.lengths, refLength);
  w.message(type, msg);
  if (w.pos !== w.buf.byteLength) throw new Error(`encoded ${w.pos} bytes, measured ${w.buf.byteLength}`);
  return w.finish();
}

/** Encodes a message whose BYTES fields are all Uint8Arrays into one buffer. */
export function encodeMessage(schema: Schema, typeName: string, msg: Message): Uint8Array {
  const chunks = encodeMessageChunks(schema, typeName, msg, () => {
    throw new Error('encodeMessage needs bytes in memory');
  });
  return chunks[0] as Uint8Array;
}

function varintSize(v: number): number {
  return v < 0x80
    ? 1
    : v < 0x4000
      ? 2
      : v < 0x200000
        ? 3
        : v < 0x10000000
          ? 4
          : v < 2 ** 35
            ? 5
            : v < 2 ** 42
              ? 6
              : v < 2 ** 49
                ? 7
                : v < 2 ** 56
                  ? 8
                  : 9;
}

function varint64Size(v: number | bigint): number {
  if (typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER) return varintSize(v);
  const [lo, hi] = halves(v);
  if (hi === 0) return varintSize(lo);
  return Math.ceil((64 - Math.clz32(hi)) / 7);
}

/** The low and high 32 bits of a 64-bit integer (two's complement for negative values). */
function halves(v: number | bigint): [number, number] {
  if (typeof v === 'bigint') return [Number(BigInt.asUintN(32, v)), Number(BigInt.asUintN(32, v >> 32n))];
  if (!Number.isInteger(v)) throw new Error(`${v} is not an integer`);
  // Integral numbers past 2^53 (e.g. Number(INT64_MAX), which rounds to 2^63) saturate to the int64 range.
  if (!Number.isSafeInteger(v))
    return halves(v > 0 ? (v >= 2 ** 63 ? 2n ** 63n - 1n : BigInt(v)) : v <= -(2 ** 63) ? -(2n ** 63n) : BigInt(v));
  const a = Math.abs(v);
  let lo = a >>> 0;
  let hi = Math.floor(a / 0x100000000) >>> 0;
  if (v < 0) {
    lo = (~lo + 1) >>> 0;
    hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
  }
  return [lo, hi];
}

function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 4 bytes for 2 UTF-16 units
      i++;
    } else n += 2;
  }
  return n;
}

function writeUtf8(s: string, buf: Uint8Array, pos: number): number {
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) buf[pos++] = c;
    else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6);
      buf[pos++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
      buf[pos++] = 0xf0 | (c >> 18);
      buf[pos++] = 0x80 | ((c >> 12) & 0x3f);
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
      buf[pos++] = 0x80 | (c & 0x3f);
    } else {
      // lone surrogates become U+FFFD, as TextEncoder writes them
      if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
      buf[pos++] = 0xe0 | (c >> 12);
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
      buf[pos++] = 0x80 | (c & 0x3f);
    }
  }
  return pos;
}
