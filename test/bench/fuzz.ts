// `npm run bench -- fuzz`: every pass over 2,000+ seeded mutated inputs (issue 15).
import { fuzz } from './robustness.js';

/**
 * 180 mutated models (60 per seed model, see robustness.ts), each through every pass: counts per pass and verdict,
 * and every crash, hang, cycle made, output onnxruntime refused when it accepted the input, or input modified.
 */
export async function benchFuzz(): Promise<void> {
  const { counts, bad, inputs } = await fuzz(60, (line) => console.log(line));
  let runs = 0;
  for (const [pass, verdicts] of counts) {
    const total = [...verdicts.values()].reduce((a, b) => a + b, 0);
    runs += total;
    console.log(
      `fuzz ${pass}: ${total} mutated inputs: ${[...verdicts]
        .sort()
        .map(([v, n]) => `${v} ${n}`)
        .join(', ')}`,
    );
  }
  const of = (v: string) => bad.filter((b) => b.includes(`: ${v}`)).length;
  console.log(
    `fuzz: ${inputs} mutated models, ${runs} pass runs; crashes ${of('crash')}, hangs ${of('hang')}, ` +
      `outputs refused by onnxruntime when the input was accepted ${of('output-refused')}, cycles made ${of('cycle-made')}, ` +
      `inputs modified ${of('input-modified')}`,
  );
  for (const line of bad) console.log(`  ${line}`);
}
