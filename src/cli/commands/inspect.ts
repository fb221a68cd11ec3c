import type { Command } from 'commander';
import { readModel } from '../../io/read.js';
import { summarizeModel, type ValueSummary } from '../../summary.js';
import { formatBytes, print, printJson, table } from '../output.js';

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description("print a model's inputs, outputs, opsets, op histogram and parameters")
    .argument('<model>', 'model.onnx')
    .option('--json', 'print JSON instead of text')
    .action((path: string, opts: { json?: boolean }) => {
      const s = summarizeModel(readModel(path));
      if (opts.json) return printJson(s);
      const io = (vs: ValueSummary[]) =>
        vs.map((v) => `  ${v.name}: ${v.type}${v.shape ? ` [${v.shape.map((d) => d ?? '?').join(', ')}]` : ''}`);
      const opsets = Object.entries(s.opsets)
        .map(([d, v]) => `${d} ${v}`)
        .join(', ');
      print(
        [
          `${path}`,
          `IR version ${s.irVersion}; opsets: ${opsets}${s.producer ? `; producer: ${s.producer}` : ''}`,
          'inputs:',
          ...io(s.inputs),
          'outputs:',
          ...io(s.outputs),
          `nodes: ${s.nodeCount}`,
          table(['op', 'count'], Object.entries(s.ops)),
          'parameters:',
          table(
            ['dtype', 'tensors', 'elements', 'bytes'],
            Object.entries(s.parameters).map(([t, p]) => [t, p.tensors, p.elements, formatBytes(p.bytes)]),
          ),
          ...(s.externalData.length
            ? [
                'external data:',
                ...s.externalData.map((e) => `  ${e.file}: ${e.tensors} tensors, ${formatBytes(e.bytes)}`),
              ]
            : []),
          ...(s.functions.length ? [`functions: ${s.functions.join(', ')}`] : []),
        ].join('\n'),
      );
    });
}
