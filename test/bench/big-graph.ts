// Large generated graphs for the scale tests and `npm run bench -- scale`: repeated transformer-like blocks that give
// clean, fold and fuse work everywhere, plus a long chain of constants for fold.
import { attr } from '../../src/ir/attribute.js';
import { Graph, Value } from '../../src/ir/graph.js';
import { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType } from '../../src/ir/types.js';
import { DataType } from '../../src/tensor/dtype.js';

const F = DataType.FLOAT;
const WIDTH = 8;
/** Nodes in one block (see bigModel). */
export const NODES_PER_BLOCK = 19;

export interface BigModel {
  model: Model;
  blocks: number;
  constantChain: number;
}

/**
 * About `nodes` nodes: a chain of Add nodes over initializers only (`constantChain` long, fold's work), then blocks,
 * each a LayerNorm written out (9 nodes, fuse makes one LayerNormalization), an erf Gelu (5 nodes, one Gelu), an
 * Identity, an unread Neg and two equal Relus added together (clean's work: 3 nodes go). The chain's end is added
 * into the last block, so it stays live. Every intermediate value has value_info, as exporters write.
 */
export function bigModel(nodes: number, constantChain = Math.min(20_000, Math.floor(nodes / 10))): BigModel {
  const g = new Graph('big');
  const model = new Model(g);
  model.irVersion = 8;
  model.opsetImports = [{ domain: '', version: 17 }];
  const scalar = (name: string, value: number) => g.addInitializer(name, Tensor.fromArray(name, F, [], [value]));
  const vector = (name: string, values: number[]) => g.addInitializer(name, Tensor.fromArray(name, F, [WIDTH], values));
  const op = (opType: string, inputs: Value[], attributes = [] as ReturnType<typeof attr>[]) =>
    g.createNode({ opType, inputs, attributes }).output(0);

  let constant = vector(
    'c',
    Array.from({ length: WIDTH }, (_, i) => i / WIDTH),
  );
  const step = scalar('step', 1 / 1024);
  for (let i = 0; i < constantChain; i++) constant = op('Add', [constant, step]);

  const two = scalar('two', 2);
  const epsilon = scalar('epsilon', 1e-5);
  const gamma = vector(
    'gamma',
    Array.from({ length: WIDTH }, (_, i) => 1 + i / 16),
  );
  const beta = vector(
    'beta',
    Array.from({ length: WIDTH }, (_, i) => i / 32 - 0.1),
  );
  const sqrt2 = scalar('sqrt2', Math.SQRT2);
  const one = scalar('one', 1);
  const half = scalar('half', 0.5);
  const lastAxis = [attr('axes', [-1])];

  let h = g.addInput(new Value('x', tensorType(F, ['batch', WIDTH])));
  const blocks = Math.max(1, Math.ceil((nodes - constantChain) / NODES_PER_BLOCK));
  for (let b = 0; b < blocks; b++) {
    const centered = op('Sub', [h, op('ReduceMean', [h], lastAxis)]);
    const variance = op('ReduceMean', [op('Pow', [centered, two])], lastAxis);
    const normalized = op('Div', [centered, op('Sqrt', [op('Add', [variance, epsilon])])]);
    const norm = op('Add', [op('Mul', [normalized, gamma]), beta]);
    const gelu = op('Mul', [op('Mul', [norm, op('Add', [op('Erf', [op('Div', [norm, sqrt2])]), one])]), half]);
    const copied = op('Identity', [gelu]);
    op('Neg', [copied]);
    h = op('Add', [op('Relu', [copied]), op('Relu', [copied])]);
    if (b === blocks - 1) h = op('Add', [h, constant]);
  }
  h.type = tensorType(F, ['batch', WIDTH]);
  g.outputs.push(h);
  // As exporters write them: every intermediate value annotated in value_info.
  for (const n of g.nodes) {
    const v = n.output(0);
    if (v === h) continue;
    v.type = tensorType(
      F,
      n.inputs.every((i) => i?.initializer) ? [WIDTH] : ['batch', n.opType === 'ReduceMean' ? 1 : WIDTH],
    );
    g.valueInfo.push(v);
  }
  return { model, blocks, constantChain };
}
