// What the parity, gate and bench commands share: reading option values strictly, and laying out numbers.
import { Option } from 'commander';
import { OnnxOptError } from '../errors.js';

/** A number option; bad text is a usage error naming the flag. */
export function numberOption(
  flag: string,
  text: string | undefined,
  rules: { integer?: boolean; min?: number; max?: number } = {},
): number | undefined {
  if (text === undefined) return undefined;
  const value = text.trim() === '' ? NaN : Number(text);
  const kind = rules.integer ? 'an integer' : 'a number';
  if (!Number.isFinite(value) || (rules.integer && !Number.isInteger(value))) {
    throw new OnnxOptError(`${flag} must be ${kind}, not '${text}'`);
  }
  if (rules.min !== undefined && value < rules.min)
    throw new OnnxOptError(`${flag} must be at least ${rules.min}, not ${text}`);
  if (rules.max !== undefined && value > rules.max)
    throw new OnnxOptError(`${flag} must be at most ${rules.max}, not ${text}`);
  return value;
}

/** A comma-separated list of positive integers, e.g. `--batch 1,8,32`. */
export function integerListOption(flag: string, text: string): number[] {
  return text.split(',').map((part) => numberOption(flag, part, { integer: true, min: 1 })!);
}

/** Commander's reducer for a repeatable option: `--dim a=1 --dim b=2` gives ['a=1', 'b=2']. */
/** --runtime: which onnxruntime runs the models (parity and bench). */
export function runtimeOption(): Option {
  return new Option(
    '--runtime <name>',
    "node: onnxruntime-node; web: onnxruntime-web's WASM backend, as a web page runs it",
  )
    .choices(['node', 'web'])
    .default('node');
}

export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `name=size` pairs for symbolic dims, repeated or comma-separated, e.g. `--dim batch=4,sequence=128`. */
export function dimsOption(flag: string, specs: string[] | undefined): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const s of (specs ?? []).flatMap((spec) => spec.split(','))) {
    const m = /^([^=]+)=(\d+)$/.exec(s);
    if (!m) throw new OnnxOptError(`${flag} takes name=size, not '${s}'`);
    dims[m[1]!] = Number(m[2]);
  }
  return dims;
}

/**
 * Rows whose `numeric` columns are padded on the left to the column's width (header included), so a plain-text
 * table that pads cells on the right still lines the numbers up on the right.
 */
export function alignNumbers(header: string[], rows: string[][], numeric: number[]): string[][] {
  const widths = numeric.map((col) => Math.max(header[col]!.length, ...rows.map((r) => r[col]!.length)));
  return rows.map((r) =>
    r.map((cell, col) => {
      const k = numeric.indexOf(col);
      return k < 0 ? cell : cell.padStart(widths[k]!);
    }),
  );
}

/** Short scientific notation for differences: 0, or 1.23e-5. */
export const sci = (x: number): string => (x === 0 ? '0' : Number.isFinite(x) ? x.toExponential(2) : String(x));

/** Refuses dim names that no input has (a typo would otherwise be ignored and the default size used). */
export function checkDimNames(
  flag: string,
  dims: Record<string, number>,
  specs: readonly { dims: readonly (number | string | undefined)[] }[],
): void {
  const known = new Set(specs.flatMap((s) => s.dims.filter((d): d is string => typeof d === 'string')));
  for (const name of Object.keys(dims)) {
    if (!known.has(name)) {
      throw new OnnxOptError(
        `${flag} '${name}': no input has a dim of that name (dims: ${[...known].sort().join(', ') || 'none symbolic'})`,
      );
    }
  }
}
