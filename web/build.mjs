// npm run build:web: bundles the page, its worker and the CSP check with esbuild into dist/web/, a static folder
// that works offline (onnxruntime-web's WASM files and two sample fixtures are copied in).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/web');
const SAMPLES = ['bert-eager-ts14.onnx', 'gpt2-eager-ts14.onnx'];

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'samples'), { recursive: true });
await build({
  entryPoints: { app: 'web/app.ts', worker: 'web/worker.ts', 'csp-check': 'web/csp-check.ts' },
  absWorkingDir: root,
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  // the WASM build's glue mentions Node modules it never loads in a browser
  external: ['node:*', 'worker_threads', 'module', 'fs', 'path', 'url'],
  logLevel: 'warning',
});
for (const f of ['index.html', 'style.css', 'csp-check.html']) copyFileSync(join(root, 'web', f), join(out, f));
copyFileSync(
  join(root, 'node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm'),
  join(out, 'ort-wasm-simd-threaded.wasm'),
);
for (const f of SAMPLES) copyFileSync(join(root, 'fixtures', f), join(out, 'samples', f));
writeFileSync(join(out, 'samples/samples.json'), JSON.stringify(SAMPLES));
console.log(`built ${out}`);
