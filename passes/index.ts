// Every pass the CLI and the library can run. `fuse` runs cleanup, folding and the fusions in the order they
// rely on; the single fusions are here too, for --disable-style experiments and tests.
import { OnnxOptError } from '../src/errors.js';
import type { Pass } from '../src/pipeline.js';
import { attentionMaskToBiasPass } from './attention-mask-to-bias.js';
import { cleanPass } from './clean.js';
import { fp16Pass } from './fp16.js';
import { foldPass } from './fold.js';
import { FUSIONS, fusePass } from './fuse.js';
import { quantizePass } from './quantize.js';
import { splitBiasGeluPass } from './split-bias-gelu.js';
import { splitSkipLayerNormPass } from './split-skip-layer-norm.js';

export const allPasses: readonly Pass[] = [
  cleanPass,
  foldPass,
  fusePass,
  ...FUSIONS.map(([, pass]) => pass),
  splitSkipLayerNormPass,
  quantizePass,
  fp16Pass,
  attentionMaskToBiasPass,
  splitBiasGeluPass,
];

export function findPass(name: string): Pass {
  const p = allPasses.find((x) => x.name === name);
  if (!p) {
    const known = allPasses.map((x) => x.name).join(', ') || 'none yet';
    throw new OnnxOptError(`unknown pass '${name}' (passes: ${known})`);
  }
  return p;
}
