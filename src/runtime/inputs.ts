// Synthetic model inputs from the model's declared input types: symbolic dims bound to chosen sizes, values that
// make sense for each input's role (token ids within the vocabulary, masks of ones, ...), all seeded.
import { OnnxOptError } from '../errors.js';
import type { Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { elemTypeOf, shapeOf } from '../ir/types.js';
import { DataType, dataTypeName } from '../tensor/dtype.js';
import { numberToFloat16Bits } from '../tensor/float16.js';
import { seededRandom } from '../tensor/random.js';
import { allocate, castTo, elementCount, isSupportedType, type Feeds, type HostTensor } from './host-tensor.js';

/** What an input's values mean, guessed from its name and type. */
export type InputRole = 'token-ids' | 'attention-mask' | 'token-type-ids' | 'position-ids' | 'values';

export interface InputSpec {
  name: string;
  dataType: number;
  /** Declared dims: a size, a symbol, or undefined for an unnamed dynamic dim. */
  dims: (number | string | undefined)[];
  role: InputRole;
  /** Exclusive bound for integer inputs that index an embedding table (its row count), where one was found. */
  idLimit?: number;
}

export interface GenerateOptions {
  /** Size of batch-like dims (default 1). */
  batch?: number;
  /** Size of sequence-like dims (default 32). */
  sequence?: number;
  /** Sizes for named symbolic dims; these win over the batch/sequence guesses. */
  dims?: Record<string, number>;
  /** Base seed (default 0); each sample and input gets its own stream. */
  seed?: number;
  /** Pad the end of attention-mask rows after the first with zeros (a random length up to half the row). */
  pad?: boolean;
}

/** Integer inputs without an embedding table to bound them get ids below this. */
export const DEFAULT_ID_LIMIT = 100;
export const DEFAULT_SEQUENCE = 32;

/** The graph inputs a caller must feed (initializer-backed inputs are skipped), with their roles and id bounds. */
export function describeInputs(model: Model): InputSpec[] {
  return model.graph.inputs
    .filter((v) => !v.initializer)
    .map((v) => {
      const dataType = elemTypeOf(v.type);
      const dims = shapeOf(v.type);
      if (dataType === undefined || dims === undefined) {
        throw new OnnxOptError(
          `input '${v.name}' has no declared tensor type and shape: give inputs in a file instead`,
        );
      }
      if (!isSupportedType(dataType))
        throw new OnnxOptError(`input '${v.name}' is ${dataTypeName(dataType)}, which cannot be generated`);
      const spec: InputSpec = { name: v.name, dataType, dims, role: roleOf(v.name, dataType) };
      const limit = embeddingRows(v);
      if (limit !== undefined) spec.idLimit = limit;
      return spec;
    });
}

/**
 * The inputs of several models run on the same data: every name once (first declaration wins), with the
 * tightest id bound any model imposes.
 */
export function mergeInputSpecs(...lists: InputSpec[][]): InputSpec[] {
  const byName = new Map<string, InputSpec>();
  for (const spec of lists.flat()) {
    const seen = byName.get(spec.name);
    if (!seen) byName.set(spec.name, { ...spec });
    else if (spec.idLimit !== undefined) seen.idLimit = Math.min(seen.idLimit ?? Infinity, spec.idLimit);
  }
  return [...byName.values()];
}

/** Casts feeds to the types a model declares (e.g. a float16-input model fed float32 data). */
export function adaptFeeds(feeds: Feeds, specs: InputSpec[]): Feeds {
  const out: Feeds = { ...feeds };
  for (const spec of specs) {
    const t = feeds[spec.name];
    if (t) out[spec.name] = castTo(t, spec.dataType, `input '${spec.name}'`);
  }
  return out;
}

function roleOf(name: string, dataType: number): InputRole {
  const n = name.toLowerCase();
  if (n.includes('mask')) return 'attention-mask';
  const integral =
    dataType !== DataType.FLOAT &&
    dataType !== DataType.DOUBLE &&
    dataType !== DataType.FLOAT16 &&
    dataType !== DataType.BOOL;
  if (!integral) return 'values';
  if (n.includes('token_type') || n.includes('segment')) return 'token-type-ids';
  if (n.includes('position')) return 'position-ids';
  return 'token-ids';
}

/** Ops that carry ids through unchanged in value (input 0 to output 0). */
const ID_CARRIERS = new Set(['Cast', 'Unsqueeze', 'Squeeze', 'Reshape', 'Flatten', 'Identity']);
/** com.microsoft::EmbedLayerNormalization: which id input reads which table input. */
const EMBED_TABLES: Record<number, number> = { 0: 2, 1: 3, 8: 4 };

/** The row count of the embedding tables an input indexes (the smallest, if several), following simple carriers. */
function embeddingRows(input: Value): number | undefined {
  let best: number | undefined;
  const consider = (rows: number | undefined) => {
    if (rows !== undefined && rows > 0) best = Math.min(best ?? rows, rows);
  };
  const visit = (v: Value, depth: number) => {
    for (const { node, index } of v.uses) {
      if (node.domain === '' && node.opType === 'Gather' && index === 1) {
        const dims = constantDims(node.inputs[0] ?? null);
        const axis = node.attrInt('axis', 0);
        if (dims) consider(dims[axis < 0 ? axis + dims.length : axis]);
      } else if (
        node.domain === 'com.microsoft' &&
        node.opType === 'EmbedLayerNormalization' &&
        index in EMBED_TABLES
      ) {
        consider(constantDims(node.inputs[EMBED_TABLES[index]!] ?? null)?.[0]);
      } else if (node.domain === '' && ID_CARRIERS.has(node.opType) && index === 0 && depth < 4 && node.outputs[0]) {
        visit(node.outputs[0], depth + 1);
      }
    }
  };
  visit(input, 0);
  return best;
}

/** Dims of a constant table, also behind a DequantizeLinear or Cast (quantized or fp16 embeddings). */
function constantDims(v: Value | null): readonly number[] | undefined {
  if (!v) return undefined;
  const t = v.constantTensor();
  if (t) return t.dims;
  const p = v.producer;
  if (p && (p.opType === 'DequantizeLinear' || p.opType === 'Cast') && p.inputs[0])
    return p.inputs[0].constantTensor()?.dims;
  return undefined;
}

const BATCH_NAMES = /^(n|b|bs|batch|batch_?size|batches|num_batch(es)?)$/;
const SEQUENCE_NAMES = /^(l|len|length|seq|seqlen|seq_?len(gth)?|sequence|sequence_?length|num_tokens|tokens)$/;

/**
 * Concrete dims for every input. A symbol keeps one size across all inputs. A symbol is bound by `dims`, else by
 * its name (batch-like / sequence-like; a model with a KV cache gets one decoding step: one new token after a past of
 * one sequence, the mask covering both, which is how generation runs it and what fused GroupQueryAttention takes at
 * any batch size), else by position: axis 0 is the batch;
 * axis 1 and the last axis of ids and masks are the sequence; anything else is 1 (give image sizes and such with
 * `dims`).
 */
export function resolveShapes(specs: InputSpec[], options: GenerateOptions = {}): Map<string, number[]> {
  const batch = options.batch ?? 1;
  const sequence = options.sequence ?? DEFAULT_SEQUENCE;
  const bound = new Map<string, number>(Object.entries(options.dims ?? {}));
  const cached = specs.some((spec) => spec.dims.some((d) => typeof d === 'string' && /past/i.test(d)));
  const step = cached ? 1 : sequence;
  const shapes = new Map<string, number[]>();
  for (const spec of specs) {
    const rank = spec.dims.length;
    shapes.set(
      spec.name,
      spec.dims.map((d, axis) => {
        if (typeof d === 'number') return d;
        if (d !== undefined && bound.has(d)) return bound.get(d)!;
        const n = d?.toLowerCase().replace(/[^a-z0-9]+/g, '_') ?? '';
        let size: number;
        if (cached && n.includes('past')) size = sequence;
        else if (cached && n.includes('total')) size = sequence + step;
        else if (BATCH_NAMES.test(n) || n.includes('batch')) size = batch;
        else if (SEQUENCE_NAMES.test(n) || n.includes('seq')) size = step;
        else if (axis === 0) size = batch;
        else if (spec.role !== 'values' && (axis === 1 || axis === rank - 1)) size = step;
        else size = 1;
        if (d !== undefined) bound.set(d, size);
        return size;
      }),
    );
  }
  return shapes;
}

/** One sample of inputs for `specs`. Different `sample` numbers give different values of the same shapes. */
export function generateInputs(specs: InputSpec[], options: GenerateOptions = {}, sample = 0): Feeds {
  const shapes = resolveShapes(specs, options);
  const feeds: Feeds = {};
  for (const spec of specs) {
    const random = seededRandom(hashSeed(options.seed ?? 0, sample, spec.name));
    feeds[spec.name] = fillInput(spec, shapes.get(spec.name)!, random, options.pad ?? false);
  }
  return feeds;
}

function fillInput(spec: InputSpec, dims: number[], random: () => number, pad: boolean): HostTensor {
  const count = elementCount(dims);
  const last = dims.length ? dims[dims.length - 1]! : 1;
  const rows = dims.length ? dims[0]! : 1;
  const limit = spec.idLimit ?? DEFAULT_ID_LIMIT;
  const values = new Float64Array(count);
  switch (spec.role) {
    case 'token-ids':
      for (let i = 0; i < count; i++) values[i] = Math.floor(random() * limit);
      break;
    case 'token-type-ids':
      // Two segments: the first half of each row 0, the rest 1 (or all 0 when the table has one row).
      for (let i = 0; i < count; i++) values[i] = Math.min(i % last < Math.ceil(last / 2) ? 0 : 1, limit - 1);
      break;
    case 'position-ids':
      for (let i = 0; i < count; i++) values[i] = (i % last) % limit;
      break;
    case 'attention-mask': {
      values.fill(1);
      if (!pad || last < 2 || count === 0) break;
      const perRow = count / rows;
      for (let r = 1; r < rows; r++) {
        const padding = 1 + Math.floor(random() * Math.floor(last / 2));
        for (let i = r * perRow; i < (r + 1) * perRow; i++) if (i % last >= last - padding) values[i] = 0;
      }
      break;
    }
    case 'values':
      if (spec.dataType === DataType.BOOL) for (let i = 0; i < count; i++) values[i] = random() < 0.5 ? 0 : 1;
      else if (spec.dataType === DataType.UINT8) for (let i = 0; i < count; i++) values[i] = Math.floor(random() * 256);
      else for (let i = 0; i < count; i++) values[i] = normal(random);
      break;
  }
  return fromNumbers(spec.dataType, dims, values);
}

function fromNumbers(dataType: number, dims: number[], values: Float64Array): HostTensor {
  if (dataType === DataType.DOUBLE) return { dataType, dims, data: values };
  const out = allocate(dataType, dims);
  const data = out.data;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) values.forEach((v, i) => (data[i] = BigInt(v)));
  else if (dataType === DataType.FLOAT16) values.forEach((v, i) => (data[i] = numberToFloat16Bits(v)));
  else (data as Exclude<typeof data, BigInt64Array | BigUint64Array>).set(values);
  return out;
}

function normal(random: () => number): number {
  const u = 1 - random(); // (0, 1], so the log is finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** One 32-bit seed from a base seed, a sample number and an input name (FNV-1a over all three). */
function hashSeed(seed: number, sample: number, name: string): number {
  let h = 0x811c9dc5;
  const mix = (x: number) => {
    h ^= x & 0xff;
    h = Math.imul(h, 0x01000193);
  };
  for (const n of [seed, sample]) for (let s = 0; s < 32; s += 8) mix(n >>> s);
  for (let i = 0; i < name.length; i++) mix(name.charCodeAt(i));
  return h >>> 0;
}
