import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { OnnxOptError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { decodeModel } from '../serde/decode.js';
import { ExternalFiles } from './external.js';

/**
 * Reads a model file. raw_data stays a view on the file's buffer; external data (relative to the model's folder)
 * is checked now and read when a tensor is first used. Every failure is an OnnxOptError naming the file.
 */
export interface ReadOptions {
  /** Check now that every external range exists (default true); off for tools that create the data. */
  checkExternal?: boolean;
}

const filesRead = new WeakMap<Model, readonly string[]>();

/** The files a model was read from: the model file and every external data file it names (none for bytes). */
export function filesReadFor(model: Model): readonly string[] {
  return filesRead.get(model) ?? [];
}

export function readModel(path: string, options: ReadOptions = {}): Model {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a folder, not a model file'
          : `cannot be read (${code})`;
    throw new OnnxOptError(why, path);
  }
  return readModelBytes(bytes, path, options);
}

/** Decodes model bytes; `path` names the file in errors and anchors external data (omit it for in-memory models). */
export function readModelBytes(bytes: Uint8Array, path?: string, options: ReadOptions = {}): Model {
  const files = path ? new ExternalFiles(dirname(resolve(path)), path) : undefined;
  const label = path ?? '<bytes>';
  try {
    const model = decodeModel(bytes, { externalLoader: files?.load });
    if (files) {
      const read = new Set([resolve(path!)]);
      for (const g of model.graph.allGraphs()) {
        for (const v of g.initializers) {
          const src = v.initializer!.externalSource;
          if (!src) continue;
          read.add(files.pathOf(src.where.location));
          if (options.checkExternal !== false) files.check(src.where);
        }
      }
      filesRead.set(model, [...read]);
    }
    return model;
  } catch (e) {
    if (e instanceof OnnxOptError) {
      const message = oneLine(e.message);
      throw message === e.message ? e.inFile(label) : new OnnxOptError(message, e.file ?? label, { cause: e });
    }
    // Anything else (e.g. a RangeError from malformed bytes) is still one clear line about the file.
    throw new OnnxOptError(`not a valid ONNX model: ${oneLine((e as Error).message)}`, label, { cause: e });
  }
}

/** Messages quote names taken from the file; escaping control characters keeps each message on one line. */
function oneLine(message: string): string {
  return message.replace(
    /[\u0000-\u001f\u007f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
