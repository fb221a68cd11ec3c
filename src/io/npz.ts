// .npy and .npz files (parsing is in src/serde/npz.ts, which runs in a browser too).
import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { OnnxOptError } from '../errors.js';
import { isNpy, parseNpy, parseNpz, type NpyArray } from '../serde/npz.js';

/** Reads a .npz file (or a single .npy file, returned under the key 'arr_0' as np.savez would name it). */
export function readNpz(path: string): Map<string, NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OnnxOptError(code === 'ENOENT' ? 'no such file' : `cannot be read (${code})`, path);
  }
  if (isNpy(bytes)) return new Map([['arr_0', parseNpy(bytes, path)]]);
  return parseNpz(bytes, path, (compressed) => inflateRawSync(compressed));
}
