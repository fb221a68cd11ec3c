// `onnx-opt transformers-js DIR`: the model variants transformers.js loads by file name, made from every base model
// in DIR/onnx/ (transformers.js's removed scripts/quantize.py conventions; see README "transformers.js folders").
//   fp16 -> X_fp16.onnx        q8 -> X_quantized.onnx      int8 -> X_int8.onnx     uint8 -> X_uint8.onnx
//   q4   -> X_q4.onnx          q4f16 -> X_q4f16.onnx       bnb4 -> X_bnb4.onnx
// Each variant starts from the float model on disk and is written atomically (replacing an older one only when it
// is complete). config.json gets `transformers.js_config.use_external_data_format` for variants written with
// external data; quantize_config.json beside it records the settings.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { bnb4Pass } from '../passes/bnb4.js';
import { fp16Pass } from '../passes/fp16.js';
import { fusePass } from '../passes/fuse.js';
import { q4Pass } from '../passes/q4.js';
import { quantizePass } from '../passes/quantize.js';
import { OnnxOptError } from './errors.js';
import { readModel } from './io/read.js';
import { existingChunks, writeModel, writeTextAtomic } from './io/write.js';
import type { Model } from './ir/model.js';
import type { Pass } from './pipeline.js';

export const MODES = ['fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4'] as const;
export type Mode = (typeof MODES)[number];

/** The file suffix transformers.js maps each dtype to (src/utils/dtypes.js). */
export const SUFFIX: Record<Mode, string> = {
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
};
/** Suffixes of variants, never themselves base models (q2/q1 are newer transformers.js dtypes). */
const VARIANT_SUFFIXES = [...Object.values(SUFFIX), '_q2', '_q2f16', '_q1', '_q1f16'];

/** Model types quantized without per-channel scales or reduced range (transformers.js scripts/convert.py). */
const NO_PER_CHANNEL_REDUCE_RANGE_MODELS = new Set([
  'codegen',
  'gpt2',
  'gpt_bigcode',
  'gptj',
  'gpt-neo',
  'gpt-neox',
  'mpt',
  'bloom',
  'llama',
  'gemma',
  'opt',
  'mistral',
  'falcon',
  'phi',
  'phi3',
  'qwen2',
  'stablelm',
  'starcoder2',
  'openelm',
  'mobilellm',
  'olmo',
  'whisper',
  'vision-encoder-decoder',
  'owlv2',
  'wavlm',
  'wav2vec2',
  'unispeech',
  'unispeech-sat',
]);

/** Ops whose presence makes q8 use uint8 weights (onnxruntime-web has no ConvInteger for int8 weights). */
const UINT8_OPS = new Set(['Conv', 'GroupQueryAttention', 'MultiHeadAttention']);

/** onnxruntime's dynamic-quantization registry that transformers.js quantizes with (no Gemm), as our op names. */
const Q8_OPS = 'MatMul,Attention,Conv,EmbedLayerNormalization,Gather';

/** External data chunks under 2 GiB each: transformers.js fetches each chunk whole into one buffer. */
const CHUNK_BYTES = 2 ** 31 - 1;

export interface FolderOptions {
  modes?: readonly Mode[];
  /** Run `fuse` before each variant. */
  fuse?: boolean;
  blockSize?: number;
  symmetric?: boolean;
  accuracyLevel?: number;
  quantType?: 'nf4' | 'fp4';
  bnb4BlockSize?: number;
  /** Largest external data chunk (default just under 2 GiB, what transformers.js's loader fetches per file). */
  externalChunkBytes?: number;
  /**
   * Checks a variant against its float base model before it is written: the reason it breaks the model, or
   * undefined. A variant with a reason is not written (the CLI runs both in onnxruntime, as for lossy passes).
   */
  check?: (base: Model, variant: Model, file: string) => Promise<string | undefined>;
  /** Called as each variant of a base model (named by its file) is done. */
  progress?: (file: string, done: number, total: number) => void;
  log?: (message: string) => void;
}

export interface VariantRecord {
  base: string;
  mode: Mode;
  file: string;
  /** Why `check` refused the variant, which was then not written. */
  refused?: string;
  externalData: boolean;
  /** External data files (X.onnx_data, X.onnx_data_1, ...): 0 for a model stored inline. */
  externalChunks: number;
  stats: Record<string, number>;
}

/** The base models in DIR/onnx: every .onnx whose name does not end in a variant suffix. */
export function baseModels(onnxDir: string): string[] {
  return readdirSync(onnxDir)
    .filter((f) => f.endsWith('.onnx'))
    .map((f) => f.slice(0, -'.onnx'.length))
    .filter((stem) => !VARIANT_SUFFIXES.some((s) => stem.endsWith(s)))
    .sort();
}

function hasOp(model: Model, ops: ReadonlySet<string>): boolean {
  for (const g of model.graph.allGraphs()) if (g.nodes.some((n) => ops.has(n.opType))) return true;
  return false;
}

interface Step {
  pass: Pass;
  options: Record<string, unknown>;
}

function steps(mode: Mode, model: Model, perChannel: boolean, o: FolderOptions): Step[] {
  const q8 = (weightType: 'int8' | 'uint8'): Step => ({
    pass: quantizePass,
    options: { weightType, perChannel, reduceRange: perChannel, ops: Q8_OPS },
  });
  const q4: Step = {
    pass: q4Pass,
    options: {
      blockSize: o.blockSize ?? 32,
      symmetric: o.symmetric ?? true,
      ...(o.accuracyLevel ? { accuracyLevel: o.accuracyLevel } : {}),
    },
  };
  // transformers.js's float16.py clamps constants to ±1e4 and raises nonzero ones below 1e-7 (max_finite_val, min_positive_val)
  const fp16: Step = { pass: fp16Pass, options: { maxFinite: 1e4, minPositive: 1e-7 } };
  switch (mode) {
    case 'fp16':
      return [fp16];
    case 'q8':
      return [q8(hasOp(model, UINT8_OPS) ? 'uint8' : 'int8')];
    case 'int8':
      return [q8('int8')];
    case 'uint8':
      return [q8('uint8')];
    case 'q4':
      return [q4];
    case 'q4f16':
      return [q4, fp16];
    case 'bnb4':
      return [{ pass: bnb4Pass, options: { quantType: o.quantType ?? 'nf4', blockSize: o.bnb4BlockSize ?? 64 } }];
  }
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new OnnxOptError(`cannot read JSON (${(e as Error).message})`, path);
  }
}

/** Writes every requested variant of every base model in `dir`/onnx (those `check` refuses excepted). */
export async function makeTransformersJsFolder(dir: string, o: FolderOptions = {}): Promise<VariantRecord[]> {
  const onnxDir = join(dir, 'onnx');
  if (!existsSync(onnxDir))
    throw new OnnxOptError('no onnx/ folder (transformers.js loads models from <model>/onnx/)', dir);
  const bases = baseModels(onnxDir);
  if (!bases.length) throw new OnnxOptError('no base model (.onnx without a variant suffix) in onnx/', dir);
  const configPath = join(dir, 'config.json');
  const config = existsSync(configPath) ? readJson(configPath) : undefined;
  const modelType = typeof config?.model_type === 'string' ? config.model_type : undefined;
  const perChannel = !modelType || !NO_PER_CHANNEL_REDUCE_RANGE_MODELS.has(modelType);
  const modes = o.modes ?? MODES;
  const log = o.log ?? (() => {});
  const records: VariantRecord[] = [];
  for (const base of bases) {
    const input = join(onnxDir, `${base}.onnx`);
    for (const [i, mode] of modes.entries()) {
      const file = `${base}${SUFFIX[mode]}.onnx`;
      // every mode starts from the float model on disk: passes change models in place
      const model = readModel(input);
      const hadExternalData = model.graph.initializers.some((v) => v.initializer!.externalSource);
      if (o.fuse) fusePass.run(model, { options: {}, log });
      const stats: Record<string, number> = {};
      for (const step of steps(mode, model, perChannel, o)) {
        const result = step.pass.run(model, { options: step.options, log });
        for (const [k, v] of Object.entries(result.stats)) stats[`${step.pass.name}.${k}`] = v;
      }
      const refused = o.check && (await o.check(readModel(input), model, file));
      o.progress?.(`${base}.onnx`, i + 1, modes.length);
      if (refused) {
        records.push({ base, mode, file, refused, externalData: false, externalChunks: 0, stats });
        continue;
      }
      const output = join(onnxDir, file);
      // a base model stored with external data gets variants stored so too, as the CLI's pipeline does
      writeModel(model, output, {
        externalData: hadExternalData ? 'always' : 'auto',
        externalChunkBytes: o.externalChunkBytes ?? CHUNK_BYTES,
      });
      const externalData = readModel(output, { checkExternal: false }).graph.initializers.some(
        (v) => v.initializer!.externalSource,
      );
      // external data left by an older variant of this name would be stale beside an inline model
      if (!externalData) for (const chunk of existingChunks(output)) rmSync(chunk, { force: true });
      records.push({
        base,
        mode,
        file,
        externalData,
        externalChunks: externalData ? existingChunks(output).length : 0,
        stats,
      });
    }
  }
  const settings = {
    modes: [...modes],
    per_channel: perChannel,
    reduce_range: perChannel,
    block_size: o.blockSize ?? 32,
    is_symmetric: o.symmetric ?? true,
    accuracy_level: o.accuracyLevel ?? null,
    quant_type: (o.quantType ?? 'nf4') === 'nf4' ? 1 : 0,
    op_block_list: null,
    fuse: o.fuse ?? false,
    tool: 'onnx-opt',
  };
  writeTextAtomic(join(dir, 'quantize_config.json'), `${JSON.stringify(settings, null, 2)}\n`);
  const external = records.filter((r) => r.externalData);
  if (config && external.length) {
    const tjs = (config['transformers.js_config'] ?? {}) as Record<string, unknown>;
    const previous = tjs.use_external_data_format;
    // a single true/number applied to every file: keep it for the base models, which it described
    const map: Record<string, unknown> =
      typeof previous === 'object' && previous !== null
        ? { ...previous }
        : previous
          ? Object.fromEntries(bases.map((b) => [`${b}.onnx`, previous]))
          : {};
    // the loader cannot find chunks: it fetches as many as this says
    for (const r of external) map[r.file] = r.externalChunks;
    config['transformers.js_config'] = { ...tjs, use_external_data_format: map };
    writeTextAtomic(configPath, `${JSON.stringify(config, null, 2)}\n`);
  }
  return records;
}
