// The pass model: declared options (one parser for the CLI's text and the library's values), `with`, needs,
// sequences (options, stats, notes and --disable derived from the step list), the CLI flags made from declarations,
// and the graph's one replacement primitive.
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { allPasses } from '../../passes/index.js';
import { fusePass } from '../../passes/fuse.js';
import { quantizePass } from '../../passes/quantize.js';
import { passOptionFlags } from '../../src/cli/commands/pipeline.js';
import { OnnxOptError } from '../../src/errors.js';
import { Graph, Model, Value, tensorType } from '../../src/ir/index.js';
import { definePass, option, sequence, tidy, type Pass, type PassResult } from '../../src/pass/index.js';
import { DataType } from '../../src/tensor/dtype.js';

const F = DataType.FLOAT;

/** x -> Relu -> Relu -> y, the second Relu's output being the graph output. */
function reluChain(): { model: Model; x: Value; first: Value; second: Value } {
  const graph = new Graph('main');
  const model = new Model(graph);
  model.opsetImports = [{ domain: '', version: 17 }];
  const x = graph.addInput(new Value('x', tensorType(F, ['batch', 4])));
  const first = graph.createNode({ opType: 'Relu', inputs: [x], name: 'first' }).output(0);
  const second = graph.createNode({ opType: 'Relu', inputs: [first], name: 'second' }).output(0);
  second.type = tensorType(F, ['batch', 4]);
  graph.outputs.push(second);
  return { model, x, first, second };
}

const OPTIONS = {
  size: option.int('a size', { default: 4, min: 1 }),
  scale: option.number('a scale', { above: 0 }),
  mode: option.enum('a mode', ['fast', 'exact'], { default: 'fast' }),
  label: option.string('a label'),
  strict: option.boolean('be strict'),
  loose: option.boolean('be loose', { default: true }),
  names: option.list('some names', { choices: ['a', 'b', 'c'] }),
};

/** A pass that records the settings it ran with. */
function recorder(name = 'recorder', seen: unknown[] = []) {
  return definePass({
    name,
    description: 'records its settings',
    options: OPTIONS,
    run(_model, context): PassResult {
      seen.push(context.options);
      return { changed: false, stats: { runs: 1 }, notes: [`ran with size ${context.options.size}`] };
    },
  });
}

const ctx = (options: Record<string, unknown> = {}) => ({ options, log: () => {} });

describe('declared options', () => {
  it('apply defaults: booleans false, lists empty, others undefined unless declared', () => {
    expect(recorder().settings({})).toEqual({
      size: 4,
      scale: undefined,
      mode: 'fast',
      label: undefined,
      strict: false,
      loose: true,
      names: [],
    });
  });

  it('parse the CLI text and the library values alike', () => {
    const fromText = recorder().settings({
      size: '8',
      scale: '0.5',
      mode: 'exact',
      names: 'a,b',
      strict: true,
      loose: false,
    });
    const fromValues = recorder().settings({
      size: 8,
      scale: 0.5,
      mode: 'exact',
      names: ['a', 'b'],
      strict: true,
      loose: false,
    });
    expect(fromText).toEqual(fromValues);
    expect(recorder().settings({ names: ['a,b', ' c '] }).names).toEqual(['a', 'b', 'c']);
  });

  it.each([
    [{ size: '1.5' }, /--size must be an integer, not '1.5'/],
    [{ size: 0 }, /--size must be an integer of at least 1, not 0/],
    [{ scale: 0 }, /--scale must be a number above 0, not 0/],
    [{ scale: 'much' }, /--scale must be a number, not 'much'/],
    [{ mode: 'slow' }, /--mode must be one of fast, exact, not 'slow'/],
    [{ strict: 'yes' }, /--strict must be true or false/],
    [{ names: 'a,d' }, /--names: 'd' is not one of a, b, c/],
    [{ names: [1] }, /--names must be a list of names/],
  ])('refuse %o with one clear line', (given, message) => {
    expect(() => recorder().settings(given)).toThrow(OnnxOptError);
    expect(() => recorder().settings(given)).toThrow(message);
  });

  it('are set with `with`, checked when set, and win over what the caller gives', () => {
    const seen: unknown[] = [];
    const pass = recorder('r', seen).with({ size: 16, names: ['c'] });
    pass.run(reluChain().model, ctx({ size: 2, mode: 'exact' }));
    expect(seen[0]).toMatchObject({ size: 16, names: ['c'], mode: 'exact' });
    expect(() => recorder().with({ size: -1 })).toThrow(/--size must be an integer of at least 1/);
    // @ts-expect-error: 'slow' is not a declared choice
    expect(() => recorder().with({ mode: 'slow' })).toThrow(OnnxOptError);
    // @ts-expect-error: no such option
    recorder().with({ sizes: 3 });
  });
});

describe('needs', () => {
  it('runs shape inference before a pass that needs shapes, and after one that leaves them', () => {
    const typedWhenRun: boolean[] = [];
    const probe = (needs: readonly 'shapes'[], leaves: readonly 'shapes'[] = []) =>
      definePass({
        name: 'probe',
        description: 'looks at the first Relu',
        needs,
        leaves,
        run(model) {
          typedWhenRun.push(model.graph.nodes[0]!.output(0).type !== undefined);
          return { changed: false, stats: {} };
        },
      });
    const plain = reluChain();
    probe([]).run(plain.model, ctx());
    const withNeed = reluChain();
    probe(['shapes']).run(withNeed.model, ctx());
    expect(typedWhenRun).toEqual([false, true]);
    const leaving = reluChain();
    probe([], ['shapes']).run(leaving.model, ctx());
    expect(leaving.first.type).toEqual(tensorType(F, ['batch', 4]));
  });

  it('infers only where a `shapesIf` test asks for it', () => {
    const asked: boolean[] = [];
    const pass = (answer: boolean) =>
      definePass({
        name: 'maybe',
        description: 'needs shapes when told',
        needs: [{ shapesIf: () => (asked.push(answer), answer) }],
        run: () => ({ changed: false, stats: {} }),
      });
    const no = reluChain();
    pass(false).run(no.model, ctx());
    const yes = reluChain();
    pass(true).run(yes.model, ctx());
    expect([no.first.type, yes.first.type !== undefined]).toEqual([undefined, true]);
  });

  it('are met without inferring again in a sequence when nothing changed the model since shapes were inferred', () => {
    // `untype` drops the first Relu's type: inference gives it back, so whether it ran shows in what `look` sees.
    // Reporting no change there (a pass that lies) shows the skip.
    const seen: boolean[] = [];
    const leaver = definePass({
      name: 'leaver',
      description: 'leaves shapes',
      leaves: ['shapes'],
      run: () => ({ changed: false, stats: {} }),
    });
    const untype = (reportsChange: boolean, keepsShapes = false) =>
      definePass({
        name: 'untype',
        description: 'forgets a type',
        keepsShapes,
        run(model) {
          model.graph.nodes[0]!.output(0).type = undefined;
          return { changed: reportsChange, stats: {} };
        },
      });
    const look = definePass({
      name: 'look',
      description: 'needs shapes',
      needs: ['shapes'],
      run(model) {
        seen.push(model.graph.nodes[0]!.output(0).type !== undefined);
        return { changed: false, stats: {} };
      },
    });
    sequence('honest', { description: '', steps: [leaver, untype(true), look] }).run(reluChain().model, ctx());
    sequence('lying', { description: '', steps: [leaver, untype(false), look] }).run(reluChain().model, ctx());
    // a pass declaring keepsShapes (wrongly here) is trusted the same way, changed or not
    sequence('keeping', { description: '', steps: [leaver, untype(true, true), look] }).run(reluChain().model, ctx());
    // outside a sequence, what ran before is never trusted
    const { model } = reluChain();
    sequence('alone', { description: '', steps: [leaver] }).run(model, ctx());
    untype(false).run(model, ctx());
    look.run(model, ctx());
    expect(seen).toEqual([true, false, false, true]);
  });
});

describe('sequence', () => {
  const counter = (name: string, stat: string): Pass =>
    definePass({
      name,
      description: name,
      run: () => ({ changed: true, stats: { [stat]: 1 }, notes: [`${name} ran`] }),
    });

  it("sums its reported steps' stats, prefixes their notes, leaves tidy steps out, and takes their options", () => {
    const seen: unknown[] = [];
    const seq = sequence('seq', {
      description: 'a sequence',
      steps: [
        tidy(counter('tidy-step', 'tidied')),
        counter('seq-one', 'n'),
        recorder('seq-two', seen),
        counter('three', 'n'),
      ],
      disable: true,
    });
    const result = seq.run(reluChain().model, ctx({ size: '6' }));
    expect(result.stats).toEqual({ n: 2, runs: 1 });
    expect(result.notes).toEqual(['seq-one: seq-one ran', 'seq-two: ran with size 6', 'three: three ran']);
    expect(Object.keys(seq.options)).toEqual(expect.arrayContaining(['size', 'mode', 'disable']));
    expect(seq.with({ size: 5 }).settings({}).size).toBe(5);
  });

  it('takes --disable with step names, short or full, and refuses others', () => {
    const seq = sequence('seq', {
      description: 'a sequence',
      steps: [tidy(counter('tidy-step', 'tidied')), counter('seq-one', 'one'), counter('three', 'three')],
      disable: true,
    });
    expect(seq.run(reluChain().model, ctx({ disable: 'one' })).stats).toEqual({ three: 1 });
    expect(seq.run(reluChain().model, ctx({ disable: ['seq-one', 'three'] })).stats).toEqual({});
    expect(() => seq.run(reluChain().model, ctx({ disable: 'tidy-step' }))).toThrow(
      /--disable: 'tidy-step' is not one of one, seq-one, three/,
    );
  });

  it('skips an `unless` step when its option is set, and an `onlyAfterChange` step after no change', () => {
    const unchanged = definePass({
      name: 'still',
      description: 'changes nothing',
      run: () => ({ changed: false, stats: {} }),
    });
    const seq = sequence('seq', {
      description: 'a sequence',
      options: { keep: option.boolean('skip the second step') },
      steps: [
        unchanged,
        { pass: counter('second', 'second'), unless: 'keep' },
        { pass: counter('third', 'third'), onlyAfterChange: true },
      ],
    });
    expect(seq.run(reluChain().model, ctx()).stats).toEqual({ second: 1, third: 1 });
    expect(seq.with({ keep: true }).run(reluChain().model, ctx()).stats).toEqual({});
  });

  it('refuses steps that declare one option with two types', () => {
    const other = definePass({
      name: 'other',
      description: 'x',
      options: { size: option.string('a size, as text') },
      run: () => ({ changed: false, stats: {} }),
    });
    expect(() => sequence('seq', { description: 'x', steps: [recorder(), other] })).toThrow(
      /option 'size' is declared as int and as string/,
    );
  });

  it("is how fuse and quantize are made: their steps' names are what --disable takes", () => {
    expect(fusePass.options.disable.choices).toEqual(
      expect.arrayContaining(['attention', 'fuse-attention', 'gelu', 'skip-layer-norm']),
    );
    expect(Object.keys(fusePass.options)).toEqual(expect.arrayContaining(['numHeads', 'hiddenSize', 'disable']));
    expect(Object.keys(quantizePass.options)).toEqual(
      expect.arrayContaining(['keepSkipLayerNorm', 'perChannel', 'ops']),
    );
  });
});

describe('CLI flags from the declarations', () => {
  it('makes one flag per option, --no-x for booleans that default to true, and parses to the same settings', () => {
    const flags = passOptionFlags([recorder()]);
    expect(flags.map((f) => f.flags)).toEqual([
      '--size <int>',
      '--scale <number>',
      '--mode <choice>',
      '--label <string>',
      '--strict',
      '--loose',
      '--no-loose',
      '--names <list>',
    ]);
    const program = new Command().exitOverride();
    for (const f of flags) program.addOption(f);
    const given = program.parse(['--size', '8', '--no-loose', '--names', 'a,b'], { from: 'user' }).opts();
    expect(recorder().settings(given)).toMatchObject({ size: 8, loose: false, names: ['a', 'b'] });
  });

  it('every pass the CLI knows declares its options without conflicts', () => {
    expect(() => passOptionFlags(allPasses)).not.toThrow();
    const clash = definePass({
      name: 'clash',
      description: 'x',
      options: { numHeads: option.string('heads, as text') },
      run: () => ({ changed: false, stats: {} }),
    });
    expect(() => passOptionFlags([...allPasses, clash])).toThrow(
      /--num-heads is int in fuse, fuse-attention but string in clash/,
    );
  });
});

describe('graph.replace', () => {
  it('moves uses, gives a created replacement the old name and type, and removes what died', () => {
    const { model, x, first, second } = reluChain();
    const graph = model.graph;
    first.type = tensorType(F, ['batch', 4]);
    graph.valueInfo.push(first);
    const made = graph.createNode({ opType: 'Sigmoid', inputs: [x], name: 'made', before: first.producer! });
    graph.replace({ outputs: [[first, made.output(0)]], created: [made], removeIfDead: [first.producer!] });
    expect(made.output(0).name).toBe('first_output_0');
    expect(made.output(0).type).toEqual(first.type);
    expect(graph.valueInfo).toEqual([made.output(0)]);
    expect(graph.nodes.map((n) => n.name)).toEqual(['made', 'second']);
    expect(second.producer!.input(0)).toBe(made.output(0));
  });

  it("keeps names where the rewrite did not make the replacement, and keeps a graph output's name", () => {
    const { model, x, second } = reluChain();
    const graph = model.graph;
    graph.replace({ outputs: [[second, x]], removeIfDead: graph.nodes });
    expect(graph.outputs[0]!.name).toBe('second_output_0');
    expect(graph.nodes.map((n) => n.opType)).toEqual(['Identity']);
  });

  it('refuses to remove a node something outside still reads', () => {
    const { model, first } = reluChain();
    expect(() => model.graph.replace({ outputs: [], remove: [first.producer!] })).toThrow(/still used/);
  });
});
