// Bench suites for src/serde: `npm run bench -- decode` and `npm run bench -- bundle`.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodeModel } from '../../src/serde/decode.js';
import { onnxSchema } from '../../src/serde/onnx-schema.js';
import { decodeMessage } from '../../src/serde/wire.js';
import { bundleCore } from '../helpers/bundle.js';
import { ModelProto } from '../helpers/protobufjs-onnx.js';
import { SHARED_MODELS } from './materialize.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/**
 * Decoding each model's ModelProto (weights external, so this is the graph): protobufjs (the codec the core used
 * before, built from the same descriptor) against src/serde/wire.ts, and the whole decodeModel (wire + IR),
 * interleaved in one process, 60 rounds; medians and minima (the machine is shared: minima show the codec's own cost).
 * `baseline`: the dist/ folder of another build (e.g. of main, built in a worktree), whose decodeModel runs too.
 */
export async function benchDecode(models: string[], baseline?: string): Promise<void> {
  type Decode = typeof decodeModel;
  const baselineDecode = baseline
    ? ((await import(pathToFileURL(resolve(baseline, 'src/serde/decode.js')).href)) as { decodeModel: Decode })
        .decodeModel
    : undefined;
  for (const name of models) {
    // the seed model as it is: its weights are external, and decoding leaves them unread
    const bytes = readFileSync(join(SHARED_MODELS, `${name}.onnx`));
    const jobs: [string, () => unknown][] = [
      ['protobufjs', () => ModelProto.decode(bytes)],
      ['wire', () => decodeMessage(onnxSchema, 'ModelProto', bytes)],
      ['decodeModel', () => decodeModel(bytes, { externalLoader: () => new Uint8Array(0) })],
    ];
    if (baselineDecode)
      jobs.push(['baseline decodeModel', () => baselineDecode(bytes, { externalLoader: () => new Uint8Array(0) })]);
    const times = jobs.map((): number[] => []);
    for (let round = 0; round < 60; round++) {
      jobs.forEach(([, run], i) => {
        const t0 = performance.now();
        run();
        times[i]!.push(performance.now() - t0);
      });
    }
    const [pb, wire] = times.map(median);
    console.log(
      `decode ${name} (${(bytes.byteLength / 1024).toFixed(0)} KiB): ` +
        jobs
          .map(([label], i) => `${label} ${median(times[i]!).toFixed(2)} ms (min ${Math.min(...times[i]!).toFixed(2)})`)
          .join(', ') +
        `; protobufjs/wire ${(pb! / wire!).toFixed(2)}x`,
    );
  }
}

/**
 * Browser bundles of the core (esbuild, minified, ESM, platform browser) from dist/: everything it exports, and what
 * a page that only reads and writes models, or also fuses them, takes of it.
 */
export async function benchBundle(): Promise<void> {
  const entries: [string, readonly string[] | '*'][] = [
    ['onnx-opt/core, everything', '*'],
    ['decodeModel + encodeModel', ['decodeModel', 'encodeModel']],
    ['decode + fuse + encode', ['decodeModel', 'encodeModel', 'runPasses', 'fusePass']],
    ['parseNpz', ['parseNpz']],
  ];
  for (const [label, names] of entries) {
    const { code, inputs, gzipped } = await bundleCore(names, 'dist');
    const foreign = inputs.filter((f) => f.includes('node_modules'));
    console.log(
      `bundle ${label}: ${(code.byteLength / 1024).toFixed(1)} KiB minified, ${(gzipped / 1024).toFixed(1)} KiB gzipped, ` +
        `${inputs.length} modules${foreign.length ? `, ${foreign.length} from node_modules` : ''}`,
    );
  }
}
