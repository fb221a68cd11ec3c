// The core must run in a browser, under a strict Content Security Policy too: no Node built-ins, no onnxruntime, no
// protobufjs (it generates code at run time), no code generation of its own, no reaching out to the edge rooms.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const CORE = [
  'src/ir',
  'src/serde',
  'src/pattern',
  'src/shape',
  'src/eval',
  'src/tensor',
  'passes',
  'src/pass',
  'src/pipeline.ts',
  'src/errors.ts',
  'src/summary.ts',
  'src/core.ts',
];
const EDGE_ROOMS = ['/io/', '/runtime/', '/cli/', 'bin/'];
const NODE_BUILTINS = /^(node:|fs$|path$|os$|child_process$|url$|zlib$|crypto$|worker_threads$|stream$|buffer$)/;

function tsFiles(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    return [];
  }
  if (st.isFile()) return path.endsWith('.ts') ? [path] : [];
  return readdirSync(path).flatMap((f) => tsFiles(join(path, f)));
}

function imports(source: string): string[] {
  return [...source.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map(
    (m) => (m[1] ?? m[2])!,
  );
}

describe('layering', () => {
  const files = CORE.flatMap(tsFiles);

  it('finds the core files', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it.each(files.map((f) => [relative('.', f)]))('%s stays browser-safe', (file) => {
    const source = readFileSync(file, 'utf8');
    for (const spec of imports(source)) {
      expect(spec, `${file} imports ${spec}`).not.toMatch(NODE_BUILTINS);
      expect(spec, `${file} imports ${spec}`).not.toMatch(/onnxruntime|protobufjs/);
      if (spec.startsWith('.'))
        for (const room of EDGE_ROOMS) expect(spec, `${file} imports ${spec}`).not.toContain(room);
    }
    const code = source.replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
    expect(code, `${file} uses Buffer`).not.toMatch(/\bBuffer\./);
    expect(code, `${file} uses process`).not.toMatch(/\bprocess\./);
    // a strict Content Security Policy forbids code generated at run time
    expect(code, `${file} generates code`).not.toMatch(/\bnew Function\b|\bFunction\(|\beval\(/);
  });
});
