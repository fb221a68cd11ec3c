// Conformance of the evaluator against ONNX's backend node tests (libonnx-testdata): every test whose model is one
// node of a supported op must reproduce output_N.pb from input_N.pb, unless the evaluator refuses the case with
// UnsupportedOp (counted and listed). Multi-node test graphs made only of supported ops (the *_expanded function
// bodies) are run through the interpreter as well. Per-op counts are printed at the end.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { UnsupportedOp, isSupportedOp, runGraph, supportedOps } from '../../src/eval/index.js';
import type { Value } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { elemTypeOf } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';
import { readModel } from '../../src/io/read.js';
import { decodeTensor } from '../../src/serde/decode.js';
import { fromOrt, toOrt } from '../eval/ort-ir.js';
import { withSessions } from '../kit/index.js';
import { tensorDifference } from '../eval/compare.js';
import { listNodeTests } from './testdata.js';

interface Case {
  name: string;
  path: string;
  inputs: string[];
  outputs: string[];
  op: string;
  model: Model;
  single: boolean;
}

function collect(): Case[] {
  const out: Case[] = [];
  for (const c of listNodeTests()) {
    const model = readModel(c.model);
    const nodes = model.graph.nodes;
    if (model.opsetVersion('') === undefined || nodes.length === 0) continue;
    if (!nodes.every((n) => isSupportedOp(n.domain, n.opType) && n.subgraphs().length === 0)) continue;
    // Sequence and optional values are not tensors; the evaluator has none of their ops.
    if (![...model.graph.inputs, ...model.graph.outputs].every((v) => v.type?.kind === 'tensor')) continue;
    const single = nodes.length === 1;
    const op = single ? nodes[0]!.opType : 'graph';
    out.push({ name: c.name, path: c.model, inputs: c.inputs, outputs: c.outputs, op, model, single });
  }
  return out;
}

type Outcome =
  { kind: 'pass'; byOnnxruntime?: boolean } | { kind: 'unsupported'; why: string } | { kind: 'fail'; why: string };

/**
 * A test data file as the value it stands for. Older ONNX releases wrote bfloat16 test data as uint16 tensors
 * holding the bits; those are read back as bfloat16.
 */
function readData(path: string, value: Value): Tensor {
  const t = decodeTensor(readFileSync(path));
  const declared = elemTypeOf(value.type);
  if (declared === DataType.BFLOAT16 && t.dataType === DataType.UINT16)
    return new Tensor(t.name, declared, t.dims, t.bytes());
  return t;
}

/**
 * Runs one test: feeds input_N to the N-th graph input that is not an initializer, compares output_N. A multi-node
 * graph whose outputs miss the data may still match onnxruntime, which computes its float32 steps as we do (the
 * window functions' data was made otherwise and differs from onnxruntime by up to 2e-4); single nodes must match
 * the data.
 */
async function run(c: Case): Promise<Outcome> {
  const g = c.model.graph;
  const inputs = g.inputs.filter((v) => !v.initializer);
  const feeds = new Map<Value, Tensor>(c.inputs.map((path, i) => [inputs[i]!, readData(path, inputs[i]!)]));
  let values: Map<Value, Tensor>;
  try {
    values = runGraph(g, feeds, c.model.opsetVersion('')!);
  } catch (e) {
    if (e instanceof UnsupportedOp) return { kind: 'unsupported', why: e.message };
    return { kind: 'fail', why: `threw ${(e as Error).message}` };
  }
  const ours = g.outputs.map((v) => values.get(v)!);
  const dataDiff = differences(
    ours,
    c.outputs.map((path, i) => readData(path, g.outputs[i]!)),
  );
  if (!dataDiff || c.single) return dataDiff ? { kind: 'fail', why: dataDiff } : { kind: 'pass' };
  const ortDiff = differences(ours, await runOnnxruntime(c.path, feeds));
  return ortDiff
    ? { kind: 'fail', why: `${dataDiff}; onnxruntime: ${ortDiff}` }
    : { kind: 'pass', byOnnxruntime: true };
}

function differences(actual: Tensor[], expected: Tensor[]): string | undefined {
  for (const [i, e] of expected.entries()) {
    const why = tensorDifference(actual[i]!, e);
    if (why) return `output ${i}: ${why}`;
  }
  return undefined;
}

async function runOnnxruntime(path: string, feeds: Map<Value, Tensor>): Promise<Tensor[]> {
  const inputs = Object.fromEntries([...feeds].map(([v, t]) => [v.name, toOrt(t)]));
  return withSessions([path], 'disabled', async ([session]) => {
    const result = await session!.run(inputs);
    return session!.outputNames.map((name) => fromOrt(result[name]!));
  });
}

const cases = collect();
const outcomes = new Map<Case, Outcome>();

describe('ONNX backend node tests', () => {
  it('finds the test data', () => {
    expect(cases.filter((c) => c.single).length).toBeGreaterThan(300);
  });

  for (const c of cases) {
    it(`${c.name} (${c.op})`, async () => {
      const outcome = await run(c);
      outcomes.set(c, outcome);
      expect(outcome.kind === 'fail' ? outcome.why : '').toBe('');
    });
  }
});

afterAll(() => {
  const lines: string[] = [];
  const byOp = new Map<string, { pass: number; total: number; unsupported: string[] }>();
  for (const [c, o] of outcomes) {
    const row = byOp.get(c.op) ?? { pass: 0, total: 0, unsupported: [] };
    row.total++;
    if (o.kind === 'pass') row.pass++;
    if (o.kind === 'unsupported') row.unsupported.push(`${c.name}: ${o.why}`);
    byOp.set(c.op, row);
  }
  const single = [...byOp].filter(([op]) => op !== 'graph').sort(([a], [b]) => a.localeCompare(b));
  for (const [op, r] of single) lines.push(`  ${op}: ${r.pass}/${r.total}`);
  const sum = (rows: typeof single, f: (r: (typeof single)[number][1]) => number) =>
    rows.reduce((n, [, r]) => n + f(r), 0);
  const refused = [...byOp.values()].flatMap((r) => r.unsupported);
  const graphs = byOp.get('graph');
  const byOnnxruntime = [...outcomes].filter(([, o]) => o.kind === 'pass' && o.byOnnxruntime).map(([c]) => c.name);
  lines.push(
    `evaluator: ${supportedOps().length} ops supported; ${single.length} of them have single-node backend tests`,
    `single-node backend tests: ${sum(single, (r) => r.pass)}/${sum(single, (r) => r.total)} pass` +
      `, ${sum(single, (r) => r.unsupported.length)} declared unsupported`,
    graphs
      ? `multi-node test graphs of supported ops: ${graphs.pass}/${graphs.total} pass (${byOnnxruntime.join(', ') || 'none'} ` +
          `matching onnxruntime rather than the data), ${graphs.unsupported.length} declared unsupported`
      : '',
    ...(refused.length ? ['declared unsupported:', ...refused.map((r) => `  ${r}`)] : []),
  );
  console.log(lines.join('\n'));
});
