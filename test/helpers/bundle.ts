// The core bundled for a browser (esbuild, minified ESM), as a web page would bundle it: what the bundle test checks
// and the bundle bench measures.
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

export interface CoreBundle {
  code: Uint8Array;
  /** The source files that put bytes in the bundle. */
  inputs: string[];
  gzipped: number;
}

/**
 * A bundle of `names` exported by the core: from the TypeScript sources (`src/core.ts`) or the build
 * (`dist/src/core.js`), relative to the working directory.
 */
export async function bundleCore(names: readonly string[] | '*', from: 'src' | 'dist'): Promise<CoreBundle> {
  const exported = names === '*' ? '*' : `{ ${names.join(', ')} }`;
  const result = await build({
    stdin: {
      contents: `export ${exported} from './${from === 'src' ? 'src/core.ts' : 'dist/src/core.js'}';`,
      resolveDir: process.cwd(),
      loader: from === 'src' ? 'ts' : 'js',
    },
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
