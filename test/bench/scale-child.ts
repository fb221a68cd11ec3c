// One pass over a generated graph (big-graph.ts), in its own process so every run starts from a fresh heap.
// Usage: scale-child.js PASS NODES CHAIN. Prints one JSON line.
import { cleanPass } from '../../passes/clean.js';
import { foldPass } from '../../passes/fold.js';
import { fusePass } from '../../passes/fuse.js';
import { bigModel } from './big-graph.js';

const [passName, nodes, chain] = process.argv.slice(2);
const pass = { clean: cleanPass, fold: foldPass, fuse: fusePass }[passName!];
if (!pass) throw new Error(`scale-child: unknown pass '${passName}'`);
const { model } = bigModel(Number(nodes), Number(chain));
const nodesBefore = model.graph.nodes.length;
const t0 = performance.now();
const cpu0 = process.cpuUsage();
pass.run(model, { options: {}, log: () => {} });
const passMs = performance.now() - t0;
// CPU time too: on a shared machine the wall time mostly measures the other processes.
const cpuMs = process.cpuUsage(cpu0).user / 1000;
console.log(JSON.stringify({ passMs, cpuMs, nodesBefore, nodesAfter: model.graph.nodes.length }));
