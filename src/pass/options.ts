// Pass options, declared once per pass: name, type, default, range or choices, description. The CLI builds its
// flags from the declarations (`minWeightSize` -> `--min-weight-size <n>`), the library passes typed values
// (`quantizePass.with({ minWeightSize: 64 })`), and both go through one parser, so the checks and their messages
// are the same everywhere.
import { OnnxOptError } from '../errors.js';

interface Declared<T> {
  type: string;
  description: string;
  default?: T;
}

export interface NumberOption extends Declared<number> {
  type: 'number' | 'int';
  min?: number;
  max?: number;
  /** The value must be larger than this (for sizes and tolerances that may not be 0). */
  above?: number;
}

export interface StringOption extends Declared<string> {
  type: 'string';
}

export interface EnumOption<C extends string = string> extends Declared<C> {
  type: 'enum';
  choices: readonly C[];
}

export interface BooleanOption extends Declared<boolean> {
  type: 'boolean';
}

/** A list: an array from the library, comma-separated text from the CLI. */
export interface ListOption<C extends string = string> extends Declared<readonly C[]> {
  type: 'list';
  choices?: readonly C[];
}

export type OptionSpec = NumberOption | StringOption | EnumOption | BooleanOption | ListOption;
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** The value a declaration gives: booleans default to false and lists to [], others are undefined unless defaulted. */
export type OptionValue<S> = S extends NumberOption
  ? number | (S extends { default: number } ? never : undefined)
  : S extends EnumOption<infer C>
    ? C | (S extends { default: string } ? never : undefined)
    : S extends StringOption
      ? string | (S extends { default: string } ? never : undefined)
      : S extends BooleanOption
        ? boolean
        : S extends ListOption<infer C>
          ? C[]
          : never;

export type OptionValues<S extends OptionSpecs> = { -readonly [K in keyof S]: OptionValue<S[K]> };

/** What the library may pass for a declaration (checked again at run time, like the CLI's text). */
export type OptionInput<S> = S extends NumberOption
  ? number
  : S extends EnumOption<infer C>
    ? C
    : S extends StringOption
      ? string
      : S extends BooleanOption
        ? boolean
        : S extends ListOption<infer C>
          ? readonly C[]
          : never;

export type OptionInputs<S extends OptionSpecs> = { [K in keyof S]?: OptionInput<S[K]> };

type Extra<S, T> = Omit<S, 'type' | 'description' | 'default'> & { default?: T };
type WithDefault<S, T, E> = E extends { default: T } ? S & { default: T } : S;

/** Declaration constructors: `option.int('leave weights with fewer elements float', { default: 0, min: 0 })`. */
export const option = {
  number<E extends Extra<NumberOption, number>>(description: string, extra?: E): WithDefault<NumberOption, number, E> {
    return { type: 'number', description, ...extra } as WithDefault<NumberOption, number, E>;
  },
  int<E extends Extra<NumberOption, number>>(description: string, extra?: E): WithDefault<NumberOption, number, E> {
    return { type: 'int', description, ...extra } as WithDefault<NumberOption, number, E>;
  },
  string<E extends Extra<StringOption, string>>(description: string, extra?: E): WithDefault<StringOption, string, E> {
    return { type: 'string', description, ...extra } as WithDefault<StringOption, string, E>;
  },
  enum<const C extends string, E extends { default?: NoInfer<C> } = object>(
    description: string,
    choices: readonly C[],
    extra?: E,
  ): WithDefault<EnumOption<C>, C, E> {
    return { type: 'enum', description, choices, ...extra } as WithDefault<EnumOption<C>, C, E>;
  },
  boolean(description: string, extra: { default?: boolean } = {}): BooleanOption {
    return { type: 'boolean', description, ...extra };
  },
  list<const C extends string = string>(
    description: string,
    extra: { default?: readonly NoInfer<C>[]; choices?: readonly C[] } = {},
  ): ListOption<C> {
    return { type: 'list', description, ...extra };
  },
};

/** `minWeightSize` -> `--min-weight-size`. */
export function flagOf(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function describeValue(raw: unknown): string {
  return typeof raw === 'string' ? `'${raw}'` : Array.isArray(raw) ? `[${raw.map(String).join(', ')}]` : String(raw);
}

/** One option's value from what the CLI or the library gave (undefined: not given), checked against its declaration. */
export function parseOption(key: string, spec: OptionSpec, raw: unknown): unknown {
  const flag = flagOf(key);
  if (raw === undefined) {
    if (spec.default !== undefined) return Array.isArray(spec.default) ? [...spec.default] : spec.default;
    return spec.type === 'boolean' ? false : spec.type === 'list' ? [] : undefined;
  }
  const fail = (what: string) => new OnnxOptError(`${flag} must be ${what}, not ${describeValue(raw)}`);
  switch (spec.type) {
    case 'boolean':
      if (typeof raw !== 'boolean') throw fail('true or false');
      return raw;
    case 'string':
      if (typeof raw !== 'string') throw fail('text');
      return raw;
    case 'enum':
      if (typeof raw !== 'string' || !spec.choices.includes(raw)) throw fail(`one of ${spec.choices.join(', ')}`);
      return raw;
    case 'number':
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      const what = spec.type === 'int' ? 'an integer' : 'a number';
      if (!Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) throw fail(what);
      if (spec.min !== undefined && n < spec.min) throw fail(`${what} of at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw fail(`${what} of at most ${spec.max}`);
      if (spec.above !== undefined && n <= spec.above) throw fail(`${what} above ${spec.above}`);
      return n;
    }
    case 'list': {
      const items = typeof raw === 'string' ? [raw] : raw;
      if (!Array.isArray(items) || !items.every((x) => typeof x === 'string')) throw fail('a list of names');
      const list = items
        .flatMap((x) => x.split(','))
        .map((x) => x.trim())
        .filter(Boolean);
      const unknown = spec.choices && list.find((x) => !spec.choices!.includes(x));
      if (unknown) throw new OnnxOptError(`${flag}: '${unknown}' is not one of ${spec.choices!.join(', ')}`);
      return list;
    }
  }
}

/** Every declared option's value, from a bag keyed by option name (other keys are other passes' business). */
export function parseOptions<S extends OptionSpecs>(specs: S, bag: Readonly<Record<string, unknown>>): OptionValues<S> {
  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) values[key] = parseOption(key, spec, bag[key]);
  return values as OptionValues<S>;
}

/** The help line of a declaration: its description, a list's choices and the default (commander shows an enum's). */
export function optionHelp(spec: OptionSpec): string {
  const choices = spec.type === 'list' && spec.choices ? ` (of ${spec.choices.join(', ')})` : '';
  const fallback =
    spec.default === undefined || spec.default === false
      ? ''
      : ` [default: ${Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default)}]`;
  return `${spec.description}${choices}${fallback}`;
}
