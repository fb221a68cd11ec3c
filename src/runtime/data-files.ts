// Inputs and labelled datasets from files: numpy .npz (arrays named after model inputs) or JSON (nested arrays).
import { readFileSync } from 'node:fs';
import { OnnxOptError } from '../errors.js';
import { readNpz } from '../io/npz.js';
import { DataType, dataTypeName } from '../tensor/dtype.js';
import { allocate, castTo, type Feeds, type HostTensor } from './host-tensor.js';
import type { InputSpec } from './inputs.js';

/** A labelled dataset: every input and the labels share the first dim, the sample count. */
export interface Dataset {
  inputs: Feeds;
  labels: HostTensor;
  count: number;
}

const isJson = (path: string) => path.toLowerCase().endsWith('.json');

/**
 * Model inputs from a file: a .npz/.npy holds one sample (arrays named after inputs); a .json holds one sample
 * `{ "input_ids": [[...]], ... }` or a list of them. Names must match `specs`, and every input must be given.
 */
export function readInputsFile(path: string, specs: InputSpec[]): Feeds[] {
  let samples: Feeds[];
  if (isJson(path)) {
    const parsed = readJson(path);
    const list = Array.isArray(parsed) ? parsed : [parsed];
    if (list.length === 0) throw new OnnxOptError('holds an empty list: no samples', path);
    samples = list.map((entry, i) => {
      const what = list.length > 1 ? `sample ${i}` : 'the inputs';
      if (!isPlainObject(entry))
        throw new OnnxOptError(`${what} must be an object of input name -> nested arrays`, path);
      return feedsFromJson(entry, specs, path);
    });
  } else {
    samples = [Object.fromEntries(readNpz(path))];
  }
  for (const feeds of samples) checkNames(Object.keys(feeds), specs, path, 'array');
  return samples.map((feeds) =>
    Object.fromEntries(
      Object.entries(feeds).map(([name, t]) => {
        const spec = specs.find((s) => s.name === name)!;
        return [name, castTo(t, spec.dataType, `${path}: input '${name}'`)];
      }),
    ),
  );
}

/**
 * A labelled dataset: a .npz with one array per model input plus the labels array (`labelsKey`), or JSON
 * `{ "inputs": { name: nested arrays }, "labels": nested array }`.
 */
export function readDataset(path: string, specs: InputSpec[], labelsKey = 'labels'): Dataset {
  let inputs: Feeds;
  let labels: HostTensor | undefined;
  if (isJson(path)) {
    const parsed = readJson(path);
    if (!isPlainObject(parsed) || !isPlainObject(parsed.inputs) || parsed.labels === undefined) {
      throw new OnnxOptError('a JSON dataset is { "inputs": { name: nested arrays }, "labels": [...] }', path);
    }
    inputs = feedsFromJson(parsed.inputs, specs, path);
    labels = tensorFromNested(parsed.labels, DataType.DOUBLE, `${path}: labels`);
  } else {
    const arrays = readNpz(path);
    labels = arrays.get(labelsKey);
    if (!labels)
      throw new OnnxOptError(`has no labels array '${labelsKey}' (arrays: ${[...arrays.keys()].join(', ')})`, path);
    arrays.delete(labelsKey);
    inputs = Object.fromEntries(arrays);
  }
  checkNames(Object.keys(inputs), specs, path, 'array');
  const count = labels.dims[0];
  if (count === undefined) throw new OnnxOptError('labels must have a sample axis (got a scalar)', path);
  for (const [name, t] of Object.entries(inputs)) {
    if (t.dims[0] !== count)
      throw new OnnxOptError(`input '${name}' has ${t.dims[0] ?? 'no'} samples, the labels ${count}`, path);
    const spec = specs.find((s) => s.name === name)!;
    inputs[name] = castTo(t, spec.dataType, `${path}: input '${name}'`);
  }
  return { inputs, labels, count };
}

function checkNames(given: string[], specs: InputSpec[], path: string, kind: string): void {
  const known = specs.map((s) => s.name);
  for (const name of given) {
    if (!known.includes(name))
      throw new OnnxOptError(`${kind} '${name}' is not a model input (inputs: ${known.join(', ')})`, path);
  }
  for (const name of known) {
    if (!given.includes(name)) throw new OnnxOptError(`no ${kind} for model input '${name}'`, path);
  }
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OnnxOptError(code === 'ENOENT' ? 'no such file' : `cannot be read (${code})`, path);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new OnnxOptError(`not valid JSON: ${(e as Error).message}`, path);
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function feedsFromJson(entry: Record<string, unknown>, specs: InputSpec[], path: string): Feeds {
  const feeds: Feeds = {};
  for (const [name, value] of Object.entries(entry)) {
    const spec = specs.find((s) => s.name === name);
    // Unknown names are reported by checkNames with the list of real inputs.
    feeds[name] = tensorFromNested(value, spec?.dataType ?? DataType.DOUBLE, `${path}: input '${name}'`);
  }
  return feeds;
}

/** A tensor from nested JSON arrays of numbers or booleans; they must be rectangular and fit the type. */
export function tensorFromNested(value: unknown, dataType: number, what: string): HostTensor {
  const dims: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0]) dims.push(v.length);
  const flat: number[] = [];
  const walk = (v: unknown, depth: number) => {
    if (depth === dims.length) {
      if (typeof v === 'number') flat.push(v);
      else if (typeof v === 'boolean') flat.push(v ? 1 : 0);
      else throw new OnnxOptError(`${what}: holds ${JSON.stringify(v)}, not a number`);
      return;
    }
    if (!Array.isArray(v) || v.length !== dims[depth])
      throw new OnnxOptError(`${what}: nested arrays are not rectangular`);
    for (const x of v) walk(x, depth + 1);
  };
  walk(value, 0);
  const integral = dataType !== DataType.FLOAT && dataType !== DataType.DOUBLE && dataType !== DataType.FLOAT16;
  if (integral && flat.some((x) => !Number.isInteger(x)))
    throw new OnnxOptError(`${what}: the model expects ${dataTypeName(dataType)}, got non-integers`);
  const asDouble: HostTensor = { dataType: DataType.DOUBLE, dims, data: Float64Array.from(flat) };
  if (dataType === DataType.DOUBLE) return asDouble;
  if (!integral) return castTo(asDouble, dataType, what);
  // Integers: through an int64 tensor, which converts to every other integer type.
  const ints = allocate(DataType.INT64, dims);
  flat.forEach((x, i) => ((ints.data as BigInt64Array)[i] = BigInt(x)));
  return castTo(ints, dataType, what);
}
