// onnxruntime-node's profiler over repeated runs of one model, for the bench scripts that say where a run's time goes.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Feeds } from '../../src/runtime/host-tensor.js';
import { DataType } from '../../src/tensor/dtype.js';
import { OUT } from './common.js';

export interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}

export interface Profile {
  /** model_run durations in µs, the first two (warm-up) left out, sorted. */
  runs: number[];
  /** One event per kernel run, named `<node>_kernel_time`. */
  kernels: ProfileEvent[];
}

/** The bench's int64/float32 feeds as onnxruntime tensors. */
export function ortFeeds(feeds: Feeds): Record<string, ort.Tensor> {
  return Object.fromEntries(
    Object.entries(feeds).map(([name, t]) => [
      name,
      new ort.Tensor(t.dataType === DataType.INT64 ? 'int64' : 'float32', t.data as Float32Array, t.dims),
    ]),
  );
}

/** Runs the model `steps` times on 2 threads with onnxruntime's profiler on, and reads back what it recorded. */
export async function profileRuns(
  path: string,
  feeds: Record<string, ort.Tensor>,
  steps: number,
  prefix: string,
): Promise<Profile> {
  const session = await ort.InferenceSession.create(path, {
    intraOpNumThreads: 2,
    enableProfiling: true,
    profileFilePrefix: join(OUT, prefix),
  });
  for (let i = 0; i < steps; i++) await session.run(feeds);
  session.endProfiling(); // onnxruntime names the file <prefix>_<date>.json
  await session.release();
  const file = join(
    OUT,
    readdirSync(OUT).find((f) => f.startsWith(`${prefix}_`) && f.endsWith('.json'))!,
  );
  const events = JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[];
  rmSync(file, { force: true });
  return {
    runs: events
      .filter((e) => e.name === 'model_run')
      .map((e) => e.dur)
      .slice(2)
      .sort((a, b) => a - b),
    kernels: events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time')),
  };
}
