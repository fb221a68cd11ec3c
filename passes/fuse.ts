// `fuse`: cleanup, constant folding and every transformer fusion, in the one order that works — each fusion
// needs the ones before it (EmbedLayerNorm and SkipLayerNorm need LayerNormalization nodes; SkipLayerNorm must
// not take the embedding LayerNorm first), and cleanup last removes what the rewrites left dead. Attention comes
// right after LayerNorm: where shapes are not known (Swin's window padding) its probes evaluate the graph before a
// site, and the evaluator runs standard ops, not the contrib ops the later fusions make.
// Types first, so folding can answer Shape ops and cleanup can drop the Casts exporters put on values already of
// the type (T5's RMSNorm casts its input to float32); types last, so the output carries them (and a second run
// finds nothing to add).
import { sequence, tidy } from '../src/pass/index.js';
import { cleanPass } from './clean.js';
import { foldPass } from './fold.js';
import { fuseAttentionPass } from './fuse-attention.js';
import { fuseEmbedLayerNormPass } from './fuse-embed-layer-norm.js';
import { fuseGeluPass } from './fuse-gelu.js';
import { fuseLayerNormPass } from './fuse-layer-norm.js';
import { fuseSkipLayerNormPass } from './fuse-skip-layer-norm.js';

export const fusePass = sequence('fuse', {
  description:
    'clean, fold constants, then fuse LayerNorm, Attention, Gelu, EmbedLayerNorm and SkipLayerNorm into onnxruntime ops',
  needs: ['shapes'],
  steps: [
    tidy(cleanPass),
    tidy(foldPass),
    fuseLayerNormPass,
    fuseAttentionPass,
    fuseGeluPass,
    fuseEmbedLayerNormPass,
    fuseSkipLayerNormPass,
    tidy(cleanPass),
  ],
  leaves: ['shapes'],
  disable: true,
});
