// One read+write of a model, in its own process so its peak RSS is its own. Prints one JSON line.
import { readModel } from '../../src/io/read.js';
import { writeModel } from '../../src/io/write.js';

const [input, output] = process.argv.slice(2);
const t0 = performance.now();
const model = readModel(input!);
const t1 = performance.now();
writeModel(model, output!);
const t2 = performance.now();
console.log(
  JSON.stringify({
    readMs: t1 - t0,
    writeMs: t2 - t1,
    totalMs: t2 - t0,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);
