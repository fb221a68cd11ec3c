// A fresh clone must pass `npm test` with only Node and git: nothing that the library, the CLI or the unit tests
// run may reach outside the repository (no ../shared, no system-wide ONNX backend data). The backend data belongs
// to the conformance suite (test/conformance, `npm run test:conformance`), which locates it or says how to install it.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// Everything `npm test` and the built package execute. test/conformance is the suite that may use the backend data;
// test/bench takes its seed models from ONNX_OPT_SHARED_MODELS and is not part of `npm test`.
const ROOTS = ['src', 'passes', 'bin', 'test'];
const OUTSIDE_UNIT_TESTS = ['test/conformance/', 'test/bench/'];

function sourceFiles(path: string): string[] {
  const st = statSync(path);
  if (st.isFile()) return /\.(ts|js|mjs|cjs)$/.test(path) ? [path] : [];
  return readdirSync(path)
    .sort()
    .flatMap((f) => sourceFiles(join(path, f)));
}

/** The source without comments, so a comment naming where something came from does not count as reading it. */
function code(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

const files = ROOTS.flatMap(sourceFiles)
  .map((f) => relative('.', f))
  .filter((f) => !OUTSIDE_UNIT_TESTS.some((dir) => f.startsWith(dir)) && f !== 'test/fresh-clone.test.ts');

describe('fresh clone', () => {
  it('finds the sources', () => {
    expect(files.length).toBeGreaterThan(50);
  });

  it.each(files.map((f) => [f]))('%s reads nothing outside the repository', (file) => {
    const text = code(readFileSync(file, 'utf8'));
    expect(text, `${file} reaches for shared/`).not.toMatch(
      /['"`][^'"`\n]*\bshared\/(models|onnx-|[\w-]+\.(pb|onnx|md))/,
    );
    expect(text, `${file} reaches for shared/`).not.toMatch(/\.\.\/shared\b/);
    expect(text, `${file} uses the ONNX backend data`).not.toMatch(
      /libonnx-testdata|ONNX_TESTDATA_DIR|helpers\/testdata/,
    );
  });

  it('has the ONNX schema descriptor in the repository', () => {
    expect(existsSync('src/serde/onnx-1.23.1-descriptor.pb')).toBe(true);
  });

  it("README's set-up commands are what .ci/run runs", () => {
    const readme = readFileSync('README.md', 'utf8');
    const setup = readme.slice(readme.indexOf('## Set-up on a fresh machine'));
    const block = setup.slice(setup.indexOf('```sh') + 5, setup.indexOf('```', setup.indexOf('```sh') + 5));
    const ci = readFileSync('.ci/run', 'utf8');
    const commands = block
      .split('\n')
      .flatMap((line) => line.replace(/#.*$/, '').split('&&'))
      .map((c) => c.trim())
      .filter((c) => c.startsWith('npm '));
    expect(commands).toContain('npm test');
    expect(commands).toContain('npm run test:conformance');
    for (const command of commands) expect(ci, command).toContain(command);
  });
});
