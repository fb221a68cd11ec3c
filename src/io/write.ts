import { closeSync, existsSync, openSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { OnnxOptError } from '../errors.js';
import type { Model } from '../ir/model.js';
import { Scratch, type ExternalLocation, type Tensor } from '../ir/tensor.js';
import { encodeModelChunks } from '../serde/encode.js';
import { filesReadFor } from './read.js';

export interface WriteOptions {
  /**
   * 'auto' (default): tensors go to a sidecar file when the model was read with external data or would pass
   * protobuf's 2 GB limit; 'always' / 'never' force it.
   */
  externalData?: 'auto' | 'always' | 'never';
  /** Tensors smaller than this stay inline even in external mode (default 1024 bytes). */
  externalThreshold?: number;
  /**
   * Largest external data file: tensors that would pass it go on to `X.onnx_data_1`, `X.onnx_data_2`, ... (the
   * chunks transformers.js loads; a tensor is never split, so one larger than this has a chunk of its own). Default:
   * no limit, one `X.onnx_data`.
   */
  externalChunkBytes?: number;
  /** Files that must not be written, besides those the model was read from (the CLI passes its input). */
  keep?: readonly string[];
}

const PROTOBUF_LIMIT = 2 ** 31 - 1;
/** Headroom for everything that is not initializer bytes. */
const INLINE_LIMIT = PROTOBUF_LIMIT - 64 * 1024 * 1024;
const ALIGN = 4096;
const COPY_BLOCK = 16 * 1024 * 1024;

/**
 * The sidecar file name for an output path: the output's whole file name plus `_data` (model.onnx -> model.onnx_data,
 * m.ONNX -> m.ONNX_data, m -> m_data), so two different output names never share a sidecar.
 */
export function sidecarName(outPath: string): string {
  return `${basename(outPath)}_data`;
}

/** The file name of external data chunk `index` (0, 1, ...): X.onnx_data, X.onnx_data_1, ... as transformers.js names them. */
export function chunkName(outPath: string, index: number): string {
  return index === 0 ? sidecarName(outPath) : `${sidecarName(outPath)}_${index}`;
}

/** The external data files that exist for an output path: X.onnx_data, then X.onnx_data_1, ... as long as they follow. */
export function existingChunks(outPath: string): string[] {
  const found: string[] = [];
  while (existsSync(join(dirname(outPath), chunkName(outPath, found.length))))
    found.push(join(dirname(outPath), chunkName(outPath, found.length)));
  return found;
}

/**
 * Writes a model atomically: temp files in the target folder, moved into place only when everything was written,
 * model and sidecar together (an earlier sidecar is put back if the model cannot be moved into place). Large tensors
 * are streamed, so memory stays near one copy of the weights. No file the model was read from (see filesReadFor)
 * nor any path in `options.keep` is ever written: such an output is refused before anything is written.
 */
export function writeModel(model: Model, path: string, options: WriteOptions = {}): void {
  for (const _ of writeSteps(model, path, options));
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** How long a write runs between looks at the event loop, where an interrupt shows up. */
const SIGNAL_LATENCY_MS = 20;

/**
 * writeModel for a process that may be interrupted: SIGINT, SIGTERM or SIGHUP during the write removes every temp
 * file, leaves existing files as they were, then ends the process by that signal (or, when the process has other
 * handlers for it, throws). Used by the CLI.
 */
export async function writeModelInterruptible(model: Model, path: string, options: WriteOptions = {}): Promise<void> {
  let caught: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    caught ??= signal;
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  try {
    const steps = writeSteps(model, path, options);
    let lastLook = performance.now();
    for (let step = steps.next(); !step.done;) {
      if (performance.now() - lastLook > SIGNAL_LATENCY_MS) {
        await new Promise(setImmediate);
        lastLook = performance.now();
      }
      step = caught
        ? steps.throw(new OnnxOptError(`interrupted by ${caught}; nothing was written`, path))
        : steps.next();
    }
  } catch (e) {
    if (!caught) throw e;
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
  }
  if (!caught) return;
  if (process.listenerCount(caught) > 0) throw new OnnxOptError(`interrupted by ${caught}; nothing was written`, path);
  process.kill(process.pid, caught);
  // The default action ends the process as soon as the signal is delivered; until then nothing more may run.
  await new Promise(() => {});
}

/** The write, in steps: each yield is a point where it may stop (and clean up) without leaving anything behind. */
function* writeSteps(model: Model, path: string, options: WriteOptions): Generator<void, void, undefined> {
  const initializers = model.graph.initializers.map((v) => v.initializer!);
  const threshold = options.externalThreshold ?? 1024;
  const mode = options.externalData ?? 'auto';
  const external =
    mode === 'always' ||
    (mode === 'auto' &&
      (initializers.some((t) => t.externalSource) ||
        initializers.reduce((n, t) => n + t.byteLength, 0) > INLINE_LIMIT));

  const chunkBytes = options.externalChunkBytes ?? Infinity;
  if (!(chunkBytes > 0)) throw new OnnxOptError(`external chunk size must be positive, not ${chunkBytes}`, path);

  const dir = dirname(path);
  const keep = [...filesReadFor(model), ...(options.keep ?? [])];
  checkTarget(path, path, keep);
  const tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const chunkFile = (index: number): ChunkFile => {
    const name = chunkName(path, index);
    const target = join(dir, name);
    checkTarget(target, path, keep);
    return { name, tmp: join(dir, `.${name}.${tag}.tmp`), path: target, backup: join(dir, `.${name}.${tag}.old`) };
  };
  if (external) chunkFile(0);

  const tmpModel = join(dir, `.${basename(path)}.${tag}.tmp`);
  const chunks: ChunkFile[] = [];
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
      let fd: number | undefined;
      try {
        let offset = 0;
        for (const t of initializers) {
          if (t.strings || t.byteLength < threshold || places.has(t)) continue;
          let padded = Math.ceil(offset / ALIGN) * ALIGN;
          if (fd === undefined || (offset > 0 && padded + t.byteLength > chunkBytes)) {
            if (fd !== undefined) closeSync(fd);
            fd = undefined;
            chunks.push(chunkFile(chunks.length));
            fd = open(chunks.at(-1)!.tmp);
            offset = padded = 0;
          }
          if (padded > offset) writeAll(fd, new Uint8Array(padded - offset));
          places.set(t, { location: chunks.at(-1)!.name, offset: padded, length: t.byteLength, extra: [] });
          yield* tensors.write(fd, t);
          offset = padded + t.byteLength;
        }
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
      // no tensor large enough to go out: an empty sidecar still says the model is stored with external data
      if (!chunks.length) {
        chunks.push(chunkFile(0));
        closeSync(open(chunks[0]!.tmp));
      }
    }
    const pieces = encodeModelChunks(model, (t) => places.get(t) ?? 'inline');
    const size = pieces.reduce((n, c) => n + (c instanceof Uint8Array ? c.byteLength : c.tensor.byteLength), 0);
    if (size > PROTOBUF_LIMIT) {
      throw new OnnxOptError(`model is ${size} bytes, over protobuf's 2 GB limit: write it with external data`, path);
    }
    const fd = open(tmpModel);
    try {
      for (const c of pieces) {
        if (c instanceof Uint8Array) writeAll(fd, c);
        else yield* tensors.write(fd, c.tensor);
        yield;
      }
    } finally {
      closeSync(fd);
    }
    // chunks an earlier, larger output left beyond the new ones go too, with the commit
    const stale = external
      ? existingChunks(path)
          .slice(chunks.length)
          .map((_, i) => chunkFile(chunks.length + i))
      : [];
    commit(tmpModel, path, chunks, stale);
  } catch (e) {
    if (e instanceof OnnxOptError) throw e.inFile(path);
    throw new OnnxOptError(`cannot write model: ${(e as Error).message}`, path, { cause: e });
  } finally {
    // Also when the write stops early (interrupted); after a commit the temp names are already gone.
    for (const p of created) rmSync(p, { force: true });
  }
}

/** Refuses a target that is a folder or any file in `keep` (compared as files: any spelling, case or link). */
function checkTarget(target: string, output: string, keep: readonly string[]): void {
  const st = statSync(target, { throwIfNoEntry: false });
  if (!st) return;
  if (st.isDirectory()) throw new OnnxOptError('is a folder, not a file the output can be written to', target);
  for (const file of keep) {
    const k = statSync(file, { throwIfNoEntry: false });
    if (k && k.dev === st.dev && k.ino === st.ino) {
      const what = target === output ? 'the output' : `its external data '${basename(target)}'`;
      throw new OnnxOptError(
        `${what} would overwrite '${file}', a file this run read: write the output elsewhere`,
        output,
      );
    }
  }
}

/** An external data file being written: its name (the TensorProtos' `location`), temp file, target, backup. */
interface ChunkFile {
  name: string;
  tmp: string;
  path: string;
  backup: string;
}

/**
 * Moves model and external data files into place together: earlier files of those names (and `stale` ones, chunks
 * of an earlier output that the new one does not have) are moved aside first and put back if anything cannot be moved
 * into place, so a failure leaves the old output as it was.
 */
function commit(tmpModel: string, path: string, chunks: readonly ChunkFile[], stale: readonly ChunkFile[]): void {
  if (!chunks.length) return renameSync(tmpModel, path);
  const asideFiles = [...chunks, ...stale].filter((c) => existsSync(c.path));
  const aside: ChunkFile[] = [];
  const placed: ChunkFile[] = [];
  try {
    for (const c of asideFiles) {
      renameSync(c.path, c.backup);
      aside.push(c);
    }
    for (const c of chunks) {
      renameSync(c.tmp, c.path);
      placed.push(c);
    }
    renameSync(tmpModel, path);
  } catch (e) {
    for (const c of placed) rmSync(c.path, { force: true });
    for (const c of aside) renameSync(c.backup, c.path);
    throw e;
  }
  for (const c of aside) rmSync(c.backup, { force: true });
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

  /** Yields after each block, where a write may be stopped. */
  *write(fd: number, t: Tensor): Generator<void, void, undefined> {
    const src = t.externalSource;
    if (!src) {
      writeAll(fd, t.peekBytes(this.onDemand));
      yield;
      return;
    }
    const { where, loader } = src;
    this.block ??= new Uint8Array(COPY_BLOCK);
    for (let at = 0; at < where.length; at += COPY_BLOCK) {
      const length = Math.min(COPY_BLOCK, where.length - at);
      writeAll(fd, loader({ ...where, offset: where.offset + at, length }, this.block));
      yield;
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
