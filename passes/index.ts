// Every pass the CLI and the library can run, in the order `fuse` and friends rely on.
import { OnnxOptError } from '../src/errors.js';
import type { Pass } from '../src/pipeline.js';
import { cleanPass } from './clean.js';
import { fuseAttentionPass } from './fuse-attention.js';
import { fuseEmbedLayerNormPass } from './fuse-embed-layer-norm.js';
import { quantizeDynamicPass } from './quantize-dynamic.js';
import { convertFp16 } from './convert-fp16.js';

export const allPasses: readonly Pass[] = [cleanPass, fuseEmbedLayerNormPass, fuseAttentionPass, quantizeDynamicPass, convertFp16];

export function findPass(name: string): Pass {
  const p = allPasses.find((x) => x.name === name);
  if (!p) {
    const known = allPasses.map((x) => x.name).join(', ') || 'none yet';
    throw new OnnxOptError(`unknown pass '${name}' (passes: ${known})`);
  }
  return p;
}
