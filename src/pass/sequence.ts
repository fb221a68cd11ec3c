// sequence(name, ...): a pass made of passes run in order. Its options are its own and its steps'; its stats and
// notes are its reported steps' (notes prefixed with the step's name); with `disable: true` it takes --disable with
// the names of its reported steps. Everything is derived from the step list, so a step cannot lose its stats.
import { OnnxOptError } from '../errors.js';
import { option, type ListOption, type OptionSpecs, type OptionValues } from './options.js';
import { definePass, leftShapesFresh, type Need, type Pass, type PassResult } from './pass.js';

/** A step: a pass, reported (stats, notes, --disable) unless marked `tidy`, skipped when `unless` is set. */
export interface Step<Own extends OptionSpecs = OptionSpecs> {
  pass: Pass;
  /** Housekeeping (cleanup, folding): run, but neither reported nor disabled. */
  tidy?: boolean;
  /** A boolean option of the sequence that skips this step when set. */
  unless?: keyof Own & string;
  /** Run only when an earlier step changed the model (a model `quantize` leaves alone comes back unchanged). */
  onlyAfterChange?: boolean;
}

/** Housekeeping step: runs, is not reported and cannot be disabled. */
export const tidy = (pass: Pass): Step => ({ pass, tidy: true });

type StepOptions<T> = T extends Pass<infer S> ? S : T extends { pass: Pass<infer S> } ? S : never;
type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;
type Merged<Own extends OptionSpecs, Steps extends readonly unknown[], D extends boolean> = Own &
  UnionToIntersection<StepOptions<Steps[number]>> &
  (D extends true ? { disable: ListOption } : Record<never, never>);

export interface SequenceSpec<Own extends OptionSpecs, Steps extends readonly (Pass | Step<Own>)[], D extends boolean> {
  description: string;
  steps: Steps;
  /** Options of the sequence itself (a step's `unless` names one of these). */
  options?: Own;
  /** Take `--disable <steps>`: names of reported steps to skip. */
  disable?: D;
  needs?: readonly Need[];
  leaves?: readonly Need[];
  lossy?: boolean;
}

/**
 * The name --disable takes for a step: its pass name, or that name without the sequence's own name as a prefix
 * (`fuse-attention` in `fuse` is `attention` too).
 */
function disableNames(sequence: string, pass: Pass): string[] {
  const short = pass.name.startsWith(`${sequence}-`) ? pass.name.slice(sequence.length + 1) : undefined;
  return short ? [short, pass.name] : [pass.name];
}

export function sequence<
  const Steps extends readonly (Pass | Step<Own>)[],
  Own extends OptionSpecs = Record<never, never>,
  D extends boolean = false,
>(name: string, spec: SequenceSpec<Own, Steps, D>): Pass<Merged<Own, Steps, D>> {
  const steps: Step<Own>[] = spec.steps.map((s) => ('run' in s ? { pass: s } : s));
  const reported = steps.filter((s) => !s.tidy);
  const options: Record<string, OptionSpecs[string]> = { ...spec.options };
  for (const { pass } of steps) {
    for (const [key, declared] of Object.entries(pass.options)) {
      if (options[key] && options[key]!.type !== declared.type) {
        throw new OnnxOptError(`${name}: option '${key}' is declared as ${options[key]!.type} and as ${declared.type}`);
      }
      options[key] ??= declared;
    }
  }
  if (spec.disable) {
    options.disable = option.list(`steps to skip, comma-separated (without '${name}-' or with it)`, {
      choices: reported.flatMap((s) => disableNames(name, s.pass)),
    });
  }
  return definePass<Merged<Own, Steps, D>>({
    name,
    description: spec.description,
    options: options as Merged<Own, Steps, D>,
    needs: spec.needs,
    leaves: spec.leaves,
    lossy: spec.lossy ?? steps.some((s) => s.pass.lossy),
    steps: reported.map((s) => s.pass),
    run(model, context) {
      const own = context.options as OptionValues<OptionSpecs> & { disable?: string[] };
      const disabled = new Set(own.disable ?? []);
      const stats: Record<string, number> = {};
      const notes: string[] = [];
      let record: Record<string, unknown> | undefined;
      let changed = false;
      // shapes inferred last and nothing changed since: the next step's need for them is met
      let shapesFresh = context.shapesFresh;
      for (const step of steps) {
        if (step.unless && own[step.unless] === true) continue;
        if (step.onlyAfterChange && !changed) continue;
        if (!step.tidy && disableNames(name, step.pass).some((n) => disabled.has(n))) continue;
        const result: PassResult = step.pass.run(model, { options: context.given, log: context.log, shapesFresh });
        shapesFresh = leftShapesFresh(model, result);
        changed ||= result.changed;
        if (step.tidy) continue;
        for (const [k, v] of Object.entries(result.stats)) stats[k] = (stats[k] ?? 0) + v;
        notes.push(...(result.notes ?? []).map((n) => `${step.pass.name}: ${n}`));
        if (result.record) record = { ...record, ...result.record };
      }
      return { changed, stats, notes, ...(record ? { record } : {}) };
    },
  });
}
