// Bit identity with onnxruntime's 4-bit quantizers: fixtures/q4/ holds, for each fixture family and setting, the
// tensors onnxruntime 1.30's MatMulNBitsQuantizer (and MatMulBnb4Quantizer) wrote for every node it quantized
// (made on the device by fixtures/export_q4_refs.py). The same model through our pass must give the same nodes,
// attributes and bytes, counted per node.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { bnb4Pass } from '../../passes/bnb4.js';
import { q4Pass } from '../../passes/q4.js';
import { readNpz } from '../../src/io/npz.js';
import { readModel } from '../../src/io/read.js';
import type { Attribute } from '../../src/ir/attribute.js';
import type { Node } from '../../src/ir/graph.js';

const DIR = 'fixtures/q4/';

interface RefTensor {
  key: string;
  name: string;
  dtype: number;
  dims: number[];
}
interface RefNode {
  name: string;
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, number>;
  tensors: Record<string, RefTensor>;
}
interface Ref {
  family: string;
  setting: string;
  options: Record<string, number | boolean>;
  ops: string[];
  nodes: RefNode[];
}

const refs = JSON.parse(readFileSync(`${DIR}refs.json`, 'utf8')) as {
  versions: Record<string, string>;
  refs: Record<string, Ref>;
};

function attrValue(a: Attribute | undefined): unknown {
  return a && (a.type === 'int' || a.type === 'float') ? Number(a.value) : undefined;
}

const summary: string[] = [];
afterAll(() =>
  console.log(
    [`bit identity with onnxruntime ${refs.versions.onnxruntime}'s quantizers (nodes equal / nodes):`, ...summary].join(
      '\n',
    ),
  ),
);

describe("q4 / bnb4: bit for bit onnxruntime's quantizers", () => {
  let total = 0;
  let equal = 0;
  for (const [key, ref] of Object.entries(refs.refs)) {
    it(`${key}: ${ref.nodes.length} nodes`, () => {
      const model = readModel(`fixtures/${ref.family}.onnx`);
      const o = ref.options;
      if (ref.ops[0] === 'MatMul' && ref.nodes[0]?.op === 'MatMulBnb4') {
        bnb4Pass.run(model, {
          options: { quantType: o.quant_type === 1 ? 'nf4' : 'fp4', blockSize: o.block_size },
          log: () => {},
        });
      } else {
        // onnxruntime's quantizer raises the opset to 21 for int4 tables; our pass writes them so only from 21 on
        if (ref.ops.includes('Gather'))
          model.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx')!.version = 21;
        q4Pass.run(model, {
          options: {
            blockSize: o.block_size,
            symmetric: o.is_symmetric,
            bits: o.bits,
            ops: ref.ops.join(','),
            ...(o.accuracy_level ? { accuracyLevel: o.accuracy_level } : {}),
          },
          log: () => {},
        });
      }
      const arrays = readNpz(`${DIR}${key}.npz`);
      const ours = new Map<string, Node>();
      for (const g of model.graph.allGraphs()) for (const n of g.nodes) ours.set(n.outputs[0]!.name, n);
      const mismatches: string[] = [];
      for (const r of ref.nodes) {
        const n = ours.get(r.outputs[0]!);
        const problems: string[] = [];
        if (!n || n.opType !== r.op) problems.push(`is ${n?.opType ?? 'missing'}`);
        else {
          if (n.name !== r.name) problems.push(`named '${n.name}'`);
          for (const [name, value] of Object.entries(r.attrs))
            if (attrValue(n.attributes.get(name)) !== value)
              problems.push(`${name} ${attrValue(n.attributes.get(name))} != ${value}`);
          for (const name of n.attributes.keys()) if (!(name in r.attrs)) problems.push(`extra attribute ${name}`);
          for (const [slot, t] of Object.entries(r.tensors)) {
            const v = n.inputs[Number(slot)];
            const tensor = v?.constantTensor();
            if (!v || !tensor) {
              problems.push(`input ${slot} is not a constant`);
              continue;
            }
            if (v.name !== t.name) problems.push(`input ${slot} named '${v.name}', not '${t.name}'`);
            if (tensor.dataType !== t.dtype || tensor.dims.join() !== t.dims.join())
              problems.push(`input ${slot} ${tensor.dataType}[${tensor.dims}] != ${t.dtype}[${t.dims}]`);
            const expected = arrays.get(t.key)!.data as Uint8Array;
            const got = tensor.bytes();
            let diff = -1;
            for (let i = 0; i < Math.max(got.length, expected.length); i++)
              if (got[i] !== expected[i]) {
                diff = i;
                break;
              }
            if (diff >= 0)
              problems.push(`input ${slot} '${t.name}' differs from byte ${diff} (${got[diff]} != ${expected[diff]})`);
          }
          if (n.inputs.length > r.inputs.length && n.inputs.slice(r.inputs.length).some((v) => v))
            problems.push('extra inputs');
        }
        if (problems.length) mismatches.push(`${r.name || r.outputs[0]}: ${problems.join('; ')}`);
      }
      total += ref.nodes.length;
      equal += ref.nodes.length - mismatches.length;
      summary.push(`${key.padEnd(36)} ${ref.nodes.length - mismatches.length} / ${ref.nodes.length}`);
      expect(mismatches.slice(0, 5)).toEqual([]);
      expect(ref.nodes.length).toBeGreaterThan(0);
    });
  }
  it('covers at least 3 families x (block 32 symmetric, block 128 asymmetric, block 16)', () => {
    for (const setting of ['b32s', 'b128a', 'b16s']) {
      const families = Object.values(refs.refs)
        .filter((r) => r.setting === setting)
        .map((r) => r.family);
      expect(new Set(families).size, setting).toBeGreaterThanOrEqual(3);
    }
    expect(existsSync(DIR)).toBe(true);
    summary.push(`all: ${equal} / ${total}`);
  });
});
