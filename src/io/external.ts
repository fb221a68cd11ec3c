import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { OnnxOptError } from '../errors.js';
import type { ExternalLocation } from '../ir/tensor.js';

/**
 * External data files of one model, opened on first use and kept open: a model written over its own input keeps
 * reading the old file's contents after the new one is renamed into place.
 */
export class ExternalFiles {
  private readonly open = new Map<string, { fd: number; size: number }>();

  constructor(
    private readonly dir: string,
    private readonly modelPath: string,
  ) {}

  /** Reads an external range (the IR calls this lazily), into `into` when given. */
  readonly load = (where: ExternalLocation, into?: Uint8Array): Uint8Array => {
    const { fd, size } = this.file(where.location);
    this.checkRange(where, size);
    if (into && into.byteLength < where.length)
      throw this.error(`a ${into.byteLength}-byte buffer cannot take ${where.length} bytes of '${where.location}'`);
    // allocUnsafe: every byte is overwritten below, and zero-filling hundreds of megabytes costs real time.
    const out = into ? into.subarray(0, where.length) : Buffer.allocUnsafe(where.length);
    let done = 0;
    while (done < where.length) {
      const n = readSync(fd, out, done, where.length - done, where.offset + done);
      if (n === 0) throw this.error(`external data file '${where.location}' ended early`);
      done += n;
    }
    return out;
  };

  /** Checks that a range exists, so a bad reference fails at read time rather than deep inside a pass. */
  check(where: ExternalLocation): void {
    this.checkRange(where, this.file(where.location).size);
  }

  close(): void {
    for (const { fd } of this.open.values()) closeSync(fd);
    this.open.clear();
  }

  /** The file an external data location names, inside the model's folder. */
  pathOf(location: string): string {
    const rel = normalize(location);
    if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) {
      throw this.error(`external data location '${location}' points outside the model's folder`);
    }
    return join(this.dir, rel);
  }

  private file(location: string): { fd: number; size: number } {
    let f = this.open.get(location);
    if (f) return f;
    const path = this.pathOf(location);
    try {
      const fd = openSync(path, 'r');
      f = { fd, size: fstatSync(fd).size };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw this.error(
        `external data file '${location}' ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`,
      );
    }
    this.open.set(location, f);
    return f;
  }

  private checkRange(where: ExternalLocation, size: number): void {
    if (where.offset + where.length > size) {
      throw this.error(
        `external data '${where.location}' is ${size} bytes, but a tensor needs bytes ${where.offset}..${where.offset + where.length}`,
      );
    }
  }

  private error(message: string): OnnxOptError {
    return new OnnxOptError(message, this.modelPath);
  }
}
