// `fuse`: cleanup, constant folding and every transformer fusion, in the one order that works — each fusion
// needs the ones before it (EmbedLayerNorm and SkipLayerNorm need LayerNormalization nodes; SkipLayerNorm must
// not take the embedding LayerNorm first), and cleanup last removes what the rewrites left dead. Attention comes
// right after LayerNorm: where shapes are not known (Swin's window padding) its probes evaluate the graph before a
// site, and the evaluator runs standard ops, not the contrib ops the later fusions make.
import { OnnxOptError } from '../src/errors.js';
import type { Pass, PassContext, PassResult } from '../src/pipeline.js';
import { inferShapes } from '../src/shape/index.js';
import { cleanPass } from './clean.js';
import { foldPass } from './fold.js';
import { fuseAttentionPass } from './fuse-attention.js';
import { fuseEmbedLayerNormPass } from './fuse-embed-layer-norm.js';
import { fuseGeluPass } from './fuse-gelu.js';
import { fuseGqaPass } from './fuse-gqa.js';
import { fuseLayerNormPass } from './fuse-layer-norm.js';
import { fuseRotaryPass } from './fuse-rotary.js';
import { fuseSkipLayerNormPass } from './fuse-skip-layer-norm.js';

/** The fusions, by the names `--disable` takes, in order. */
export const FUSIONS: readonly [string, Pass][] = [
  ['layer-norm', fuseLayerNormPass],
  // decoder attention first: its q and k pass through the RotaryEmbedding that rotary makes
  ['rotary', fuseRotaryPass],
  ['gqa', fuseGqaPass],
  ['attention', fuseAttentionPass],
  ['gelu', fuseGeluPass],
  ['embed-layer-norm', fuseEmbedLayerNormPass],
  ['skip-layer-norm', fuseSkipLayerNormPass],
];

function disabledFusions(context: PassContext): Set<string> {
  const raw = context.options.disable;
  const names = (Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : []).flatMap((s: string) => s.split(','));
  const known = FUSIONS.map(([n]) => n);
  for (const n of names) {
    if (!known.includes(n)) throw new OnnxOptError(`--disable: unknown fusion '${n}' (fusions: ${known.join(', ')})`);
  }
  return new Set(names);
}

const shapeInference: Pass = {
  name: 'infer-shapes',
  description: 'type and shape inference',
  run(model) {
    return { changed: inferShapes(model).inferred > 0, stats: {} };
  },
};

export const fusePass: Pass = {
  name: 'fuse',
  description: 'clean, fold constants, then fuse LayerNorm, Gelu, EmbedLayerNorm, SkipLayerNorm and Attention into onnxruntime ops',
  options: [
    { flags: '--disable <fusions>', description: `fusions to skip, comma-separated: ${FUSIONS.map(([n]) => n).join(', ')}` },
    { flags: '--num-heads <n>', description: 'attention heads (refuse sites whose probed head count differs)' },
    { flags: '--hidden-size <n>', description: 'attention hidden size (refuse sites whose probed size differs)' },
    { flags: '--max-positions <n>', description: 'positions the RotaryEmbedding caches cover where the model computes cos/sin from inv_freq (default 4096)' },
  ],
  run(model, context): PassResult {
    const disabled = disabledFusions(context);
    // Types first, so folding can answer Shape ops and cleanup can drop the Casts exporters put on values already
    // of the type (T5's RMSNorm casts its input to float32); types last, so the output carries them (and a second
    // run finds nothing to add).
    const steps: Pass[] = [
      shapeInference, cleanPass, foldPass, ...FUSIONS.filter(([n]) => !disabled.has(n)).map(([, p]) => p), cleanPass,
      shapeInference,
    ];
    const stats: Record<string, number> = {};
    const notes: string[] = [];
    let changed = false;
    for (const step of steps) {
      const r = step.run(model, context);
      changed ||= r.changed;
      if (step.name.startsWith('fuse-')) {
        for (const [k, v] of Object.entries(r.stats)) stats[k] = (stats[k] ?? 0) + v;
        notes.push(...(r.notes ?? []).map((n) => `${step.name}: ${n}`));
      }
    }
    return { changed, stats, notes };
  },
};
