// The core as a browser bundle (esbuild, as a web page would bundle it): a page that reads, fuses and writes models
// gets code that runs with code generation from strings disallowed (the Node flag that mirrors a strict Content
// Security Policy) and writes the same bytes as the library does; reading and writing alone stay small.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { fusePass } from '../../passes/fuse.js';
import { runPasses } from '../../src/pipeline.js';
import { decodeModel } from '../../src/serde/decode.js';
import { encodeModel } from '../../src/serde/encode.js';

const dir = mkdtempSync(join(tmpdir(), 'onnx-opt-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MODEL = 'fixtures/bert-sdpa-dynamo18.onnx';

async function bundle(names: string[]) {
  const result = await build({
    stdin: { contents: `export { ${names.join(', ')} } from './src/core.js';`, resolveDir: resolve('.'), loader: 'ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true,
    logLevel: 'error',
  });
  const code = result.outputFiles[0]!.contents;
  const inputs = Object.entries(Object.values(result.metafile.outputs)[0]!.inputs)
    .filter(([, i]) => i.bytesInOutput > 0)
    .map(([f]) => f);
  return { code, inputs, gzipped: gzipSync(code, { level: 9 }).byteLength };
}

describe('browser bundle of the core', () => {
  it('decode, fuse and encode run with code generation disallowed and write what the library writes', async () => {
    const { code, inputs } = await bundle(['decodeModel', 'encodeModel', 'runPasses', 'fusePass']);
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
    const { inputs, gzipped } = await bundle(['decodeModel', 'encodeModel']);
    expect(inputs.filter((f) => f.includes('passes/') || f.includes('src/eval/') || f.includes('src/shape/'))).toEqual(
      [],
    );
    // about 12 KiB today; the margin catches a heavy dependency coming back, not small growth
    expect(gzipped).toBeLessThan(20 * 1024);
  });
});
