import { describe, expect, it } from 'vitest';
import { cleanPass } from '../../passes/clean.js';
import { fuseGeluPass } from '../../passes/fuse-gelu.js';
import { fuseLayerNormPass } from '../../passes/fuse-layer-norm.js';
import type { Value } from '../../src/ir/graph.js';
import {
  buildModel,
  expectFusion,
  nearMisses,
  opCounts,
  opsOf,
  randomFloats,
  runPass,
  type GraphMaker,
} from '../kit/index.js';
import { fixtureDifferences, fixtureNames, fuseFixture, manifest, reportTable } from './fusion-helpers.js';

const SHAPE = [2, 3, 8];
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const KAPPA = 0.044715;

/** An activation of x written with plain ops. */
type Activation = (g: GraphMaker, x: Value) => Value;
type Grouping = '(0.5·x)·(1+f)' | '(x·(1+f))·0.5' | '(0.5·(1+f))·x';

/** 0.5 · x · onePlus, multiplied in the given grouping. */
function halfX(g: GraphMaker, x: Value, onePlus: Value, grouping: Grouping): Value {
  const half = g.init('half', 0.5);
  const mul = (a: Value, b: Value, name?: string) => g.op('Mul', [a, b], name ? { name } : {});
  if (grouping === '(0.5·x)·(1+f)') return mul(mul(half, x), onePlus, 'y');
  if (grouping === '(x·(1+f))·0.5') return mul(mul(x, onePlus), half, 'y');
  return mul(mul(half, onePlus), x, 'y');
}

function erfGelu(
  grouping: Grouping,
  scaling: 'Div' | 'Mul' = 'Div',
  scale = scaling === 'Div' ? Math.SQRT2 : Math.SQRT1_2,
): Activation {
  return (g, x) => {
    const erf = g.op('Erf', [g.op(scaling, [x, g.init('scale', scale)], { name: 'scaled' })], { name: 'erf' });
    return halfX(g, x, g.op('Add', [erf, g.init('one', 1)], { name: 'one_plus' }), grouping);
  };
}

/** The tanh argument forms exporters and activations write, with their constants. */
const TANH_ARGUMENTS: Record<string, (g: GraphMaker, x: Value, c: number, k: number) => Value> = {
  'gelu_new: c·(x + k·x^3), Pow': (g, x, c, k) =>
    g.op('Mul', [
      g.op('Add', [x, g.op('Mul', [g.op('Pow', [x, g.init('three', 3)]), g.init('k', k)])]),
      g.init('c', c),
    ]),
  'torch tanh gelu: c·(x + k·(x·(x·x)))': (g, x, c, k) =>
    g.op('Mul', [
      g.init('c', c),
      g.op('Add', [x, g.op('Mul', [g.init('k', k), g.op('Mul', [x, g.op('Mul', [x, x])])])]),
    ]),
  'gelu_fast: (x·c)·(1 + (k·x)·x)': (g, x, c, k) =>
    g.op('Mul', [
      g.op('Mul', [x, g.init('c', c)]),
      g.op('Add', [g.init('one_k', 1), g.op('Mul', [g.op('Mul', [g.init('k', k), x]), x])]),
    ]),
  'c·(x·(1 + k·(x·x)))': (g, x, c, k) =>
    g.op('Mul', [
      g.init('c', c),
      g.op('Mul', [x, g.op('Add', [g.op('Mul', [g.init('k', k), g.op('Mul', [x, x])]), g.init('one_k', 1)])]),
    ]),
  "onnxruntime's body: x·(c + c·k·(x·x))": (g, x, c, k) =>
    g.op('Mul', [x, g.op('Add', [g.init('c', c), g.op('Mul', [g.init('ck', c * k), g.op('Mul', [x, x])])])]),
};

function tanhGelu(argument: string, grouping: Grouping, c = SQRT_2_OVER_PI, k = KAPPA): Activation {
  return (g, x) => {
    const tanh = g.op('Tanh', [TANH_ARGUMENTS[argument]!(g, x, c, k)], { name: 'tanh' });
    return halfX(g, x, g.op('Add', [g.init('one', 1), tanh], { name: 'one_plus' }), grouping);
  };
}

const quickGelu: Activation = (g, x) =>
  g.op('Mul', [g.op('Sigmoid', [g.op('Mul', [g.init('alpha', 1.702), x])]), x], { name: 'y' });

/**
 * x [2,3,8] through the activation, output y. `bias`: x is MatMul(input, W) + bias first; `biasLength` makes the
 * bias broadcast; `plainBias` adds the bias to the graph input itself.
 */
function activationModel(
  activation: Activation,
  opts: { bias?: boolean; biasLength?: number; plainBias?: boolean; alsoOutput?: string; opset?: number } = {},
) {
  return buildModel((g) => {
    const input = g.input('input', SHAPE);
    const bias = () => g.init('bias', Array.from(randomFloats(opts.biasLength ?? 8, 7)));
    let x = input;
    if (opts.bias)
      x = g.op(
        'Add',
        [g.op('MatMul', [input, g.init('w', Array.from(randomFloats(64, 3)), [8, 8])], { name: 'matmul' }), bias()],
        { name: 'biased' },
      );
    if (opts.plainBias) x = g.op('Add', [input, bias()], { name: 'biased' });
    const y = activation(g, x);
    g.output(y, SHAPE);
    if (opts.alsoOutput) g.output(g.graph.nodes.find((n) => n.name === opts.alsoOutput)!.output(0), SHAPE);
  }, opts.opset);
}

/** Exactly these ops, with parity, idempotence and determinism (the kit's expectFusion); output y kept. */
async function fuses(
  activation: Activation,
  ops: string[],
  tolerance: number,
  opts: Parameters<typeof activationModel>[1] = {},
) {
  const { model } = await expectFusion(fuseGeluPass, activationModel(activation, opts), { ops, tolerance });
  expect(model.graph.outputs.map((v) => v.name)).toEqual(['y']);
  expect(model.opsetVersion('com.microsoft')).toBe(1);
  return model;
}

/** A form left as it is, still running the same, with `note` among the near-misses of `rule`. */
async function refuses(model: ReturnType<typeof activationModel>, rule: string, note: string) {
  const { result } = await expectFusion(fuseGeluPass, model, { ops: opsOf(model.graph) });
  expect(result.changed).toBe(false);
  expect(nearMisses(result, rule)).toContain(note);
}

const GROUPINGS: Grouping[] = ['(0.5·x)·(1+f)', '(x·(1+f))·0.5', '(0.5·(1+f))·x'];

describe('fuse-gelu: Gelu (erf)', () => {
  it.each(GROUPINGS.flatMap((grouping) => (['Div', 'Mul'] as const).map((scaling) => [grouping, scaling] as const)))(
    '%s, x/√2 as %s: com.microsoft Gelu, same outputs',
    async (grouping, scaling) => {
      await fuses(erfGelu(grouping, scaling), ['com.microsoft::Gelu'], 1e-5);
    },
  );

  it('does not take a wrong scale, and explains why', async () => {
    const model = activationModel(erfGelu('(0.5·x)·(1+f)', 'Div', 2));
    await refuses(model, 'Gelu', "Gelu at 'y': the divisor is 2, expected 1.414214");
  });

  it('does not take a Gelu whose erf is read elsewhere', async () => {
    const model = activationModel(erfGelu('(0.5·x)·(1+f)'), { alsoOutput: 'erf' });
    await refuses(model, 'Gelu', "Gelu at 'y': intermediate 'erf' is a graph output");
  });
});

describe('fuse-gelu: opset 20, where ONNX has its own Gelu', () => {
  const onnxGelu =
    (approximate: 'none' | 'tanh'): Activation =>
    (g, x) =>
      g.op('Gelu', [x], { name: 'y', attrs: { approximate } });

  it('writes a Gelu without a bias as ONNX Gelu', async () => {
    await fuses(erfGelu('(0.5·x)·(1+f)'), ['Gelu'], 1e-5, { opset: 20 });
  });

  it("folds a MatMul bias into ONNX Gelu as BiasGelu, and into approximate 'tanh' as FastGelu", async () => {
    await fuses(onnxGelu('none'), ['MatMul', 'com.microsoft::BiasGelu'], 1e-5, { bias: true, opset: 20 });
    await fuses(onnxGelu('tanh'), ['MatMul', 'com.microsoft::FastGelu'], 1e-5, { bias: true, opset: 20 });
  });
});

describe('fuse-gelu: FastGelu (tanh)', () => {
  it.each(Object.keys(TANH_ARGUMENTS).map((argument, i) => [argument, GROUPINGS[i % 3]!] as const))(
    '%s, grouped %s: com.microsoft FastGelu, within 1e-4',
    async (argument, grouping) => {
      await fuses(tanhGelu(argument, grouping), ['com.microsoft::FastGelu'], 1e-4);
    },
  );

  it('takes constants rounded to six digits', async () => {
    await fuses(
      tanhGelu('gelu_new: c·(x + k·x^3), Pow', '(0.5·x)·(1+f)', 0.797885, 0.044715),
      ['com.microsoft::FastGelu'],
      1e-4,
    );
  });

  it('does not take another cubic coefficient, and explains why', async () => {
    const model = activationModel(tanhGelu('gelu_new: c·(x + k·x^3), Pow', '(0.5·x)·(1+f)', SQRT_2_OVER_PI, 0.05));
    const rule = 'FastGelu, tanh(c·(x+k·x³), x³ as Pow)';
    await refuses(model, rule, `${rule} at 'y': the cubic coefficient is 0.05, expected 0.04471500`);
  });
});

describe('fuse-gelu: QuickGelu', () => {
  it('x·sigmoid(1.702·x): com.microsoft QuickGelu with that alpha', async () => {
    const model = await fuses(quickGelu, ['com.microsoft::QuickGelu'], 1e-5);
    expect(model.graph.nodes[0]!.attributes.get('alpha')).toEqual({
      name: 'alpha',
      type: 'float',
      value: Math.fround(1.702),
    });
  });
});

describe('fuse-gelu: bias folding', () => {
  it('MatMul + bias into Gelu: BiasGelu(MatMul, bias)', async () => {
    const model = await fuses(erfGelu('(x·(1+f))·0.5'), ['MatMul', 'com.microsoft::BiasGelu'], 1e-5, { bias: true });
    expect(model.graph.nodes[1]!.inputs.map((v) => v?.name)).toEqual(['matmul', 'bias']);
  });

  it('MatMul + bias into FastGelu: FastGelu(MatMul, bias)', async () => {
    const model = await fuses(
      tanhGelu('gelu_new: c·(x + k·x^3), Pow', '(0.5·x)·(1+f)'),
      ['MatMul', 'com.microsoft::FastGelu'],
      1e-4,
      { bias: true },
    );
    expect(model.graph.nodes[1]!.inputs.map((v) => v?.name)).toEqual(['matmul', 'bias']);
  });

  it.each([
    [
      'a bias added to something other than a MatMul',
      { plainBias: true },
      ['Add', 'com.microsoft::Gelu'],
      "operand 0 ('input') does not fit 'x': not a MatMul output",
    ],
    [
      'a bias that broadcasts',
      { bias: true, biasLength: 1 },
      ['MatMul', 'Add', 'com.microsoft::Gelu'],
      'bias of length 1 does not match the last axis of the MatMul',
    ],
  ])('%s stays an Add before Gelu', async (_, opts, ops, reason) => {
    const { result } = await expectFusion(fuseGeluPass, activationModel(erfGelu('(0.5·x)·(1+f)'), opts), { ops });
    expect(nearMisses(result, 'Gelu bias into BiasGelu').join('\n')).toContain(reason);
  });
});

describe('fuse-gelu on the fixtures (after clean and fuse-layer-norm)', () => {
  const layers = manifest?.settings.layers ?? 0;
  const FAMILY = [
    'com.microsoft::Gelu',
    'com.microsoft::BiasGelu',
    'com.microsoft::FastGelu',
    'com.microsoft::QuickGelu',
  ];
  const rows = reportTable('fuse-gelu on the fixtures', ['fixture', 'activation', 'fused', 'max |diff|']);

  it.each(fixtureNames)(
    '%s: one Gelu-family op per layer, no erf or tanh form left, same outputs',
    async (name) => {
      const model = fuseFixture(name, [cleanPass, fuseLayerNormPass, fuseGeluPass], false);
      const counts = opCounts(model);
      const family = FAMILY.filter((op) => counts[op]);
      expect(family.reduce((n, op) => n + counts[op]!, 0)).toBe(layers);
      // The activation the model was configured with decides the op: erf GELU or a tanh approximation.
      const { config } = manifest!.models[name]!;
      const act = String(config.hidden_act ?? config.activation_function ?? config.activation);
      expect(family).toEqual(act === 'gelu' ? ['com.microsoft::BiasGelu'] : ['com.microsoft::FastGelu']);
      expect(counts.Erf ?? 0).toBe(0);
      expect(runPass(fuseGeluPass, model).changed).toBe(false);
      const { disabled } = await fixtureDifferences(name, model, ['disabled']);
      expect(disabled).toBeLessThan(1e-4);
      rows.push([
        name,
        act,
        family.map((op) => `${op.split('::')[1]}×${counts[op]}`).join(' '),
        disabled.toExponential(1),
      ]);
    },
    30_000,
  );
});
