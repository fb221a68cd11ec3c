// bnb4: MatMul with a constant 2-D float32 weight -> com.microsoft::MatMulBnb4 (NF4 or FP4 blocks, default NF4 and
// block 64, as transformers.js's bnb4 mode calls onnxruntime's MatMulBnb4Quantizer), weights bit for bit
// onnxruntime's, named as it names them (<node>_Bnb4, <W>_Bnb4, <W>_absmax); node outputs keep their names.
import { OnnxOptError } from '../src/errors.js';
import { attr } from '../src/ir/attribute.js';
import type { Value } from '../src/ir/graph.js';
import type { Model } from '../src/ir/model.js';
import { Scratch, Tensor } from '../src/ir/tensor.js';
import { elemTypeOf } from '../src/ir/types.js';
import { definePass, option, type PassResult } from '../src/pass/index.js';
import { BNB4_QUANT_TYPE, quantizeBnb4 } from '../src/tensor/bnb4.js';
import { DataType } from '../src/tensor/dtype.js';
import { removeUnused, takeOver } from './q4/rewrite.js';

const BLOCK_SIZES = [16, 32, 64, 128, 256];

export const bnb4Pass = definePass({
  name: 'bnb4',
  lossy: true,
  description: "weight-only 4-bit NF4/FP4 blocks: MatMul -> MatMulBnb4 (as onnxruntime's MatMulBnb4Quantizer)",
  options: {
    quantType: option.enum('bnb4 levels: nf4 or fp4', ['nf4', 'fp4'], { default: 'nf4' }),
    blockSize: option.int(`values per block: ${BLOCK_SIZES.join(', ')}`, { default: 64 }),
    exclude: option.list('node names to leave float, comma-separated'),
  },
  run(model: Model, context): PassResult {
    const { quantType: type, blockSize } = context.options;
    if (!BLOCK_SIZES.includes(blockSize))
      throw new OnnxOptError(`--block-size must be one of ${BLOCK_SIZES.join(', ')}, not ${blockSize}`);
    const exclude = new Set(context.options.exclude);
    const scratch = new Scratch();
    const notes: string[] = [];
    const replaced = new Set<Value>();
    let quantized = 0;
    for (const graph of [...model.graph.allGraphs()]) {
      const made = new Map<Value, Value[]>();
      for (const node of [...graph.nodes]) {
        if (node.opType !== 'MatMul' || (node.domain !== '' && node.domain !== 'ai.onnx') || exclude.has(node.name))
          continue;
        const w = node.inputs[1];
        const tensor = w?.constantTensor();
        const a = node.inputs[0];
        const aType = elemTypeOf(a?.type);
        const why =
          !w || !tensor
            ? 'its weight is not a constant'
            : tensor.dataType !== DataType.FLOAT
              ? `weight '${w.name}' is not float32`
              : tensor.rank !== 2
                ? `weight '${w.name}' has rank ${tensor.rank}, not 2`
                : // MatMulBnb4 refuses K or N of 0 when onnxruntime loads the model
                  tensor.size === 0
                  ? `weight '${w.name}' is empty`
                  : !a || (aType !== undefined && aType !== DataType.FLOAT)
                    ? 'its input is not float32'
                    : undefined;
        if (why) {
          notes.push(`${node.describe()}: ${why}`);
          continue;
        }
        const [k, n] = tensor!.dims as [number, number];
        let values = made.get(w!);
        if (!values) {
          const q = quantizeBnb4(tensor!.peekFloat32(scratch), k, n, blockSize, type);
          values = [
            graph.addInitializer(`${w!.name}_Bnb4`, new Tensor('', DataType.UINT8, [q.packed.length], q.packed)),
            graph.addInitializer(
              `${w!.name}_absmax`,
              Tensor.fromArray('', DataType.FLOAT, [q.absmax.length], q.absmax),
            ),
          ];
          made.set(w!, values);
        }
        const attributes = [
          attr('K', k),
          attr('N', n),
          attr('block_size', blockSize),
          attr('quant_type', BNB4_QUANT_TYPE[type]),
        ];
        const out = node.output(0);
        const q = graph.createNode({
          opType: 'MatMulBnb4',
          domain: 'com.microsoft',
          inputs: [a!, ...values],
          outputs: [graph.newValue(`${out.name}_Bnb4`, out.type)],
          attributes,
          name: node.name ? `${node.name}_Bnb4` : '',
          before: node,
        });
        if (!node.name) q.name = '';
        replaced.add(w!);
        takeOver(graph, node, q.output(0));
        quantized++;
      }
    }
    removeUnused(model, replaced);
    if (!quantized) {
      context.log('bnb4: nothing to quantize');
      return { changed: false, stats: { quantizedNodes: 0, skipped: notes.length }, notes };
    }
    model.requireOpset('com.microsoft', 1);
    const stats = { quantizedNodes: quantized, skipped: notes.length };
    return { changed: true, stats, notes, record: { settings: { quantType: type, blockSize }, stats, skipped: notes } };
  },
});
