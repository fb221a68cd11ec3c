// onnxruntime quantize_static references (fixtures/static/*.ort-static.json, made by
// fixtures/export_static_references.py): their settings and how to read them.
import { readFileSync } from 'node:fs';

export const REFERENCE_MODELS = ['digits', 'bert-eager-ts14', 'gpt2-eager-ts14'];

/** Our options for each of the reference's settings. */
export const REFERENCE_SETTINGS: Record<string, Record<string, unknown>> = {
  'minmax-s8-asym': {},
  'minmax-s8-sym': { symmetricActivations: true },
  'minmax-u8-asym': { activationType: 'uint8' },
  'minmax-u8-sym': { activationType: 'uint8', weightType: 'uint8', symmetricActivations: true },
  'minmax-s8-asym-per-channel': { perChannel: true },
};

export interface QEntry {
  scale: number[];
  zero_point: number[];
}
export interface WEntry extends QEntry {
  input: string;
  sha256: string;
  axis: number | null;
}
export interface ReferenceSetting {
  error?: string;
  ranges?: Record<string, [number, number]>;
  quantized?: Record<string, QEntry>;
  weights?: Record<string, WEntry>;
  accuracy?: number;
}
export interface Reference {
  onnxruntime: string;
  fp32_accuracy?: number;
  settings: Record<string, ReferenceSetting>;
}

export const referencePath = (name: string) => `fixtures/static/${name}.ort-static.json`;
// the script writes non-finite numbers (JSON has none) as these strings
const NON_FINITE: Record<string, number> = { Infinity: Infinity, '-Infinity': -Infinity, NaN: NaN };
export const readReference = (name: string): Reference =>
  JSON.parse(readFileSync(referencePath(name), 'utf8'), (_key, value) =>
    typeof value === 'string' && value in NON_FINITE ? NON_FINITE[value] : value,
  );
