// Every pass the CLI and the library can run, each exported as <name>Pass from passes/<name>.ts. Sequences
// (`fuse`, `quantize`) are listed with the steps that are passes of their own too.
import { OnnxOptError } from '../src/errors.js';
import type { Pass } from '../src/pass/index.js';
import { cleanPass } from './clean.js';
import { fp16Pass } from './fp16.js';
import { foldPass } from './fold.js';
import { fuseAttentionPass } from './fuse-attention.js';
import { fuseEmbedLayerNormPass } from './fuse-embed-layer-norm.js';
import { fuseGeluPass } from './fuse-gelu.js';
import { fuseLayerNormPass } from './fuse-layer-norm.js';
import { fuseSkipLayerNormPass } from './fuse-skip-layer-norm.js';
import { fusePass } from './fuse.js';
import { quantizePass } from './quantize.js';
import { splitSkipLayerNormPass } from './split-skip-layer-norm.js';

export const allPasses: readonly Pass[] = [
  cleanPass,
  foldPass,
  fusePass,
  fuseLayerNormPass,
  fuseAttentionPass,
  fuseGeluPass,
  fuseEmbedLayerNormPass,
  fuseSkipLayerNormPass,
  splitSkipLayerNormPass,
  quantizePass,
  fp16Pass,
];

export function findPass(name: string): Pass {
  const p = allPasses.find((x) => x.name === name);
  if (!p) {
    const known = allPasses.map((x) => x.name).join(', ') || 'none yet';
    throw new OnnxOptError(`unknown pass '${name}' (passes: ${known})`);
  }
  return p;
}
