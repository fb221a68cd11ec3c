// fp16 --mixed: automatic mixed precision measured through onnxruntime. The fp16 pass itself stays synchronous and
// browser-safe, so this driver runs it in rounds: convert a copy of the model, run it on sample inputs with every
// float intermediate exposed as an output, compare each value with the float32 model's, keep in float32 the nodes
// where the error starts (and the consumers of values float16 cannot hold), and convert again, until no value
// is off by more than the tolerance. The model itself is converted once, at the end, with the final block list.

import { convertToFloat16, fp16Pass, type Fp16Options } from '../../passes/fp16.js';
import { inferElemTypes } from '../../passes/fp16/elem-types.js';
import type { Graph, Node, Value } from '../ir/graph.js';
import type { Model } from '../ir/model.js';
import { elemTypeOf } from '../ir/types.js';
import type { PassContext, PassResult } from '../pipeline.js';
import { decodeModel } from '../serde/decode.js';
import { encodeModel } from '../serde/encode.js';
import { DataType } from '../tensor/dtype.js';
import { readInputsFile } from './data-files.js';
import { castTo, toFloat64, type Feeds } from './host-tensor.js';
import { describeInputs, generateInputs } from './inputs.js';
import { loadModel } from './session.js';

const HALF_MAX = 65504;
export const DEFAULT_MAX_ROUNDS = 10;

export interface MixedPrecisionOptions extends Partial<Fp16Options> {
  /** One sample of inputs (default: generated from the inputs' declared types, `dims` binding symbolic sizes). */
  feeds?: Feeds;
  dims?: Record<string, number>;
  /** Rounds of measuring and keeping more nodes in float32 before giving up on the tolerance (default 10). */
  maxRounds?: number;
  log?: (message: string) => void;
}

/** What the CLI calls for `fp16 --mixed`: the pass's own options, inputs from --mixed-inputs or generated. */
export async function runFp16Mixed(model: Model, context: PassContext): Promise<PassResult> {
  const settings = fp16Pass.settings(context.options);
  const inputsFile = settings.mixedInputs;
  const feeds = inputsFile === undefined ? undefined : readInputsFile(inputsFile, describeInputs(model))[0];
  return convertFp16Mixed(model, { ...settings, feeds, dims: context.options.fixedDims, log: context.log });
}

/** Converts `model` to float16 in place, keeping in float32 the nodes whose measured error exceeds the tolerance. */
export async function convertFp16Mixed(model: Model, options: MixedPrecisionOptions = {}): Promise<PassResult> {
  const settings = fp16Pass.settings({ ...options, mixed: false });
  const log = options.log ?? (() => {});
  const maxRounds = options.maxRounds ?? DEFAULT_MAX_ROUNDS;
  nameUnnamedNodes(model.graph);
  const referenceBytes = encodeModel(model);
  const feeds = options.feeds ?? generateInputs(describeInputs(model), { dims: options.dims });
  const types = inferElemTypes(model.graph);
  // Constants are left out: their error is their rounding to float16, which keeping them in float32 would not avoid.
  const watched = model.graph.nodes
    .filter((n) => n.inputs.some((v) => v))
    .flatMap((n) => n.outputs)
    .filter((v): v is Value => !!v && types.get(v) === DataType.FLOAT);
  const reference = await observe(
    decodeModel(referenceBytes),
    watched.map((v) => v.name),
    feeds,
  );

  const blocked = new Set(settings.blockNodes);
  const notes: string[] = [];
  let rounds = 0;
  let worst = { error: 0, value: '' };
  for (;;) {
    const candidate = decodeModel(referenceBytes);
    convertToFloat16(candidate, { ...settings, blockNodes: [...blocked] });
    const measured = await observe(
      candidate,
      watched.map((v) => v.name),
      feeds,
    );
    const errors = new Map<string, number>();
    for (const [name, values] of measured) {
      const expected = reference.get(name);
      if (expected) errors.set(name, float16Error(expected, values));
    }
    worst = [...errors].reduce((w, [value, error]) => (error > w.error ? { error, value } : w), {
      error: 0,
      value: '',
    });
    const more = [...sources(model.graph, errors, settings.mixedTolerance, reference)].filter((n) => !blocked.has(n));
    if (!more.length) break;
    if (rounds === maxRounds) {
      notes.push(
        `gave up after ${rounds} rounds: '${worst.value}' is off by ${worst.error.toPrecision(3)} (tolerance ${settings.mixedTolerance})`,
      );
      log(`fp16 --mixed: ${notes[0]}`);
      break;
    }
    rounds++;
    log(
      `fp16 --mixed round ${rounds}: worst error ${worst.error.toPrecision(3)} at '${worst.value}'; ` +
        `keeping ${more.length} more nodes in float32: ${more.slice(0, 8).join(', ')}${more.length > 8 ? ', ...' : ''}`,
    );
    more.forEach((n) => blocked.add(n));
  }
  const result = convertToFloat16(model, { ...settings, blockNodes: [...blocked] });
  const kept = [...blocked].filter((n) => !settings.blockNodes.includes(n));
  if (kept.length) notes.push(`kept in float32 after measuring: ${kept.join(', ')}`);
  return {
    changed: result.changed,
    stats: { ...result.stats, mixedRounds: rounds, mixedFloat32Nodes: kept.length, mixedWorstError: worst.error },
    notes: [...(result.notes ?? []), ...notes],
  };
}

/**
 * How far a float16 run's value is from the float32 one, relative to the float32 value's largest magnitude. Both
 * sides are clamped to the float16 range first, so a mask constant of -3.4e38 that became -65504 counts as
 * equal; a NaN or an infinity where float32 had a finite number is an infinite error.
 */
export function float16Error(reference: Float64Array, candidate: Float64Array): number {
  if (reference.length !== candidate.length) return Infinity;
  const clamp = (x: number) => Math.max(-HALF_MAX, Math.min(HALF_MAX, x));
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i]!;
    const c = candidate[i]!;
    if (Number.isNaN(r)) continue;
    if (Number.isNaN(c) || (!Number.isFinite(c) && Number.isFinite(r))) return Infinity;
    scale = Math.max(scale, Math.abs(clamp(r)));
    worst = Math.max(worst, Math.abs(clamp(c) - clamp(r)));
  }
  return worst / Math.max(scale, 1e-6);
}

/**
 * Nodes where the error starts: over the tolerance while their inputs are within it (or at least ten times worse
 * than their inputs). Values float16 cannot hold (beyond ±65504 in float32) send their consumers along, since a
 * Cast back to float16 would turn them into infinities.
 */
function sources(
  graph: Graph,
  errors: Map<string, number>,
  tolerance: number,
  reference: Map<string, Float64Array>,
): Set<string> {
  const errorOf = (v: Value | null) => (v ? (errors.get(v.name) ?? 0) : 0);
  const found = new Set<string>();
  const pending: Node[] = [];
  for (const node of graph.nodes) {
    const out = Math.max(0, ...node.outputs.map(errorOf));
    if (out <= tolerance) continue;
    const into = Math.max(0, ...node.inputs.map(errorOf));
    if (into <= tolerance || out > 10 * into) pending.push(node);
  }
  while (pending.length) {
    const node = pending.pop()!;
    if (found.has(node.name)) continue;
    found.add(node.name);
    for (const v of node.outputs) {
      const values = v && reference.get(v.name);
      if (!v || !values || !values.some((x) => Number.isFinite(x) && Math.abs(x) > HALF_MAX)) continue;
      for (const u of v.uses) if (u.node.graph === graph) pending.push(u.node);
    }
  }
  return found;
}

/** Runs the model with the named values exposed as outputs; returns their elements (and the outputs') by name. */
async function observe(model: Model, names: readonly string[], feeds: Feeds): Promise<Map<string, Float64Array>> {
  const graph = model.graph;
  const types = inferElemTypes(graph);
  const byName = new Map(
    graph.nodes
      .flatMap((n) => n.outputs)
      .filter((v): v is Value => !!v)
      .map((v) => [v.name, v]),
  );
  for (const name of names) {
    const v = byName.get(name);
    if (!v || graph.outputs.includes(v)) continue;
    v.type ??= { kind: 'tensor', elemType: types.get(v) ?? DataType.FLOAT };
    graph.outputs.push(v);
  }
  const session = await loadModel(model, { optimization: 'disabled' }, 'fp16 --mixed');
  try {
    const typed: Feeds = { ...feeds };
    for (const input of graph.inputs) {
      const t = feeds[input.name];
      const elemType = elemTypeOf(input.type);
      if (t && elemType !== undefined) typed[input.name] = castTo(t, elemType, `input '${input.name}'`);
    }
    const outputs = await session.run(typed);
    return new Map(Object.entries(outputs).map(([name, t]) => [name, toFloat64(t)]));
  } finally {
    await session.release();
  }
}

/** Block lists name nodes, so every node gets a (deterministic, unique) name. */
function nameUnnamedNodes(root: Graph): void {
  for (const g of root.allGraphs()) for (const n of g.nodes) if (!n.name) n.name = g.nodeNames.fresh(n.opType);
}
