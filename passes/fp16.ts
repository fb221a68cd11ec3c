// float32 -> float16: weights, constants, typed attributes, value types and subgraph bodies, with float32 kept at the
// graph boundary (by default), for blocked ops and nodes, and for shape computations. See passes/fp16/ for the parts.
// --mixed measures the error through onnxruntime, which a pass cannot call (passes stay browser-safe and
// synchronous): src/runtime/mixed-precision.ts runs this pass repeatedly with a growing --block-nodes list.

import { OnnxOptError } from '../src/errors.js';
import type { Node } from '../src/ir/graph.js';
import type { Model } from '../src/ir/model.js';
import { MS_DOMAIN } from '../src/ir/ops.js';
import { definePass, option, type OptionValues, type PassResult } from '../src/pass/index.js';
import { foldCastChains } from './fp16/cast-chains.js';
import { DEFAULT_BLOCKED_OPS, isBlockedByDefault, opKey } from './fp16/policy.js';
import { rewriteToFloat16 } from './fp16/rewrite.js';
import { HALF_LIMITS } from './fp16/tensors.js';

export const DEFAULT_MIXED_TOLERANCE = 0.01;

const OPTIONS = {
  keepIoTypes: option.boolean(
    'keep float32 graph inputs and outputs, with one Cast at each boundary (--no-keep-io-types: make them float16)',
    {
      default: true,
    },
  ),
  blockOps: option.list('more ops to keep in float32 (Op or domain::Op), comma-separated, on top of the default list'),
  blockNodes: option.list('node names to keep in float32, comma-separated'),
  mixed: option.boolean(
    'keep in float32 the nodes whose float16 error, measured in onnxruntime, exceeds --mixed-tolerance',
  ),
  mixedTolerance: option.number('largest error allowed per value, relative to its float32 magnitude', {
    default: DEFAULT_MIXED_TOLERANCE,
    above: 0,
  }),
  maxFinite: option.number('clamp finite constants to ± this before rounding (transformers.js: 1e4)', {
    default: 65504,
    above: 0,
  }),
  minPositive: option.number('raise nonzero constants smaller in magnitude to ± this (transformers.js: 1e-7)', {
    default: 2 ** -24,
    above: 0,
  }),
  mixedInputs: option.string(
    'sample inputs for --mixed (.npz or .json keyed by input name; the first sample); default: generated',
  ),
};

/** The settings of the fp16 pass, checked. */
export type Fp16Options = OptionValues<typeof OPTIONS>;

/**
 * A GroupQueryAttention whose past key/value are graph inputs: with float32 I/O kept, a float16 one would read them
 * through Casts, and onnxruntime 1.30 then reuses the Cast's (empty, on the first step) buffer for the present
 * output and fails ("Shape mismatch attempting to re-use buffer"). Kept in float32, it reads the inputs directly.
 */
function readsFloat32Cache(n: Node): boolean {
  return (
    n.domain === MS_DOMAIN &&
    n.opType === 'GroupQueryAttention' &&
    [3, 4].some((i) => {
      const v = n.inputs[i];
      return !!v && !v.producer && !v.initializer;
    })
  );
}

/** Converts the model in place with the given settings (no --mixed); the measuring driver calls this too. */
export function convertToFloat16(model: Model, options: Fp16Options): PassResult {
  const blockedOps = new Set(options.blockOps);
  const blockedNames = new Set(options.blockNodes);
  const found = new Set<string>();
  for (const g of model.graph.allGraphs()) for (const n of g.nodes) if (blockedNames.has(n.name)) found.add(n.name);
  const missing = options.blockNodes.filter((n) => !found.has(n));
  if (missing.length)
    throw new OnnxOptError(`fp16: --block-nodes names no node called ${missing.map((n) => `'${n}'`).join(', ')}`);

  // Calls of the model's own functions stay float32: their bodies are float32 and typed that way.
  const functions = new Set(model.functions.map((f) => `${f.domain}::${f.name}`));
  const isBlocked = (n: Node) =>
    isBlockedByDefault(n) ||
    blockedOps.has(opKey(n)) ||
    blockedNames.has(n.name) ||
    functions.has(`${n.domain}::${n.opType}`) ||
    (options.keepIoTypes && readsFloat32Cache(n));
  if (options.maxFinite > HALF_LIMITS.maxFinite)
    throw new OnnxOptError(
      `fp16: --max-finite must be at most ${HALF_LIMITS.maxFinite}, the largest float16, not ${options.maxFinite}`,
    );
  if (options.minPositive >= options.maxFinite)
    throw new OnnxOptError(
      `fp16: --min-positive (${options.minPositive}) must be below --max-finite (${options.maxFinite})`,
    );
  const limits = { maxFinite: options.maxFinite, minPositive: options.minPositive };
  const stats = rewriteToFloat16(model, { keepIoTypes: options.keepIoTypes, isBlocked, limits });
  const castsRemoved = foldCastChains(model.graph);
  const changed = stats.values + stats.castsInserted + castsRemoved > 0;
  const notes: string[] = [];
  if (stats.untyped) notes.push(`${stats.untyped} values have no known element type and were left as they are`);
  if (stats.clamped) notes.push(`${stats.clamped} constant values beyond ±${limits.maxFinite} were clamped`);
  return {
    changed,
    stats: {
      float16Values: stats.values,
      initializers: stats.initializers,
      constants: stats.constants,
      clampedValues: stats.clamped,
      tinyValues: stats.tiny,
      castsInserted: stats.castsInserted,
      castsRemoved,
      float32Nodes: stats.float32Nodes,
    },
    notes,
  };
}

export const fp16Pass = definePass({
  name: 'fp16',
  lossy: true,
  description: `Convert float32 to float16, keeping float32 where float16 is unsafe (default block list: ${DEFAULT_BLOCKED_OPS.filter((o) => !o.includes('::')).join(', ')}, ai.onnx.ml and quantized contrib ops)`,
  options: OPTIONS,
  run(model, context): PassResult {
    if (context.options.mixed) {
      throw new OnnxOptError(
        'fp16 --mixed measures through onnxruntime: run it with runFp16Mixed from src/runtime/mixed-precision.ts (the CLI does)',
      );
    }
    return convertToFloat16(model, context.options);
  },
});
