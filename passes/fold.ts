// fold: evaluates every standard-domain node whose inputs are all constant and stores its outputs as initializers.
//
// Constant inputs are initializers (not also graph inputs, which callers may override), Constant nodes, and, for
// Shape and Size, any value whose type gives every dim (options.fixedDims pins symbolic dims by name; run shape
// inference first so intermediate values have types). Graphs are swept in node order until a sweep folds nothing,
// so chains fold in one run and a second run changes nothing.
//
// Size rule: a fold may grow the model by at most `maxGrowthBytes` (default 64 KiB), counting the bytes of its new
// initializers minus the bytes of the constant inputs only it reads, which go away with it. So a Transpose,
// Reshape or down-Cast of a weight nothing else reads is folded whatever its size (the weight is replaced, not
// copied, as dynamo exports need), while Expand/Tile/ConstantOfShape results, up-casts of weights and transforms
// of shared weights stay unless small.
//
// Folded nodes go; so do initializers, Constant nodes and other producers left without readers because of a fold
// (only those). Graph outputs keep their names and types: an output that becomes constant is produced by an
// Identity of the new initializer. Subgraphs are folded too; values a subgraph returns directly are left alone.
import { OnnxOptError } from '../src/errors.js';
import { UnsupportedOp, evaluateFromDims, evaluateNode, isStandardDomain, isSupportedOp } from '../src/eval/index.js';
import { Value, type Graph, type Node } from '../src/ir/graph.js';
import type { Model } from '../src/ir/model.js';
import type { Tensor } from '../src/ir/tensor.js';
import { shapeOf, tensorType } from '../src/ir/types.js';
import { definePass, noChange, option, type PassResult } from '../src/pass/index.js';
import { evaluateParam } from '../src/shape/index.js';
import { DataType } from '../src/tensor/dtype.js';

export const DEFAULT_MAX_GROWTH_BYTES = 64 * 1024;

/** Domains whose dead nodes may be dropped: their ops have no side effects. */
const PURE_DOMAINS = new Set(['', 'ai.onnx', 'ai.onnx.ml', 'com.microsoft']);

export const foldPass = definePass({
  name: 'fold',
  description: 'evaluate nodes whose inputs are all constant into initializers (size-capped)',
  options: {
    maxGrowthBytes: option.int('how many bytes one fold may add to the model', {
      default: DEFAULT_MAX_GROWTH_BYTES,
      min: 0,
    }),
  },
  // Shape and Size fold where intermediate values have types (with --fix-dim, pinned dims too); types again
  // afterwards for what folding made, so a second run finds nothing new.
  needs: ['shapes'],
  leaves: ['shapes'],
  run(model, context): PassResult {
    const opset = model.opsetVersion('');
    if (opset === undefined) return noChange();
    const settings = { maxGrowthBytes: context.options.maxGrowthBytes, fixedDims: checkedDims(context.fixedDims) };
    const folder = new Folder(model, opset, settings, context.log);
    folder.foldAll(model.graph);
    const stats = { foldedNodes: folder.foldedNodes, newInitializers: folder.created.size };
    return { changed: folder.foldedNodes > 0, stats };
  },
});

interface Settings {
  maxGrowthBytes: number;
  fixedDims: Record<string, number>;
}

function checkedDims(fixedDims: Record<string, number>): Record<string, number> {
  for (const [name, size] of Object.entries(fixedDims)) {
    if (!Number.isSafeInteger(size) || size < 0)
      throw new OnnxOptError(`fixed dim '${name}' must be a size, got ${size}`);
  }
  return fixedDims;
}

class Folder {
  foldedNodes = 0;
  /** Initializers this run made that are still there (one folded into the next is not counted). */
  readonly created = new Set<Value>();
  private readonly graphs: Graph[];
  private readonly graphInputs: ReadonlySet<Value>;
  private readonly constantNodes = new Map<Node, Tensor | null>();
  private readonly reported = new Set<Node>();

  constructor(
    model: Model,
    private readonly opset: number,
    private readonly settings: Settings,
    private readonly log: (message: string) => void,
  ) {
    this.graphs = [...model.graph.allGraphs()];
    this.graphInputs = new Set(this.graphs.flatMap((g) => g.inputs));
  }

  /** Folds a graph, then the subgraphs of the nodes still in it (they may read constants folded outside). */
  foldAll(graph: Graph): void {
    for (let changed = true; changed;) {
      changed = false;
      for (const node of [...graph.nodes]) if (node.graph === graph && this.tryFold(graph, node)) changed = true;
    }
    for (const node of [...graph.nodes])
      if (node.graph === graph) for (const body of node.subgraphs()) this.foldAll(body);
  }

  private tryFold(graph: Graph, node: Node): boolean {
    if (!isSupportedOp(node.domain, node.opType) || node.opType === 'Constant' || node.subgraphs().length) return false;
    const live = node.outputs.filter((o): o is Value => o !== null && this.isRead(o));
    // Nothing reads it (dead code is clean's business), or it only copies a constant into graph outputs, which is
    // what folding would leave behind.
    if (live.length === 0 || (node.opType === 'Identity' && live.every((o) => o.uses.length === 0))) return false;
    // A subgraph returning the value directly would keep pointing at the removed one.
    if (live.some((o) => this.graphs.some((g) => g !== graph && g.outputs.includes(o)))) return false;
    const freed = this.freedBytes(node);
    const outputs = this.evaluate(node, freed);
    if (!outputs) return false;
    const added = live.reduce((n, o) => n + outputs[node.outputs.indexOf(o)]!.byteLength, 0);
    if (added - freed > this.settings.maxGrowthBytes) return false;
    for (const o of live) {
      const why = unusableShape(o, outputs[node.outputs.indexOf(o)]!);
      if (!why) continue;
      // As an initializer the bad shape would make onnxruntime refuse the whole model; computed, it fails only if run.
      if (!this.reported.has(node)) {
        this.reported.add(node);
        this.log(`fold: left ${node.describe()} as it is: ${why}`);
      }
      return false;
    }
    const released = node.inputs.filter((v): v is Value => v !== null);
    graph.replace({
      outputs: live.map((o) => [o, this.initializerFor(graph, o, outputs[node.outputs.indexOf(o)]!)]),
      remove: [node],
    });
    this.release(released);
    this.foldedNodes++;
    return true;
  }

  /** The node's outputs, or undefined when an input is not constant or the evaluator declines. */
  private evaluate(node: Node, freed: number): Tensor[] | undefined {
    try {
      const inputs = node.inputs.map((v) => (v ? this.constantOf(v) : undefined));
      if (inputs.every((t, i) => t || !node.inputs[i])) {
        return evaluateNode(node, inputs, this.opset, { maxOutputBytes: this.settings.maxGrowthBytes + freed });
      }
      const dims =
        (node.opType === 'Shape' || node.opType === 'Size') && node.inputs[0] && this.staticDims(node.inputs[0]);
      return dims ? evaluateFromDims(node, dims, this.opset) : undefined;
    } catch (e) {
      if (!(e instanceof OnnxOptError)) throw e;
      // Unsupported ops are routine; inputs the op rejects will fail at run time too, so say where (once).
      if (!(e instanceof UnsupportedOp) && !this.reported.has(node)) {
        this.reported.add(node);
        this.log(`fold: left ${node.describe()} as it is: ${e.message}`);
      }
      return undefined;
    }
  }

  /** The tensor a value always holds, if it is a non-overridable initializer or a Constant node's output. */
  private constantOf(v: Value): Tensor | undefined {
    if (v.initializer) return this.graphInputs.has(v) ? undefined : v.initializer;
    const p = v.producer;
    if (!p || p.opType !== 'Constant' || !isStandardDomain(p.domain)) return undefined;
    if (!this.constantNodes.has(p)) {
      let t: Tensor | null = null;
      try {
        t = evaluateNode(p, [], this.opset, { maxOutputBytes: this.settings.maxGrowthBytes })[0]!;
      } catch (e) {
        if (!(e instanceof OnnxOptError)) throw e;
      }
      this.constantNodes.set(p, t);
    }
    return this.constantNodes.get(p) ?? undefined;
  }

  /** Every dim of a value's type as a number (symbolic dims through fixedDims), or undefined. */
  private staticDims(v: Value): number[] | undefined {
    const dims = shapeOf(v.type)?.map((d) => (typeof d === 'string' ? evaluateParam(d, this.settings.fixedDims) : d));
    return dims?.every((d) => d !== undefined) ? (dims as number[]) : undefined;
  }

  /** Bytes of the node's constant inputs that nothing else reads, which folding the node removes. */
  private freedBytes(node: Node): number {
    let bytes = 0;
    for (const v of new Set(node.inputs)) {
      if (!v || v.uses.some((u) => u.node !== node) || this.isOutput(v)) continue;
      const t = this.constantOf(v);
      if (t) bytes += t.byteLength;
    }
    return bytes;
  }

  /**
   * A new initializer holding `tensor`, to take the place of `o`. It takes o's name unless o is a graph output, which
   * keeps its name through an Identity that the replacement inserts.
   */
  private initializerFor(graph: Graph, o: Value, tensor: Tensor): Value {
    let constant: Value;
    if (graph.outputs.includes(o)) constant = graph.addInitializer(o.name, tensor);
    else constant = graph.adoptInitializer(new Value(o.name), tensor.withName(o.name));
    constant.type = tensorType(tensor.dataType, tensor.dims);
    this.created.add(constant);
    return constant;
  }

  /** Removes what a fold left unread: initializers, and producers (Constant or not) none of whose outputs are read. */
  private release(values: Value[]): void {
    const queue = [...new Set(values)];
    while (queue.length) {
      const v = queue.pop()!;
      if (this.isRead(v)) continue;
      if (v.initializer) {
        if (!this.graphInputs.has(v)) this.graphs.find((g) => g.initializers.includes(v))?.removeInitializer(v);
        this.created.delete(v);
        continue;
      }
      const p = v.producer;
      const owner = p?.graph;
      if (!p || !owner || !PURE_DOMAINS.has(p.domain) || p.outputs.some((o) => o && this.isRead(o))) continue;
      const upstream = [...p.inputs, ...p.subgraphs().flatMap((g) => [...g.outerValuesUsed()])];
      owner.removeNodes(new Set([p]));
      this.constantNodes.delete(p);
      queue.push(...upstream.filter((u): u is Value => u !== null));
    }
  }

  private isOutput(v: Value): boolean {
    return this.graphs.some((g) => g.outputs.includes(v));
  }

  private isRead(v: Value): boolean {
    return v.uses.length > 0 || this.isOutput(v);
  }
}

/** Inputs that onnxruntime checks as shapes when they are initializers: [op, input index, -1 allowed once]. */
const SHAPE_INPUTS: [string, number, boolean][] = [
  ['Reshape', 1, true],
  ['Expand', 1, false],
  ['Tile', 1, false],
  ['ConstantOfShape', 0, false],
];

/** Why a folded value cannot stand as a constant shape for a node that reads it, if it cannot. */
function unusableShape(v: Value, t: Tensor): string | undefined {
  for (const u of v.uses) {
    const rule = SHAPE_INPUTS.find(
      ([op, index]) => u.node.opType === op && u.index === index && isStandardDomain(u.node.domain),
    );
    if (!rule || !INTEGER_SHAPE_TYPES.has(t.dataType)) continue;
    const dims = t.toNumbers();
    const minusOnes = dims.filter((d) => d === -1).length;
    const bad = dims.find((d) => d < (rule[2] ? -1 : 0));
    if (bad !== undefined) return `${rule[0]} ${u.node.describe()} would get the invalid dimension ${bad}`;
    if (minusOnes > 1) return `${rule[0]} ${u.node.describe()} would get more than one -1 dimension`;
  }
  return undefined;
}

const INTEGER_SHAPE_TYPES = new Set<number>([DataType.INT64, DataType.INT32]);
