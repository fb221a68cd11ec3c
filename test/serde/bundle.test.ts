// The core as a browser bundle (esbuild, as a web page would bundle it): a page that reads, fuses and writes models
// gets code that runs with code generation from strings disallowed (the Node flag that mirrors a strict Content
// Security Policy) and writes the same bytes as the library does; reading and writing alone stay small.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fusePass } from '../../passes/fuse.js';
import { runPasses } from '../../src/pipeline.js';
import { decodeModel } from '../../src/serde/decode.js';
import { encodeModel } from '../../src/serde/encode.js';
import { bundleCore } from '../helpers/bundle.js';
import { tempFolder } from '../kit/temp.js';

const dir = tempFolder('bundle');
const MODEL = 'fixtures/bert-sdpa-dynamo18.onnx';

describe('browser bundle of the core', () => {
  it('decode, fuse and encode run with code generation disallowed and write what the library writes', async () => {
    const { code, inputs } = await bundleCore(['decodeModel', 'encodeModel', 'runPasses', 'fusePass'], 'src');
    expect(inputs.filter((f) => f.includes('node_modules'))).toEqual([]);
    writeFileSync(join(dir, 'core.mjs'), code);
    writeFileSync(
      join(dir, 'run.mjs'),
      [
        "import { readFileSync, writeFileSync } from 'node:fs';",
        "import { decodeModel, encodeModel, runPasses, fusePass } from './core.mjs';",
        'const model = decodeModel(readFileSync(process.argv[2]));',
        'runPasses(model, [fusePass]);',
        'writeFileSync(process.argv[3], encodeModel(model));',
      ].join('\n'),
    );
    execFileSync(process.execPath, [
      '--disallow-code-generation-from-strings',
      join(dir, 'run.mjs'),
      MODEL,
      join(dir, 'out.onnx'),
    ]);

    const model = decodeModel(readFileSync(MODEL));
    runPasses(model, [fusePass]);
    expect(Buffer.compare(readFileSync(join(dir, 'out.onnx')), encodeModel(model))).toBe(0);
    expect(model.graph.nodes.some((n) => n.opType === 'Attention')).toBe(true);
  });

  it('reading and writing alone take the codec and the IR, not the passes', async () => {
    const { inputs, gzipped } = await bundleCore(['decodeModel', 'encodeModel'], 'src');
    expect(inputs.filter((f) => f.includes('passes/') || f.includes('src/eval/') || f.includes('src/shape/'))).toEqual(
      [],
    );
    // about 12 KiB today; the margin catches a heavy dependency coming back, not small growth
    expect(gzipped).toBeLessThan(20 * 1024);
  });
});
