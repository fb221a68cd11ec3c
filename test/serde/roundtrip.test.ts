// IR -> bytes -> IR: a model built in code with every feature the schema carries survives encode/decode with the
// same structure, encoding is deterministic, and decoded graphs have consistent use-def chains.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { attr, encodeString, type Attribute } from '../../src/ir/attribute.js';
import { Graph, Node, Value } from '../../src/ir/graph.js';
import { Model, OnnxFunction } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';
import { tensorType, type ValueType } from '../../src/ir/types.js';
import { decodeModel } from '../../src/serde/decode.js';
import { encodeModel } from '../../src/serde/encode.js';
import { DataType } from '../../src/tensor/dtype.js';
import { describeModel, useDefProblems } from '../helpers/describe-ir.js';
import { onnxProtoDecoder } from '../helpers/normalize.js';

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

const f32 = (name: string, dims: number[], values: number[]) => Tensor.fromArray(name, DataType.FLOAT, dims, values);
const i64 = (name: string, values: bigint[]) =>
  Tensor.fromArray(name, DataType.INT64, [values.length], values as unknown as number[]);

/** If with outer-scope references: each branch reads the outer graph's `x` (and `then` the outer `one`). */
function ifBranches(parent: Graph, x: Value, one: Value): { then: Graph; else: Graph } {
  const thenBranch = new Graph('then_branch', parent);
  const bias = thenBranch.addInitializer('then_bias', f32('', [1], [0.5]));
  const sum = thenBranch.createNode({ opType: 'Add', inputs: [x, one], name: 'then_add' }).output();
  const out = thenBranch.createNode({ opType: 'Add', inputs: [sum, bias], name: 'then_bias_add' }).output();
  out.type = tensorType(DataType.FLOAT, ['batch', 4]);
  thenBranch.outputs.push(out);

  const elseBranch = new Graph('else_branch', parent);
  const neg = elseBranch.createNode({ opType: 'Neg', inputs: [x], name: 'else_neg' }).output();
  neg.type = tensorType(DataType.FLOAT, ['batch', 4]);
  elseBranch.outputs.push(neg);
  return { then: thenBranch, else: elseBranch };
}

/** local::Scale(a) = a * alpha + beta, alpha a required attribute, beta one with a default. */
function scaleFunction(): OnnxFunction {
  const f = new OnnxFunction('local', 'Scale');
  f.overload = 'v1';
  f.docString = 'a * alpha + beta';
  f.metadataProps = [['function.key', 'function.value']];
  f.attributeNames = ['alpha'];
  f.attributeDefaults = [{ name: 'beta', type: 'float', value: 0.25 }];
  f.opsetImports = [{ domain: '', version: 21 }];
  const body = f.body;
  const a = body.addInput(new Value('a'));
  const alpha = body
    .createNode({
      opType: 'Constant',
      name: 'alpha_const',
      attributes: [{ name: 'value_float', type: 'ref', refType: 'float', refAttrName: 'alpha' }],
    })
    .output();
  const beta = body
    .createNode({
      opType: 'Constant',
      name: 'beta_const',
      attributes: [{ name: 'value_float', type: 'ref', refType: 'float', refAttrName: 'beta' }],
    })
    .output();
  const scaled = body.createNode({ opType: 'Mul', inputs: [a, alpha], name: 'scale_mul' }).output();
  scaled.type = tensorType(DataType.FLOAT, []);
  body.valueInfo.push(scaled);
  body.outputs.push(body.createNode({ opType: 'Add', inputs: [scaled, beta], name: 'shift_add' }).output());
  return f;
}

/** A node carrying one attribute of every type. */
function everyAttribute(g: Graph): Attribute[] {
  const sub = new Graph('attr_graph', g);
  const c = sub.createNode({ opType: 'Constant', attributes: [{ name: 'value_int', type: 'int', value: 7 }] }).output();
  sub.outputs.push(c);
  const sub2 = new Graph('attr_graph_2', g);
  sub2.outputs.push(sub2.createNode({ opType: 'Constant', attributes: [attr('value_float', 1.5)] }).output());
  const sparse = { values: f32('sp_values', [2], [1, -2]), indices: i64('sp_indices', [1n, 3n]), dims: [4] };
  const seqType: ValueType = { kind: 'sequence', elem: tensorType(DataType.FLOAT16, [2]) };
  return [
    { name: 'f', type: 'float', value: -0.125, docString: 'a float' },
    { name: 'i', type: 'int', value: INT64_MAX },
    { name: 's', type: 'string', value: encodeString('héllo') },
    { name: 't', type: 'tensor', value: f32('attr_tensor', [2, 2], [1, 2, 3, Number.NaN]) },
    { name: 'g', type: 'graph', value: sub },
    { name: 'sparse_tensor', type: 'sparse_tensor', value: sparse },
    { name: 'tp', type: 'type_proto', value: tensorType(DataType.INT4, [3, 'n', undefined]) },
    { name: 'floats', type: 'floats', value: [0, -0, Infinity, 3.5] },
    { name: 'ints', type: 'ints', value: [INT64_MAX, INT64_MIN, 2n ** 53n + 1n, -1, 0] },
    { name: 'strings', type: 'strings', value: [encodeString(''), encodeString('b'), Uint8Array.of(0xff, 0)] },
    { name: 'tensors', type: 'tensors', value: [i64('ta', [INT64_MIN]), f32('tb', [], [2])] },
    { name: 'graphs', type: 'graphs', value: [sub2] },
    { name: 'sparse_tensors', type: 'sparse_tensors', value: [sparse, { ...sparse, dims: [2, 2] }] },
    {
      name: 'type_protos',
      type: 'type_protos',
      value: [seqType, { kind: 'map', keyType: DataType.STRING, value: tensorType(DataType.FLOAT, []) }],
    },
  ];
}

function buildModel(): Model {
  const m = new Model(new Graph('main'));
  m.irVersion = 11;
  m.opsetImports = [
    { domain: '', version: 21 },
    { domain: 'local', version: 1 },
    { domain: 'test.attrs', version: 1 },
  ];
  m.producerName = 'onnx-opt tests';
  m.producerVersion = '0.1';
  m.domain = 'test';
  m.modelVersion = 3;
  m.docString = 'every feature';
  m.metadataProps = [
    ['model.key', 'model.value'],
    ['empty', ''],
  ];
  m.functions = [scaleFunction()];
  m.configuration = [{ name: 'pair', num_devices: 2, device: ['cpu:0', 'cpu:1'] }];
  m.trainingInfo = [
    {
      initialization: {
        name: 'init',
        node: [{ op_type: 'Constant', output: ['w_init'], attribute: [{ name: 'value_float', type: 1, f: 1 }] }],
      },
      algorithm: { name: 'step', node: [{ op_type: 'Identity', input: ['w'], output: ['w_next'] }] },
      initialization_binding: [{ key: 'w', value: 'w_init' }],
      update_binding: [{ key: 'w', value: 'w_next' }],
    },
  ];

  const g = m.graph;
  g.docString = 'main graph';
  g.metadataProps = [['graph.key', 'graph.value']];
  const x = g.addInput(new Value('x', tensorType(DataType.FLOAT, ['batch', 4])));
  x.docString = 'the input';
  x.metadataProps = [['value.key', 'value.value']];
  const cond = g.addInput(new Value('cond', { ...tensorType(DataType.BOOL, []), denotation: 'FLAG' }));
  g.addInput(
    new Value('seq', {
      kind: 'sequence',
      elem: { kind: 'tensor', elemType: DataType.FLOAT, shape: [{ value: 2, denotation: 'BATCH' }] },
    }),
  );
  g.addInput(new Value('maybe', { kind: 'optional', elem: tensorType(DataType.INT64, []) }));
  g.addInput(new Value('sparse_in', { kind: 'sparse_tensor', elemType: DataType.FLOAT, shape: [{ value: 10 }] }));

  const one = g.addInitializer('one', f32('', [1], [1]));
  one.initializer!.docString = 'the constant one';
  one.initializer!.metadataProps = [['tensor.key', 'tensor.value']];
  const starts = g.addInitializer('starts', i64('', [0n]));
  const ends = g.addInitializer('ends', i64('', [INT64_MAX]));
  g.addInitializer(
    'words',
    new Tensor('', DataType.STRING, [3], [encodeString('a'), encodeString(''), Uint8Array.of(0xc3, 0xa9)]),
  );
  g.addInitializer('half', Tensor.fromArray('', DataType.FLOAT16, [4], Uint16Array.of(0x3c00, 0x8000, 0x7c00, 0x7e01)));
  g.addInitializer('nibbles', new Tensor('', DataType.INT4, [3], Uint8Array.of(0x8f, 0x07)));
  g.addInitializer('bf16', Tensor.fromArray('', DataType.BFLOAT16, [1], Uint16Array.of(0x3f80)));
  const segmented = g.addInitializer('segmented', f32('', [2], [1, 2]));
  segmented.initializer!.segment = { begin: 0, end: 2 };
  // Past the encoder's streaming threshold, so this one is framed by hand.
  g.addInitializer(
    'big',
    f32(
      '',
      [20000],
      Array.from({ length: 20000 }, (_, i) => i / 7),
    ),
  );
  g.sparseInitializers.push({
    values: f32('sparse_w', [2], [3, 4]),
    indices: i64('sparse_w_indices', [0n, 7n]),
    dims: [2, 4],
  });

  const sliced = g.createNode({ opType: 'Slice', inputs: [x, starts, ends], name: 'slice' }).output();
  sliced.type = tensorType(DataType.FLOAT, ['batch', 4]);
  sliced.docString = 'annotated intermediate';
  sliced.metadataProps = [['vi.key', 'vi.value']];
  g.valueInfo.push(sliced);
  const branches = ifBranches(g, x, one);
  const chosen = g
    .createNode({
      opType: 'If',
      inputs: [cond],
      name: 'choose',
      attributes: [
        { name: 'then_branch', type: 'graph', value: branches.then },
        { name: 'else_branch', type: 'graph', value: branches.else },
      ],
    })
    .output();
  const scaled = g.createNode({
    opType: 'Scale',
    domain: 'local',
    inputs: [chosen],
    name: 'call',
    attributes: [attr('alpha', 2, true)],
  });
  scaled.overload = 'v1';
  scaled.docString = 'calls a function';
  scaled.metadataProps = [['node.key', 'node.value']];
  scaled.deviceConfigurations = [
    {
      configuration_id: 'pair',
      sharding_spec: [
        {
          tensor_name: 'x',
          device: [0, 1],
          sharded_dim: [{ axis: 0, simple_sharding: [{ dim_value: 4, num_shards: 2 }] }],
        },
      ],
      pipeline_stage: 1,
    },
  ];
  const big = g
    .createNode({
      opType: 'Constant',
      name: 'big_ints',
      attributes: [{ name: 'value_ints', type: 'ints', value: [INT64_MAX, INT64_MIN] }],
    })
    .output();
  const everything = g.createNode({
    opType: 'Everything',
    domain: 'test.attrs',
    inputs: [sliced, null, big],
    outputs: 2,
    attributes: everyAttribute(g),
  });
  g.quantizationAnnotations = [{ tensorName: sliced.name, quantParameterTensorNames: [['SCALE_TENSOR', 'one']] }];
  g.outputs.push(scaled.output(), sliced, everything.output(1), x);
  scaled.output().type = tensorType(DataType.FLOAT, ['batch', 4]);
  return m;
}

describe('serde round trip of a model built in code', () => {
  const model = buildModel();
  const bytes = encodeModel(model);
  const decoded = decodeModel(bytes);

  it('decodes to the same structure', () => {
    expect(describeModel(decoded)).toEqual(describeModel(model));
  });

  it('encodes deterministically: encode -> decode -> encode gives the same bytes', () => {
    expect(Buffer.from(encodeModel(buildModel())).equals(bytes)).toBe(true);
    const again = encodeModel(decoded);
    expect(Buffer.from(again).equals(bytes)).toBe(true);
    expect(Buffer.from(encodeModel(decodeModel(again))).equals(bytes)).toBe(true);
  });

  it('writes bytes that an independent decoder reads', () => {
    const proto = onnxProtoDecoder.decode(bytes) as { graph: { initializer: { name: string; elements: string[] }[] } };
    const ends = proto.graph.initializer.find((t) => t.name === 'ends')!;
    expect(ends.elements).toEqual(['7fffffffffffffff']);
    const big = proto.graph.initializer.find((t) => t.name === 'big')!;
    expect(big.elements).toHaveLength(20000);
  });

  it('keeps int64 values beyond 2^53 exactly', () => {
    const ends = decoded.graph.initializers.find((v) => v.name === 'ends')!.initializer!;
    expect([...(ends.typed() as BigInt64Array)]).toEqual([INT64_MAX]);
    const constant = decoded.graph.nodes.find((n) => n.name === 'big_ints')!;
    expect(constant.attributes.get('value_ints')).toMatchObject({ type: 'ints', value: [INT64_MAX, INT64_MIN] });
    const everything = decoded.graph.nodes.find((n) => n.opType === 'Everything')!;
    expect(everything.attributes.get('i')).toMatchObject({ type: 'int', value: INT64_MAX });
    expect(everything.attributes.get('ints')).toMatchObject({ value: [INT64_MAX, INT64_MIN, 2n ** 53n + 1n, -1, 0] });
  });

  it('keeps NaN and negative zero bits in tensors', () => {
    const half = decoded.graph.initializers.find((v) => v.name === 'half')!.initializer!;
    expect([...(half.typed() as Uint16Array)]).toEqual([0x3c00, 0x8000, 0x7c00, 0x7e01]);
    const t = decoded.graph.nodes.find((n) => n.opType === 'Everything')!.attrTensor('t')!;
    expect(Number.isNaN(t.toNumbers()[3])).toBe(true);
  });

  it('links subgraph reads of outer values to the outer values', () => {
    const x = decoded.graph.inputs[0]!;
    const ifNode = decoded.graph.nodes.find((n) => n.opType === 'If')!;
    const [thenBranch, elseBranch] = ifNode.subgraphs();
    expect(thenBranch!.parent).toBe(decoded.graph);
    expect(thenBranch!.nodes[0]!.inputs[0]).toBe(x);
    expect(elseBranch!.nodes[0]!.inputs[0]).toBe(x);
    const readers = x.uses.map((u) => u.node.name).sort();
    expect(readers).toEqual(['else_neg', 'slice', 'then_add']);
    expect(thenBranch!.outerValuesUsed()).toEqual(
      new Set([x, decoded.graph.initializers.find((v) => v.name === 'one')]),
    );
  });

  it('has consistent use-def chains after decoding', () => {
    expect(useDefProblems(decoded.graph)).toEqual([]);
    for (const f of decoded.functions) expect(useDefProblems(f.body)).toEqual([]);
    const slice = decoded.graph.nodes.find((n) => n.name === 'slice')!;
    expect(slice.output().producer).toBe(slice);
    expect(slice.output().uses.map((u) => [u.node.opType, u.index])).toEqual([['Everything', 0]]);
    const absent = decoded.graph.nodes.find((n) => n.opType === 'Everything')!.inputs[1];
    expect(absent).toBeNull();
  });

  it('reads a value produced later in the file (nodes out of order)', () => {
    const g = new Graph('unordered');
    const m = new Model(g);
    const x = g.addInput(new Value('x', tensorType(DataType.FLOAT, [1])));
    const y = new Value('y');
    const late = new Node({ opType: 'Neg', inputs: [x], outputs: [y], name: 'late' });
    const early = g.createNode({ opType: 'Relu', inputs: [y], name: 'early' });
    g.insertNode(late);
    g.outputs.push(early.output());
    const back = decodeModel(encodeModel(m));
    expect(back.graph.nodes.map((n) => n.name)).toEqual(['early', 'late']);
    expect(back.graph.nodes[0]!.inputs[0]).toBe(back.graph.nodes[1]!.outputs[0]);
    expect(useDefProblems(back.graph)).toEqual([]);
  });
});

describe('serde details', () => {
  it('keeps opaque types', () => {
    const g = new Graph('g');
    const x = g.addInput(new Value('x', { kind: 'opaque', domain: 'com.example', name: 'Handle' }));
    g.outputs.push(x);
    const m = new Model(g);
    m.opsetImports = [{ domain: '', version: 17 }];
    const back = decodeModel(encodeModel(m));
    expect(back.graph.inputs[0]!.type).toEqual({ kind: 'opaque', domain: 'com.example', name: 'Handle' });
  });

  it('writes an unchanged exported model back byte for byte (fields in field-number order)', () => {
    const file = 'fixtures/bert-sdpa-dynamo18.onnx';
    const bytes = readFileSync(file);
    expect(Buffer.compare(Buffer.from(encodeModel(decodeModel(bytes))), bytes)).toBe(0);
  });
});
