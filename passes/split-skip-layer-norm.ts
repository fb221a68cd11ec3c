// split-skip-layer-norm: SkipLayerNormalization with a bias -> LayerNormalization((input + skip) + bias), the faster
// form on onnxruntime's CPU EP. Its SkipLayerNormalization kernel (1.30) sums and normalizes each row in scalar loops
// with a division per element: on bert-base at sequence 512 its 24 calls take about 25 ms, the Adds and
// LayerNormalization that replace them about 7 ms. The bias is added last because onnxruntime's optimizer folds only
// a bias added before the residual: in this order it leaves the three ops apart. `quantize` runs this itself
// (quantized models run on the CPU EP); after a float `fuse` it is a choice for CPU deployments.
// A rule: the driver refuses a node whose mean or inverse deviation is read, and --explain says why a node stays.
import type { Node } from '../src/ir/graph.js';
import { float, rule, rulePass, type PatternBuilder, type RewriteBuilder, type Match } from '../src/pattern/index.js';

/** SkipLayerNormalization's epsilon when the attribute is absent. */
const SKIP_DEFAULT_EPSILON = 1e-12;

const hasBias = (node: Node) => !!node.inputs[4] || 'has no bias, and onnxruntime would fuse a plain residual Add back';

const skipNode = (p: PatternBuilder) =>
  p
    .op({ domain: 'com.microsoft', type: 'SkipLayerNormalization' }, [p.var('input'), p.var('skip'), p.var('gamma')], {
      moreInputs: true,
      where: hasBias,
    })
    .as('skipNorm');

/** (input + skip) + bias -> LayerNormalization; returns the normalized value and the biased sum. */
function split(
  b: RewriteBuilder,
  m: Match,
): [normalized: ReturnType<RewriteBuilder['op']>, sum: ReturnType<RewriteBuilder['op']>] {
  const node = m.node('skipNorm');
  const [, , , beta, bias] = node.inputs;
  const type = node.output(0).type;
  const residual = b.op('', 'Add', [m.value('input'), m.value('skip')], {}, { name: `${node.name}/residual` });
  const biased = b.op('', 'Add', [residual, bias!], {}, { name: `${node.name}/bias` });
  const attrs = { axis: -1, epsilon: float(node.attrFloat('epsilon', SKIP_DEFAULT_EPSILON)) };
  const normalized = b.op(
    '',
    'LayerNormalization',
    beta ? [biased, m.value('gamma'), beta] : [biased, m.value('gamma')],
    attrs,
    {
      name: `${node.name}/norm`,
    },
  );
  for (const v of [residual, biased, normalized]) v.type = type;
  return [normalized, biased];
}

export const splitSkipLayerNormPass = rulePass({
  name: 'split-skip-layer-norm',
  description:
    "SkipLayerNormalization with a bias -> Add, Add, LayerNormalization: faster on onnxruntime's CPU EP (run by quantize)",
  rules: [
    // the sum (output 3) is read on: the biased sum takes its place
    rule({
      name: 'split SkipLayerNormalization and its sum',
      pattern: (p) => {
        const skip = skipNode(p);
        return [skip, skip.output(3)];
      },
      rewrite: split,
    }),
    rule({ name: 'split SkipLayerNormalization', pattern: (p) => skipNode(p), rewrite: (b, m) => split(b, m)[0] }),
  ],
});
