import type { Model } from './ir/model.js';

/** Options every pass may read; each pass documents the ones it uses. */
export interface PassOptions {
  /** Pins symbolic dims to sizes (e.g. { batch: 1, sequence: 128 }) for shape inference and folding. */
  fixedDims?: Record<string, number>;
  /** Pass-specific settings, keyed by pass name. */
  [key: string]: unknown;
}

export interface PassContext {
  options: PassOptions;
  /** Progress and explanations go here (the CLI prints them on stderr). */
  log: (message: string) => void;
}

export interface PassResult {
  changed: boolean;
  /** Counts to report, e.g. { 'SkipLayerNormalization': 24 } or { removedNodes: 3 }. */
  stats: Record<string, number>;
  /** Why near-misses failed, per rule (filled when asked to explain). */
  notes?: string[];
  /** What the pass decided, for a record beside the output (`--save-config` writes `<stem>.<pass>_config.json`). */
  record?: Record<string, unknown>;
}

/**
 * A command-line option a pass reads from context.options, under the camel-cased long flag
 * (`--weight-type <t>` -> options.weightType; `--no-per-channel` -> options.perChannel === false).
 */
export interface PassOption {
  flags: string;
  description: string;
  defaultValue?: string | boolean | string[];
  /** Allowed values for an option that takes one. */
  choices?: string[];
}

/** A model-to-model transformation. It edits the model in place through IR methods. */
export interface Pass {
  name: string;
  description: string;
  options?: PassOption[];
  /** The pass changes numbers on purpose (quantization, float16): verification compares by cosine, not closeness. */
  lossy?: boolean;
  run(model: Model, context: PassContext): PassResult;
}

export const noChange = (): PassResult => ({ changed: false, stats: {} });

/** Runs passes in order on a model (in place) and returns each one's result. Unknown names throw OnnxOptError. */
export function runPasses(
  model: Model,
  passes: readonly Pass[],
  options: PassOptions = {},
  log: (message: string) => void = () => {},
): { pass: string; result: PassResult }[] {
  return passes.map((pass) => ({ pass: pass.name, result: pass.run(model, { options, log }) }));
}
