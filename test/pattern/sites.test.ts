// The probe-verified fusion driver on a toy fusion: Mul(v, c) by a constant becomes com.example::Scale(v). The
// fusion's parts record what the driver asks of them, so each test reads what the driver promises.
import { describe, expect, it } from 'vitest';
import type { Graph, Node } from '../../src/ir/graph.js';
import type { Model } from '../../src/ir/model.js';
import { fuseProbedSites, replaceSite, type ProbedFusion } from '../../src/pattern/index.js';
import { buildModel, opsOf } from '../kit/index.js';

/** x -> Mul(·, c) per factor, named m1, m2, ... */
function chain(factors: number[]): Model {
  return buildModel((g) => {
    let v = g.input('x');
    factors.forEach((c, i) => (v = g.op('Mul', [v, g.init(`c${i + 1}`, c)], { name: `m${i + 1}` })));
    g.output(v);
  });
}

interface Calls {
  probes: string[];
  verified: string[];
  carried: string[];
  /** How many Scale nodes the graph held each time verify ran. */
  scalesAtVerify: number[];
}

/** The toy fusion; `override` replaces any part. */
function scaleFusion(
  calls: Calls,
  override: Partial<ProbedFusion<Node, { factor: number }, string>> = {},
): ProbedFusion<Node, { factor: number }, string> {
  return {
    op: 'Scale',
    find: (graph: Graph) => ({ sites: graph.nodes.filter((n) => n.opType === 'Mul') }),
    at: (mul) => mul,
    probes: (graph, sites, kind) => {
      calls.probes.push(`${graph.name}:${kind}:${sites.length}`);
      return 'probe';
    },
    verify: (mul) => {
      calls.verified.push(mul.name);
      calls.scalesAtVerify.push(mul.graph!.nodes.filter((n) => n.opType === 'Scale').length);
      const c = mul.input(1).constantTensor()?.toNumbers()[0];
      return c === undefined ? 'no constant factor' : { factor: c };
    },
    rewrite: (mul, { factor }, graph) => {
      const scale = graph.createNode({
        opType: 'Scale',
        domain: 'com.example',
        inputs: [mul.input(0)],
        attributes: [{ name: 'factor', type: 'float', value: factor }],
        name: `${mul.name}/Scale`,
        before: mul,
      });
      replaceSite(graph, [[mul.output(0), scale.output(0)]], [mul.input(0)]);
      return scale;
    },
    ...override,
  };
}

const fresh = (): Calls => ({ probes: [], verified: [], carried: [], scalesAtVerify: [] });

describe('fuseProbedSites', () => {
  it('verifies every site before rewriting any, counts the ops made and imports their domain', () => {
    const model = chain([2, 3, 4]);
    const calls = fresh();
    const result = fuseProbedSites(model, scaleFusion(calls));
    expect(result).toEqual({ changed: true, stats: { Scale: 3 }, notes: [] });
    expect(calls.scalesAtVerify).toEqual([0, 0, 0]);
    expect(opsOf(model.graph)).toEqual(['com.example::Scale', 'com.example::Scale', 'com.example::Scale']);
    expect(model.opsetVersion('com.example')).toBe(1);
    // the replacement reads what the old node read, and the graph output keeps its name
    expect(model.graph.outputs[0]!.producer!.name).toBe('m3/Scale');
  });

  it('makes probes once per graph and kind, with all its sites, and none where nothing needs them', () => {
    const model = chain([2, 3, 4]);
    const calls = fresh();
    fuseProbedSites(model, scaleFusion(calls, { probeKind: (mul) => (mul.name === 'm2' ? 'odd' : '') }));
    expect(calls.probes).toEqual(['main::3', 'main:odd:3']);
    const none = fresh();
    expect(fuseProbedSites(chain([]), scaleFusion(none))).toEqual({ changed: false, stats: {}, notes: [] });
    expect(none.probes).toEqual([]);
  });

  it('gives a probe failure as one reason to every site that needed those probes', () => {
    const calls = fresh();
    const fusion = scaleFusion(calls, {
      probeKind: (mul) => (mul.name === 'm1' ? 'broken' : ''),
      probes: (_graph, _sites, kind) => {
        calls.probes.push(kind);
        if (kind === 'broken') throw new Error('no sizes');
        return 'probe';
      },
    });
    const result = fuseProbedSites(chain([2, 3]), fusion);
    expect(result.notes).toEqual(["Scale at Mul 'm1': the model's inputs cannot be probed: no sizes"]);
    expect(result.stats).toEqual({ Scale: 1 });
    const told = fuseProbedSites(chain([2]), { ...fusion, cannotProbe: (message) => `no probes (${message})` });
    expect(told.notes).toEqual(["Scale at Mul 'm1': no probes (no sizes)"]);
  });

  it('verifies one site per signature and carries its meaning to the others', () => {
    const calls = fresh();
    const bySign = (mul: Node) => (mul.input(1).constantTensor()!.toNumbers()[0]! > 0 ? 'positive' : 'negative');
    const result = fuseProbedSites(
      chain([2, -3, 2, -1]),
      scaleFusion(calls, {
        signature: (mul) => bySign(mul),
        carry: (known, _meaning, mul) => {
          calls.carried.push(`${known.name}->${mul.name}`);
          // a carried meaning takes the site's own factor; m4's is refused, so m4 is verified itself
          return mul.name === 'm4' ? undefined : { factor: mul.input(1).constantTensor()!.toNumbers()[0]! };
        },
      }),
    );
    expect(calls.verified).toEqual(['m1', 'm2', 'm4']);
    expect(calls.carried).toEqual(['m1->m3', 'm2->m4']);
    expect(result.stats).toEqual({ Scale: 4 });
  });

  it('takes a refusal as it is to sites of its signature, without carry', () => {
    const calls = fresh();
    const result = fuseProbedSites(
      chain([2, 3]),
      scaleFusion(calls, { signature: () => 'one', verify: (mul) => (calls.verified.push(mul.name), 'not a scale') }),
    );
    expect(calls.verified).toEqual(['m1']);
    expect(result).toEqual({
      changed: false,
      stats: {},
      notes: ["Scale at Mul 'm1': not a scale", "Scale at Mul 'm2': not a scale"],
    });
  });

  it("notes misses and a rewrite's refusal, and looks only in the scopes given", () => {
    const model = chain([2, 3]);
    const calls = fresh();
    const result = fuseProbedSites(
      model,
      scaleFusion(calls, {
        scopes: (m) => [m.graph],
        find: (graph) => {
          const [m1, m2] = graph.nodes as [Node, Node];
          return { sites: [m2], misses: [{ at: m1, reason: 'refused before probing' }] };
        },
        rewrite: () => 'an option forbids it',
      }),
    );
    expect(result).toEqual({
      changed: false,
      stats: {},
      notes: ["Scale at Mul 'm1': refused before probing", "Scale at Mul 'm2': an option forbids it"],
    });
    expect(opsOf(model.graph)).toEqual(['Mul', 'Mul']);
    expect(model.opsetVersion('com.example')).toBeUndefined();
  });
});
