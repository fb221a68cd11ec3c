// Every pass the CLI and the library can run, each exported as <name>Pass from passes/<name>.ts. fuse's fusions
// come from its step list, so a new fusion is registered once, in passes/fuse.ts.
import { OnnxOptError } from '../src/errors.js';
import type { Pass } from '../src/pass/index.js';
import { attentionMaskToBiasPass } from './attention-mask-to-bias.js';
import { bnb4Pass } from './bnb4.js';
import { cleanPass } from './clean.js';
import { fp16Pass } from './fp16.js';
import { foldPass } from './fold.js';
import { fusePass } from './fuse.js';
import { q4Pass } from './q4.js';
import { quantizePass } from './quantize.js';
import { quantizeStaticPass } from './quantize-static.js';
import { splitBiasGeluPass } from './split-bias-gelu.js';
import { splitSkipLayerNormPass } from './split-skip-layer-norm.js';

export const allPasses: readonly Pass[] = [
  cleanPass,
  foldPass,
  fusePass,
  ...fusePass.steps, // each fusion also runs on its own: onnx-opt fuse-gelu in out
  splitSkipLayerNormPass,
  quantizePass,
  quantizeStaticPass,
  fp16Pass,
  q4Pass,
  bnb4Pass,
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
