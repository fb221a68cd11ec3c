// Every pass over the robustness corpus (malformed graphs and seeded mutated bytes, made by make-corpus.ts): no
// crash, no hang, no output onnxruntime refuses when it accepted the input, no input modified. The large run with
// 2,000+ mutated inputs is `npm run bench -- fuzz`.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BAD, runEveryPass, type Run } from '../bench/robustness.js';

const HERE = import.meta.dirname;
const files = (dir: string) =>
  readdirSync(join(HERE, dir))
    .filter((f) => f.endsWith('.onnx'))
    .sort()
    .map((f) => join(dir, f));
const tally = new Map<string, number>();

describe.each(['malformed', 'mutated'])('%s corpus', (dir) => {
  const inputs = files(dir);

  it('is there', () => {
    expect(inputs.length).toBeGreaterThanOrEqual(dir === 'malformed' ? 40 : 120);
  });

  it.each(inputs)(
    '%s: every pass',
    async (file) => {
      const { runs } = await runEveryPass(readFileSync(join(HERE, file)));
      for (const r of runs) tally.set(`${dir} ${r.verdict}`, (tally.get(`${dir} ${r.verdict}`) ?? 0) + 1);
      const bad: Run[] = runs.filter((r) => BAD.has(r.verdict));
      expect(bad.map((r) => `${r.pass}: ${r.verdict}: ${r.detail ?? ''}`)).toEqual([]);
    },
    120_000,
  );
});

afterAll(() => {
  console.info(
    [...tally]
      .sort()
      .map(([k, n]) => `${k}: ${n}`)
      .join('\n'),
  );
});
