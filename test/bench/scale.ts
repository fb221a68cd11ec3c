// `npm run bench -- scale`: clean, fold and fuse on large generated graphs.
import { NODES_PER_BLOCK } from './big-graph.js';
import { childJson, cpuLine, median } from './common.js';

/**
 * Large generated graphs (test/bench/big-graph.ts): clean, fold and fuse of a 200k-node graph, and fold of a 20k-node
 * constant chain alone (issue 15: 14.7 s before node removal was made linear; target well under a second). Medians
 * of 3 runs, each in its own process.
 */
export function benchScale(): void {
  console.log(`scale: ${cpuLine()}`);
  const cases: [string, number, number][] = [
    ['fold', 20_000 + NODES_PER_BLOCK, 20_000],
    ['clean', 200_000, 20_000],
    ['fold', 200_000, 20_000],
    ['fuse', 200_000, 20_000],
  ];
  for (const [pass, nodes, chain] of cases) {
    const runs = [1, 2, 3].map(() => childJson('scale-child.js', [pass, String(nodes), String(chain)]));
    const { nodesBefore, nodesAfter } = runs[0]!;
    console.log(
      `scale ${pass} ${nodesBefore} nodes (constant chain ${chain}) -> ${nodesAfter}: ` +
        `${(median(runs.map((r) => r.passMs!)) / 1000).toFixed(2)} s wall, ${(median(runs.map((r) => r.cpuMs!)) / 1000).toFixed(2)} s CPU ` +
        `(medians of 3; wall ${runs.map((r) => (r.passMs! / 1000).toFixed(2)).join(', ')} s)`,
    );
  }
}
