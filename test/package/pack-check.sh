#!/usr/bin/env bash
# What a user gets from `npm install onnx-opt`: packs the package, installs the tarball into an empty project with no
# .npmrc (so nothing skips onnxruntime-node's download: it must not be installed at all), then checks the install
# size, both entry points from ESM and CommonJS, the CLI (passes run; commands that run models exit 3 saying how to
# install onnxruntime-node), the core under --disallow-code-generation-from-strings, and the types with TypeScript
# strict under NodeNext, Bundler and node10 resolution. Needs the npm registry. Run: npm run test:package
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "pack-check: $*" >&2; exit 1; }

cd "$repo"
tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -1)"
echo "packed $(basename "$tarball"): $(du -k "$tarball" | cut -f1) KiB, $(tar -tzf "$tarball" | wc -l) files"
tar -tzf "$tarball" | grep -E '\.map$|/test/|\.ts$' | grep -v '\.d\.ts$' && fail 'the tarball holds source maps, tests or sources'
tar -tzf "$tarball" | grep -x 'package/LICENSE' > /dev/null || fail 'no LICENSE in the tarball'

project="$work/project"
mkdir -p "$project"
cd "$project"
echo '{ "name": "pack-check", "private": true, "type": "module" }' > package.json
npm install --no-audit --no-fund --loglevel=error "$tarball"
[ -d node_modules/onnxruntime-node ] && fail 'onnxruntime-node was installed (it is an optional peer dependency)'
echo "install size: $(du -sk node_modules | cut -f1) KiB in node_modules ($(ls node_modules | tr '\n' ' '))"

cp "$repo/fixtures/bert-sdpa-dynamo18.onnx" model.onnx
cat > esm.mjs <<'JS'
import { readFileSync } from 'node:fs';
import { fusePass, readModel, runPasses, writeModel } from 'onnx-opt';
import { decodeModel, encodeModel, parseNpz } from 'onnx-opt/core';
const model = readModel('model.onnx');
const [{ result }] = runPasses(model, [fusePass]);
if (!result.changed) throw new Error('fuse changed nothing');
writeModel(model, 'fused.onnx');
const again = encodeModel(decodeModel(readFileSync('fused.onnx')));
if (again.byteLength !== readFileSync('fused.onnx').byteLength) throw new Error('core round trip differs');
if (typeof parseNpz !== 'function') throw new Error('no parseNpz in the core');
console.log(`esm: fused ${model.graph.nodes.length} nodes`);
JS
node --disallow-code-generation-from-strings esm.mjs

cat > cjs.cjs <<'JS'
const { readModel } = require('onnx-opt');
const { decodeModel } = require('onnx-opt/core');
const fs = require('node:fs');
const { version } = require('onnx-opt/package.json');
console.log(`cjs: onnx-opt ${version}: ${readModel('model.onnx').graph.nodes.length} nodes, ${decodeModel(fs.readFileSync('model.onnx')).graph.nodes.length} via the core`);
JS
node cjs.cjs

npx --no-install onnx-opt fuse model.onnx cli-fused.onnx
set +e
message="$(npx --no-install onnx-opt parity model.onnx cli-fused.onnx 2>&1)"
code=$?
set -e
[ "$code" = 3 ] || fail "parity without onnxruntime-node exited $code, not 3: $message"
case "$message" in *'npm install onnxruntime-node'*) ;; *) fail "parity's message does not say how to install onnxruntime-node: $message" ;; esac
echo "cli: fuse ok; parity without onnxruntime-node: exit 3, \"$message\""

# TypeScript strict: the Node entry with Node's types; the core with no Node types at all (a browser project).
cat > node.ts <<'TS'
import { checkParity, readModel, runPasses, fusePass, writeModel, EnvironmentError, type Model } from 'onnx-opt';
const model: Model = readModel('model.onnx');
runPasses(model, [fusePass]);
writeModel(model, 'out.onnx');
export const check = (): Promise<boolean> => checkParity('model.onnx', 'out.onnx').then((r) => r.pass, (e) => !(e instanceof EnvironmentError));
TS
cat > browser.ts <<'TS'
import { decodeModel, encodeModel, runPasses, fusePass, parseNpz, type NpyArray } from 'onnx-opt/core';
export function optimize(bytes: Uint8Array): Uint8Array {
  const model = decodeModel(bytes);
  runPasses(model, [fusePass]);
  return encodeModel(model);
}
export const arrays = (bytes: Uint8Array): Map<string, NpyArray> => parseNpz(bytes);
TS
# The project itself has no @types: only node.ts is given Node's (the repository's @types/node).
[ -d node_modules/@types ] && fail 'the install brought @types packages'
types="$repo/node_modules/@types"
tsc() { "$repo/node_modules/.bin/tsc" --noEmit --strict --skipLibCheck false --target ES2022 "$@"; }
tsc --module NodeNext --moduleResolution NodeNext --typeRoots "$types" --types node node.ts
tsc --module ESNext --moduleResolution Bundler --typeRoots "$types" --types node node.ts
tsc --module NodeNext --moduleResolution NodeNext --lib ES2022,DOM browser.ts
tsc --module ESNext --moduleResolution Bundler --lib ES2022,DOM browser.ts
tsc --module CommonJS --moduleResolution node10 --lib ES2022,DOM browser.ts
echo 'types: strict NodeNext, Bundler and node10 resolution ok'
echo 'pack-check: ok'
