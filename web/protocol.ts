// Messages between the page (app.ts) and its Web Worker (worker.ts).

/** Asks the worker for the passes it can run (the page itself does not load the optimizer). */
export interface DescribeRequest {
  kind: 'describe';
}

export interface OptimizeRequest {
  kind: 'optimize';
  /** The .onnx file's bytes (transferred). */
  bytes: ArrayBuffer;
  fileName: string;
  passes: string[];
  target: string;
  /** Timed runs per model for the latency chart (0: no measurement). */
  iterations: number;
  /** Sequence length of the generated inputs. */
  sequence: number;
}

export interface PassSummary {
  name: string;
  changed: boolean;
  stats: Record<string, number>;
  ms: number;
}

export interface Latency {
  /** Median and spread over the timed runs, milliseconds. */
  p50: number;
  p10: number;
  p90: number;
  samples: number[];
}

export type WorkerRequest = DescribeRequest | OptimizeRequest;

export type WorkerMessage =
  | { kind: 'passes'; passes: { name: string; description: string }[] }
  | { kind: 'progress'; label: string; done: number; total: number }
  | {
      kind: 'optimized';
      bytes: ArrayBuffer;
      passes: PassSummary[];
      before: Record<string, number>;
      after: Record<string, number>;
      sizeBefore: number;
      sizeAfter: number;
      warnings: string[];
    }
  | { kind: 'latency'; runtime: string; inputs: string; before: Latency; after: Latency }
  | { kind: 'error'; message: string };
