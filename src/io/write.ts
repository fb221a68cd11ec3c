import { closeSync, openSync, renameSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { OnnxOptError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { Scratch, type ExternalLocation, type Tensor } from '../ir/tensor.js';
import { encodeModelChunks } from '../serde/encode.js';

export interface WriteOptions {
  /**
   * 'auto' (default): tensors go to a sidecar file when the model was read with external data or would pass
   * protobuf's 2 GB limit; 'always' / 'never' force it.
   */
  externalData?: 'auto' | 'always' | 'never';
  /** Tensors smaller than this stay inline even in external mode (default 1024 bytes). */
  externalThreshold?: number;
}

const PROTOBUF_LIMIT = 2 ** 31 - 1;
/** Headroom for everything that is not initializer bytes. */
const INLINE_LIMIT = PROTOBUF_LIMIT - 64 * 1024 * 1024;
const ALIGN = 4096;
const COPY_BLOCK = 16 * 1024 * 1024;

/** The sidecar file name for an output path: model.onnx -> model.onnx_data. */
export function sidecarName(outPath: string): string {
  return `${basename(outPath).replace(/\.onnx$/i, '')}.onnx_data`;
}

/**
 * Writes a model atomically: temp files in the target folder, renamed into place only when everything was
 * written. Large tensors are streamed, so memory stays near one copy of the weights. Writing over the model's
 * own input works (its external data keeps being read from the already open old file).
 */
export function writeModel(model: Model, path: string, options: WriteOptions = {}): void {
  const initializers = model.graph.initializers.map((v) => v.initializer!);
  const threshold = options.externalThreshold ?? 1024;
  const mode = options.externalData ?? 'auto';
  const external =
    mode === 'always' ||
    (mode === 'auto' &&
      (initializers.some((t) => t.externalSource) || initializers.reduce((n, t) => n + t.byteLength, 0) > INLINE_LIMIT));

  const dir = dirname(path);
  const tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const tmpModel = join(dir, `.${basename(path)}.${tag}.tmp`);
  const sidecar = sidecarName(path);
  const tmpSidecar = join(dir, `.${sidecar}.${tag}.tmp`);
  const created: string[] = [];
  const open = (p: string) => {
    try {
      const fd = openSync(p, 'wx');
      created.push(p);
      return fd;
    } catch (e) {
      throw new OnnxOptError(`cannot write to folder '${dir}' (${(e as NodeJS.ErrnoException).code})`, path);
    }
  };

  try {
    const places = new Map<Tensor, ExternalLocation>();
    const tensors = new TensorWriter();
    if (external) {
      const fd = open(tmpSidecar);
      try {
        let offset = 0;
        for (const t of initializers) {
          if (t.strings || t.byteLength < threshold || places.has(t)) continue;
          const padded = Math.ceil(offset / ALIGN) * ALIGN;
          if (padded > offset) writeAll(fd, new Uint8Array(padded - offset));
          places.set(t, { location: sidecar, offset: padded, length: t.byteLength, extra: [] });
          tensors.write(fd, t);
          offset = padded + t.byteLength;
        }
      } finally {
        closeSync(fd);
      }
    }
    const chunks = encodeModelChunks(model, (t) => places.get(t) ?? 'inline');
    const size = chunks.reduce((n, c) => n + (c instanceof Uint8Array ? c.byteLength : c.tensor.byteLength), 0);
    if (size > PROTOBUF_LIMIT) {
      throw new OnnxOptError(`model is ${size} bytes, over protobuf's 2 GB limit: write it with external data`, path);
    }
    const fd = open(tmpModel);
    try {
      for (const c of chunks) {
        if (c instanceof Uint8Array) writeAll(fd, c);
        else tensors.write(fd, c.tensor);
      }
    } finally {
      closeSync(fd);
    }
    if (external) renameSync(tmpSidecar, join(dir, sidecar));
    renameSync(tmpModel, path);
  } catch (e) {
    for (const p of created) {
      try {
        unlinkSync(p);
      } catch {
        // already renamed into place or gone
      }
    }
    if (e instanceof OnnxOptError) throw e.inFile(path);
    throw new OnnxOptError(`cannot write model: ${(e as Error).message}`, path, { cause: e });
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done);
}


/**
 * Writes tensors' raw bytes through buffers reused from one tensor to the next (fresh memory for each would cost more
 * in page faults than the copying): external bytes are copied in blocks instead of being loaded whole, and tensors
 * computed on demand (packed weights, say) are made in a scratch buffer.
 */
class TensorWriter {
  private block: Uint8Array | undefined;
  private readonly onDemand = new Scratch();

  write(fd: number, t: Tensor): void {
    const src = t.externalSource;
    if (!src) return writeAll(fd, t.peekBytes(this.onDemand));
    const { where, loader } = src;
    this.block ??= new Uint8Array(COPY_BLOCK);
    for (let at = 0; at < where.length; at += COPY_BLOCK) {
      const length = Math.min(COPY_BLOCK, where.length - at);
      writeAll(fd, loader({ ...where, offset: where.offset + at, length }, this.block));
    }
  }
}

/** Writes a small text file atomically (temp file in the same folder, then rename). */
export function writeTextAtomic(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new OnnxOptError(`cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, path);
  }
}
