// LayerNormalization(word[ids] + position[positions] (+ segment[token types])) -> com.microsoft
// EmbedLayerNormalization. Which lookup is which is read off the graph: ids and token types index with graph
// inputs (the larger table is the vocabulary); positions are evaluated on probe inputs, and when they are not
// simply 0..S-1 (RoBERTa counts from its padding id) the computed positions are passed as position_ids.
import type { Attribute } from '../src/ir/attribute.js';
import type { Graph, Node, Value } from '../src/ir/graph.js';
import { Tensor } from '../src/ir/tensor.js';
import { ProbeEvaluator, makeProbeInputs } from '../src/eval/probe.js';
import { definePass, type PassResult } from '../src/pass/index.js';
import { DataType, isFloatType } from '../src/tensor/dtype.js';
import { MS_DOMAIN, backwardSlice, int32Of, isStandardNode } from '../src/ir/ops.js';
import { fuseProbedSites } from '../src/pattern/index.js';

interface Lookup {
  gather: Node;
  table: Value;
  indices: Value;
}

/** A Gather from a constant (rows, D) table on axis 0, possibly behind a Cast to float. */
function lookupOf(v: Value): Lookup | undefined {
  let n = v.producer;
  if (isStandardNode(n) && n.opType === 'Cast') n = n.input(0).producer;
  if (!isStandardNode(n) || n.opType !== 'Gather' || n.attrInt('axis', 0) !== 0) return undefined;
  const table = n.input(0);
  const t = table.constantTensor();
  if (!t || t.rank !== 2 || !isFloatType(t.dataType)) return undefined;
  return { gather: n, table, indices: n.input(1) };
}

/**
 * The terms of a sum of lookups (Add nodes whose partial sums are used only by the next Add), and every node of
 * the sum: the Adds, the Gathers and their Casts.
 */
function lookupTerms(sum: Value): { terms: Lookup[]; nodes: Node[] } | undefined {
  const terms: Lookup[] = [];
  const nodes: Node[] = [];
  // Shape and Size reads of a partial sum are allowed: they do not need its values (and die with the position ids
  // they usually compute).
  const dataUses = (v: Value) =>
    v.uses.filter((u) => !(isStandardNode(u.node) && (u.node.opType === 'Shape' || u.node.opType === 'Size')));
  const visit = (v: Value, root: boolean): boolean => {
    const n = v.producer;
    if (!root && dataUses(v).length !== 1) return false;
    if (isStandardNode(n) && n.opType === 'Add') {
      nodes.push(n);
      return visit(n.input(0), false) && visit(n.input(1), false);
    }
    const l = lookupOf(v);
    if (!l) return false;
    terms.push(l);
    nodes.push(l.gather);
    if (n !== l.gather) nodes.push(n!);
    return true;
  };
  return visit(sum, true) && terms.length >= 2 && terms.length <= 3 ? { terms, nodes } : undefined;
}

/** What a lookup's indices are, as seen on the probes. */
type IndexKind =
  { kind: 'input'; input: Value } | { kind: 'positions' } | { kind: 'constant'; row: number } | { kind: 'computed' };

interface Probe {
  evaluator: ProbeEvaluator;
  feeds: Map<Value, Tensor>;
  B: number;
  S: number;
}

function classify(indices: Value, probes: Probe[]): IndexKind | undefined {
  const seen = probes.map((p) => ({ p, t: p.evaluator.evaluate(indices) }));
  const perRow = seen.every(({ p, t }) => t.dims.at(-1) === p.S && t.size % p.S === 0 && t.size <= p.B * p.S);
  if (!perRow) return undefined;
  for (const input of seen[0]!.p.feeds.keys()) {
    const same = seen.every(({ p, t }) => {
      const x = p.feeds.get(input)!;
      return x.size === t.size && x.dims.join() === [p.B, p.S].join() && sameNumbers(x.toNumbers(), t.toNumbers());
    });
    if (same) return { kind: 'input', input };
  }
  const values = seen.map(({ t }) => t.toNumbers());
  if (values.every((xs) => xs.every((x) => x === values[0]![0]))) return { kind: 'constant', row: values[0]![0]! };
  if (seen.every(({ p, t }) => t.toNumbers().every((x, i) => x === i % p.S))) return { kind: 'positions' };
  return seen.every(({ p, t }) => t.dims.join() === [p.B, p.S].join()) ? { kind: 'computed' } : undefined;
}

function sameNumbers(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** LayerNormalization over a sum of 2 or 3 lookups of one width. */
interface EmbedSite {
  ln: Node;
  sum: Value;
  terms: Lookup[];
  /** The sum's nodes: its Adds, Gathers and their Casts. */
  nodes: Node[];
  beta: Value;
}

/** Which lookup is which, as the probes tell. */
interface EmbedMeaning {
  /** The word lookup (the larger table) and its ids input; the segment lookup and its token type input. */
  word: { lookup: Lookup; input: Value };
  segment?: { lookup: Lookup; input: Value };
  position: Lookup;
  /** The positions are simply 0..S-1 (else the computed ones are passed as position_ids). */
  plainPositions: boolean;
  /** Lookups of one fixed row: a constant added at every position. */
  fixedRows: [Tensor, number][];
}

function findEmbedSites(graph: Graph): EmbedSite[] {
  const sites: EmbedSite[] = [];
  for (const ln of graph.nodes) {
    if (!isStandardNode(ln) || ln.opType !== 'LayerNormalization' || ln.attrInt('axis', -1) !== -1) continue;
    if (ln.outputs.slice(1).some((v) => v)) continue;
    const sum = ln.input(0);
    const found = lookupTerms(sum);
    const beta = ln.inputs[2];
    if (!found || !beta) continue;
    const D = found.terms[0]!.table.constantTensor()!.dims[1];
    if (!found.terms.every((l) => l.table.constantTensor()!.dims[1] === D)) continue;
    sites.push({ ln, sum, ...found, beta });
  }
  return sites;
}

const CANNOT_EVALUATE = "cannot evaluate the lookups' indices";

function verifyEmbed({ terms }: EmbedSite, probes: Probe[]): EmbedMeaning | string {
  let kinds: (IndexKind | undefined)[];
  try {
    kinds = terms.map((t) => classify(t.indices, probes));
  } catch (e) {
    return `${CANNOT_EVALUATE}: ${(e as Error).message}`;
  }
  const of = <K extends IndexKind['kind']>(kind: K) =>
    terms.flatMap((lookup, i) =>
      kinds[i]?.kind === kind ? [{ lookup, ...(kinds[i] as Extract<IndexKind, { kind: K }>) }] : [],
    );
  const byInput = of('input').sort(
    (a, b) => b.lookup.table.constantTensor()!.dims[0]! - a.lookup.table.constantTensor()!.dims[0]!,
  );
  const positional = [...of('positions'), ...of('computed')];
  if (kinds.some((k) => !k) || byInput.length < 1 || byInput.length > 2 || positional.length !== 1)
    return 'expected word (+ segment) lookups by inputs and one position lookup';
  const [word, segment] = byInput as [(typeof byInput)[0], (typeof byInput)[0] | undefined];
  return {
    word,
    ...(segment ? { segment } : {}),
    position: positional[0]!.lookup,
    plainPositions: positional[0]!.kind === 'positions',
    fixedRows: of('constant').map(({ lookup, row }) => [lookup.table.constantTensor()!, row]),
  };
}

function rewrite(graph: Graph, site: EmbedSite, m: EmbedMeaning, casts: Map<Value, Value>): Node | string {
  const { ln, sum } = site;
  // an earlier site's rewrite took this one's sum
  if ([ln, ...site.nodes].some((n) => n.graph !== graph)) return 'its lookups were fused at another LayerNormalization';
  const { word, segment, position } = m;
  const positionTable = m.fixedRows.length ? withRowsAdded(graph, position.table, m.fixedRows) : position.table;
  const inputsOf: (Value | null)[] = [
    int32Of(graph, word.input, casts),
    segment ? int32Of(graph, segment.input, casts) : null,
    word.lookup.table,
    positionTable,
    segment ? segment.lookup.table : null,
    ln.input(1),
    site.beta,
    null,
    m.plainPositions ? null : int32Of(graph, position.indices, casts),
  ];
  while (inputsOf.at(-1) === null) inputsOf.pop();
  const keepSum = sum.uses.length > 1 || graph.outputs.includes(sum);
  const attributes: Attribute[] = [{ name: 'epsilon', type: 'float', value: ln.attrFloat('epsilon', 1e-5) }];
  const embed = graph.createNode({
    opType: 'EmbedLayerNormalization',
    domain: MS_DOMAIN,
    inputs: inputsOf,
    attributes,
    outputs: keepSum ? 3 : 2,
    name: `${ln.name}_embed`,
    before: ln,
  });
  const replaced: [Value, Value][] = [[ln.output(0), embed.output(0)]];
  if (keepSum) replaced.push([sum, embed.output(2)]);
  for (const [from, to] of replaced) to.type = from.type;
  graph.replace({
    outputs: replaced,
    removeIfDead: [ln, ...site.nodes, ...site.terms.flatMap((t) => backwardSlice(t.indices))],
  });
  return embed;
}

/** The position table with fixed rows of other tables added to every row, as a new initializer. */
function withRowsAdded(graph: Graph, table: Value, rows: [Tensor, number][]): Value {
  const t = table.constantTensor()!;
  const [n, d] = t.dims as [number, number];
  const out = Float32Array.from(t.toFloat32());
  for (const [other, row] of rows) {
    const r = other.toFloat32().subarray(row * d, (row + 1) * d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) out[i * d + j]! += r[j]!;
  }
  return graph.addInitializer(`${table.name}_with_constant_rows`, Tensor.fromArray('', DataType.FLOAT, [n, d], out));
}

export const fuseEmbedLayerNormPass = definePass({
  name: 'fuse-embed-layer-norm',
  description:
    'fuse word/position/segment embedding lookups + LayerNormalization into com.microsoft EmbedLayerNormalization',
  run(model): PassResult {
    const casts = new Map<Value, Value>();
    return fuseProbedSites<EmbedSite, EmbedMeaning, Probe[]>(model, {
      op: 'EmbedLayerNormalization',
      scopes: () => [model.graph],
      find: (graph) => ({ sites: findEmbedSites(graph) }),
      at: (site) => site.ln,
      // two sizes of batch and sequence, made when the first candidate needs them
      probes: () =>
        [
          [2, 5],
          [3, 4],
        ].map((sizes, i) => {
          const p = makeProbeInputs(model, sizes, 31 + i);
          const [B, S] = sizes as [number, number];
          return { evaluator: new ProbeEvaluator(model, p), feeds: p.feeds, B, S };
        }),
      cannotProbe: (message) => `${CANNOT_EVALUATE}: ${message}`,
      verify: verifyEmbed,
      rewrite: (site, meaning, graph) => rewrite(graph, site, meaning, casts),
    });
  },
});
