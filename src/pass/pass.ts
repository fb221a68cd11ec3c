// The pass model. A pass declares its name, its options and what it needs of the model (`needs: ['shapes']`);
// definePass turns that into a Pass that parses its options, meets its preconditions and then runs the body with
// typed settings. Passes compose with sequence() (sequence.ts).
import type { Model } from '../ir/model.js';
import { inferShapes } from '../shape/index.js';
import { parseOptions, type OptionInputs, type OptionSpecs, type OptionValues } from './options.js';

/**
 * What the caller gives every pass: option values keyed by option name (the CLI's flags camel-cased, or the
 * library's values), plus the pipeline-wide `fixedDims` and `explain`. A pass reads only the keys it declares.
 */
export interface PassOptions {
  /** Pins symbolic dims to sizes (e.g. { batch: 1, sequence: 128 }) for shape inference, folding and probes. */
  fixedDims?: Record<string, number>;
  /** Collect why near-misses failed, in the result's notes. */
  explain?: boolean;
  [option: string]: unknown;
}

export interface PassContext {
  options: PassOptions;
  /** Progress and explanations go here (the CLI prints them on stderr). */
  log: (message: string) => void;
  /**
   * Set by a sequence when the step before it left the model's shapes just inferred: shape inference would add
   * nothing, so `needs: ['shapes']` is met already. Callers outside the pass model leave it unset.
   */
  shapesFresh?: boolean;
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

/** What the body of a pass gets: its own options, parsed and typed, and the pipeline-wide settings. */
export interface RunContext<S extends OptionSpecs> {
  options: OptionValues<S>;
  fixedDims: Record<string, number>;
  explain: boolean;
  log: (message: string) => void;
  /** The options as given, for a pass that runs other passes. */
  given: PassOptions;
  /** The model's shapes were inferred right before the body and nothing changed it since (for a sequence's first step). */
  shapesFresh: boolean;
}

/**
 * What a pass needs of the model before it runs. The pass declares it; the pass model meets it, so no pass calls
 * shape inference itself. `shapes`: types and shapes of every value that inference can give (symbolic dims stay
 * symbolic in the model; --fix-dim pins them only inside the passes that read it). `{ shapesIf }`: the same, only
 * when the test says the pass would miss them (inference takes time, and it appends to value_info in the order it
 * meets values, so inferring needlessly would reorder an output).
 */
export type Need = 'shapes' | { shapesIf: (model: Model) => boolean };

/**
 * Meets a need; `fresh` says the shapes were just inferred and nothing changed the model since, when inferring
 * again would add nothing (inference is idempotent) and is skipped. Returns whether the shapes are fresh after.
 */
function meet(need: Need, model: Model, fresh: boolean): boolean {
  if (fresh) return true;
  if (need !== 'shapes' && !need.shapesIf(model)) return false;
  inferShapes(model);
  return true;
}

/**
 * The model and result of the last pass run that ended with its shapes fresh, for the sequence running it (held
 * weakly: a model the caller has let go of stays collectable).
 */
let lastFresh: { model: WeakRef<Model>; result: PassResult } | undefined;

/**
 * Whether the run that just returned `result` on `model` left the model's shapes fresh: inferred by its last need
 * or leave, or fresh before a body that changed nothing. Read right after the run returns (sequence.ts does).
 */
export function leftShapesFresh(model: Model, result: PassResult): boolean {
  return lastFresh?.model.deref() === model && lastFresh.result === result;
}

export interface Pass<S extends OptionSpecs = OptionSpecs> {
  readonly name: string;
  readonly description: string;
  /** Its options, the steps' included for a sequence: the CLI makes its flags from these. */
  readonly options: S;
  /** Met before the pass runs. */
  readonly needs: readonly Need[];
  /** Met again after it runs, so the output (and the next pass) has them. */
  readonly leaves: readonly Need[];
  /** The pass changes numbers on purpose (quantization, float16): verification compares by cosine, not closeness. */
  readonly lossy: boolean;
  /** A sequence's reported steps (not its housekeeping), in order; empty for a plain pass. */
  readonly steps: readonly Pass[];
  /** The same pass with some options set; they take precedence over what the caller gives. */
  with(values: OptionInputs<S>): Pass<S>;
  /** Its options parsed from what a caller gives (with the values set by `with`). */
  settings(given?: PassOptions): OptionValues<S>;
  /** Runs the pass on the model, in place. */
  run(model: Model, context: PassContext): PassResult;
}

export interface PassSpec<S extends OptionSpecs> {
  name: string;
  description: string;
  options?: S;
  needs?: readonly Need[];
  leaves?: readonly Need[];
  lossy?: boolean;
  steps?: readonly Pass[];
  /**
   * What the body does never gives shape inference anything new to say (it only removes nodes, or forwards a value
   * to an equal one): shapes fresh before it stay fresh, changed or not. Cleanup is so.
   */
  keepsShapes?: boolean;
  run(model: Model, context: RunContext<S>): PassResult;
}

export function definePass<S extends OptionSpecs = Record<never, never>>(
  spec: PassSpec<S>,
  bound: PassOptions = {},
): Pass<S> {
  const options = spec.options ?? ({} as S);
  const settings = (given: PassOptions = {}) => parseOptions(options, { ...given, ...bound });
  // values set with `with` are checked when they are set, not when the pass runs
  settings();
  return {
    name: spec.name,
    description: spec.description,
    options,
    needs: spec.needs ?? [],
    leaves: spec.leaves ?? [],
    lossy: spec.lossy ?? false,
    steps: spec.steps ?? [],
    with: (values) => definePass(spec, { ...bound, ...values }),
    settings,
    run(model, context) {
      const given = { ...context.options, ...bound };
      const parsed = settings(context.options);
      let fresh = context.shapesFresh === true;
      for (const need of spec.needs ?? []) fresh = meet(need, model, fresh);
      const result = spec.run(model, {
        options: parsed,
        fixedDims: given.fixedDims ?? {},
        explain: given.explain === true,
        log: context.log,
        given,
        shapesFresh: fresh,
      });
      // a body that changed nothing, or nothing inference could see, leaves fresh shapes fresh
      fresh &&= !result.changed || spec.keepsShapes === true;
      for (const need of spec.leaves ?? []) fresh = meet(need, model, fresh);
      lastFresh = fresh ? { model: new WeakRef(model), result } : undefined;
      return result;
    },
  };
}

export const noChange = (): PassResult => ({ changed: false, stats: {} });

/** Runs passes in order on a model (in place) and returns each one's result. */
export function runPasses(
  model: Model,
  passes: readonly Pass[],
  options: PassOptions = {},
  log: (message: string) => void = () => {},
): { pass: string; result: PassResult }[] {
  return passes.map((pass) => ({ pass: pass.name, result: pass.run(model, { options, log }) }));
}
