import { Option, type Command } from 'commander';
import { allPasses } from '../../../passes/index.js';
import { findTarget, offDeviceOps, planForTarget, planPasses, TARGET_NAMES } from '../../../passes/targets.js';
import { OnnxOptError } from '../../errors.js';
import { filesReadFor, readModel } from '../../io/read.js';
import { writeModelInterruptible, writeTextAtomic, type WriteOptions } from '../../io/write.js';
import { basename, dirname, join } from 'node:path';
import type { Model } from '../../ir/model.js';
import { flagOf, optionHelp, type OptionSpec, type Pass, type PassContext, type PassResult } from '../../pass/index.js';
import { runQuantizeStatic } from '../../runtime/calibrate.js';
import { runFp16Mixed } from '../../runtime/mixed-precision.js';
import { checkLossyPass } from '../../runtime/lossy-check.js';
import { PassVerifier, restoreModel, snapshotModel } from '../../runtime/verify.js';
import { opHistogram } from '../../summary.js';
import { EXIT } from '../exit-codes.js';
import { log, printJson, table } from '../output.js';

export interface PipelineOptions {
  [passOption: string]: unknown;
  json?: boolean;
  explain?: boolean;
  externalData?: WriteOptions['externalData'];
  fixDim?: string[];
  verify?: boolean;
  saveConfig?: boolean;
  /** False with --no-check: lossy passes are not checked in onnxruntime. */
  check?: boolean;
  checkInputs?: string;
  target?: string;
  /** Set by `--verify=fail|skip` (see splitVerifyMode). */
  verifyMode?: 'fail' | 'skip';
}

/**
 * The flags of every pass's declared options. Commander sets no defaults (the pass model applies them, the same for
 * the CLI and the library), so an option the user did not give stays absent; a boolean that defaults to true
 * takes `--no-<name>` as well.
 */
export function passOptionFlags(passes: readonly Pass[]): Option[] {
  const declared = new Map<string, { spec: OptionSpec; passes: string[] }>();
  for (const pass of passes) {
    for (const [key, spec] of Object.entries(pass.options)) {
      const seen = declared.get(key);
      if (seen && seen.spec.type !== spec.type) {
        throw new OnnxOptError(
          `option ${flagOf(key)} is ${seen.spec.type} in ${seen.passes.join(', ')} but ${spec.type} in ${pass.name}`,
        );
      }
      if (seen) seen.passes.push(pass.name);
      else declared.set(key, { spec, passes: [pass.name] });
    }
  }
  return [...declared].flatMap(([key, { spec, passes: owners }]) => {
    const help = `${optionHelp(spec)} [${owners.join(', ')}]`;
    const flag = flagOf(key);
    if (spec.type !== 'boolean') {
      const opt = new Option(
        `${flag} <${spec.type === 'list' ? 'list' : spec.type === 'enum' ? 'choice' : spec.type}>`,
        help,
      );
      return [spec.type === 'enum' ? opt.choices(spec.choices) : opt];
    }
    return spec.default === true
      ? [new Option(flag, help), new Option(`--no-${flag.slice(2)}`).hideHelp()]
      : [new Option(flag, help)];
  });
}

/** Options shared by every pipeline form (`onnx-opt [passes...] in out`), the passes' own included. */
export function addPipelineOptions(cmd: Command): Command {
  for (const opt of passOptionFlags(allPasses)) cmd.addOption(opt);
  return cmd
    .option('--json', 'print the run summary as JSON on stdout')
    .option('--explain', 'print why near-misses of each rule did not match')
    .option('--external-data <mode>', 'auto | always | never: where tensors of 1 KiB and more go', 'auto')
    .option(
      '--fix-dim <name=size>',
      'pin symbolic dims, comma-separated or repeated (e.g. batch=1,sequence=128) for shape-driven folding',
      (v: string, all: string[] = []) => [...all, ...v.split(',')],
    )
    .addOption(
      new Option('--target <runtime>', 'the runtime the model is for: its forms follow (see README, "Runtime targets")')
        .choices([...TARGET_NAMES])
        .default('cpu'),
    )
    .option('--save-config', 'write what passes decided beside the output, e.g. <stem>.quantize_config.json')
    .option(
      '--no-check',
      'do not check lossy passes (quantize, fp16) in onnxruntime: by default their result is run ' +
        'against the model before them, fp16 falls back to --mixed when it breaks an output, and any other lossy pass ' +
        'that does stops the run (exit 1, nothing written)',
    )
    .option(
      '--check-inputs <file>',
      'inputs for that check (.npz, .npy or .json, as parity takes them) instead of generated ones',
    )
    .option(
      '--verify',
      'run onnxruntime parity after each pass and stop (exit 1, nothing written) at a pass that ' +
        "breaks it; --verify=skip discards that pass's result and goes on",
    )
    .addOption(new Option('--verify-mode <mode>').choices(['fail', 'skip']).hideHelp());
}

/**
 * Passes with options that need onnxruntime, which passes/ cannot import: the CLI runs those through a driver in
 * src/runtime. A driver answers undefined when the options do not call for it.
 */
const RUNTIME_DRIVERS: Record<string, (model: Model, context: PassContext) => Promise<PassResult> | undefined> = {
  fp16: (model, context) => (context.options.mixed ? runFp16Mixed(model, context) : undefined),
  'quantize-static': runQuantizeStatic,
};

/**
 * `--verify=skip` reads as one word, yet `--verify` alone must not swallow the next argument (a pass or a file):
 * so `--verify=MODE` becomes `--verify --verify-mode=MODE` before parsing.
 */
export function splitVerifyMode(argv: string[]): string[] {
  return argv.flatMap((a) =>
    a.startsWith('--verify=') ? ['--verify', `--verify-mode=${a.slice('--verify='.length)}`] : [a],
  );
}

/** Splits `[passes..., in, out]` and runs the pipeline. */
export async function runPipelineArgs(args: string[], opts: PipelineOptions): Promise<void> {
  const out = args[args.length - 1];
  const input = args[args.length - 2];
  // `onnx-opt fuse m.onnx`: m.onnx would be taken as the output and 'fuse' as the input.
  if (!out || !input || allPasses.some((p) => p.name === input)) {
    throw new OnnxOptError(
      `no output path: onnx-opt [passes...] in.onnx out.onnx${out ? ` ('${out}' is the last argument)` : ''}`,
    );
  }
  await runPipeline(args.slice(0, -2), input, out, opts);
}

export async function runPipeline(
  passNames: string[],
  input: string,
  output: string,
  opts: PipelineOptions,
): Promise<void> {
  const target = findTarget(opts.target ?? 'cpu');
  const plan = planForTarget(passNames, target);
  for (const w of plan.warnings) log(`onnx-opt: warning: ${w}`);
  const passes = planPasses(plan, asList(opts.disable));
  const mode = opts.externalData ?? 'auto';
  if (!['auto', 'always', 'never'].includes(mode))
    throw new OnnxOptError(`--external-data must be auto, always or never, not '${mode}'`);
  const fixedDims = parseFixedDims(opts.fixDim ?? []);
  const verify = opts.verifyMode ?? (opts.verify ? 'fail' : undefined);
  let model = readModel(input);
  // Passes may replace the model and its tensors; the files it came from stay off limits all the same.
  const inputFiles = filesReadFor(model);
  const hadExternalData = model.graph.initializers.some((v) => v.initializer!.externalSource);
  const before = opHistogram(model);
  const verifier = verify ? new PassVerifier(model, { dims: fixedDims }, input) : undefined;
  const results: { pass: string; result: PassResult; ms: number }[] = [];
  for (const pass of passes) {
    const t0 = performance.now();
    const context = { options: { ...opts, fixedDims }, log };
    // --verify checks every pass already; otherwise a lossy pass checks itself against the model before it.
    const beforeLossy = pass.lossy && opts.check !== false && !verifier ? snapshotModel(model) : undefined;
    let result: PassResult;
    try {
      result = (await RUNTIME_DRIVERS[pass.name]?.(model, context)) ?? pass.run(model, context);
    } catch (e) {
      // A pass refusing the model (e.g. quantizing twice) names the model it refused.
      throw e instanceof OnnxOptError ? e.inFile(input) : e;
    }
    if (beforeLossy && result.changed) {
      // quantize-static is checked on its calibration data unless told otherwise: generated inputs can lie outside
      // every calibrated range (random normal pixels against [0, 1] images) and say nothing of the real error
      const checkInputs =
        opts.checkInputs ??
        (pass.name === 'quantize-static' && typeof opts.calibration === 'string' ? opts.calibration : undefined);
      const checked = await checkLossy(pass, beforeLossy, model, result, {
        ...context,
        input,
        inputsFile: checkInputs,
      });
      if (!checked) {
        process.exitCode = EXIT.checkFailed;
        return;
      }
      ({ model, result } = checked);
    }
    results.push({ pass: pass.name, result, ms: performance.now() - t0 });
    if (opts.explain) for (const note of result.notes ?? []) log(`  ${pass.name}: ${note}`);
    if (!verifier || !result.changed) continue;
    const verdict = await verifier.check(model, pass.name, { lossy: pass.lossy });
    if (verdict.pass) continue;
    if (verify === 'fail') {
      log(`onnx-opt: ${verdict.message}`);
      process.exitCode = EXIT.checkFailed;
      return;
    }
    log(`${verdict.message}; its result is discarded (--verify=skip)`);
    model = verifier.restore();
    result.changed = false;
  }
  // A model read with external data is written with external data, even when its passes made every tensor anew.
  await writeModelInterruptible(model, output, {
    externalData: mode === 'auto' && hadExternalData ? 'always' : mode,
    keep: inputFiles,
  });
  if (opts.saveConfig) {
    for (const r of results) {
      if (!r.result.record) continue;
      const path = join(dirname(output), `${basename(output).replace(/\.onnx$/i, '')}.${r.pass}_config.json`);
      writeTextAtomic(path, `${JSON.stringify({ pass: r.pass, input, output, ...r.result.record }, null, 2)}\n`);
      log(`${r.pass}: wrote ${path}`);
    }
  }
  const after = opHistogram(model);
  const offDevice = offDeviceOps(model, target);
  if (Object.keys(offDevice).length) {
    log(
      `onnx-opt: warning: --target ${target.name}: no ${target.runtime} kernel, run on the CPU: ` +
        Object.entries(offDevice)
          .map(([op, n]) => `${op.replace(/^::/, '')} x${n}`)
          .join(', '),
    );
  }
  if (opts.json) {
    printJson({
      input,
      output,
      target: target.name,
      ...(Object.keys(offDevice).length ? { offDevice } : {}),
      passes: results.map((r) => ({
        name: r.pass,
        changed: r.result.changed,
        stats: r.result.stats,
        ms: Math.round(r.ms),
      })),
      ops: { before, after },
    });
  } else if (passes.length) {
    for (const r of results) {
      const stats = Object.entries(r.result.stats)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      log(
        `${r.pass}: ${r.result.changed ? 'changed' : 'no change'}${stats ? ` (${stats})` : ''} in ${r.ms.toFixed(0)} ms`,
      );
    }
    const ops = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => before[k] !== after[k]);
    if (ops.length)
      log(
        table(
          ['op', 'before', 'after'],
          ops.sort().map((k) => [k, before[k] ?? 0, after[k] ?? 0]),
        ),
      );
  }
}

/**
 * The self-check of a lossy pass: its result against the model before it, in onnxruntime. fp16 that breaks an output
 * is done again as fp16 --mixed (which keeps in float32 the nodes where the error starts, and names them); any other
 * lossy pass that breaks one stops the run. Returns the model to go on with, or undefined when the run must stop.
 */
async function checkLossy(
  pass: Pass,
  before: Uint8Array,
  model: Model,
  result: PassResult,
  context: PassContext & { input: string; inputsFile?: string },
): Promise<{ model: Model; result: PassResult } | undefined> {
  // A pass calibrated on real inputs (quantize-static) is checked on them: generated ones lie outside what it learned.
  const passName = pass.name;
  const calibration = typeof context.options.calibration === 'string' ? context.options.calibration : undefined;
  const inputsFile = context.inputsFile ?? calibration;
  if (!inputsFile && pass.options.calibration) {
    log(`${passName}: result NOT checked: its ranges come from inputs this run does not have (give --check-inputs)`);
    return { model, result };
  }
  const options = { inputsFile, dims: context.options.fixedDims };
  let verdict = await checkLossyPass(restoreModel(before, context.input), model, passName, options);
  if (verdict.kind === 'broken' && passName === 'fp16' && !context.options.mixed) {
    log(`${verdict.message}; converting again as fp16 --mixed`);
    model = restoreModel(before, context.input);
    result = await runFp16Mixed(model, { ...context, options: { ...context.options, mixed: true } });
    const kept = result.notes?.find((n) => n.startsWith('kept in float32 after measuring'));
    log(`fp16 --mixed: ${kept ?? 'no node needed float32'}`);
    verdict = await checkLossyPass(restoreModel(before, context.input), model, 'fp16 --mixed', options);
  }
  if (verdict.kind === 'broken') {
    log(`onnx-opt: ${verdict.message}; nothing written (--no-check writes it anyway)`);
    return undefined;
  }
  log(verdict.message);
  return { model, result };
}

/** A list option as commander leaves it: absent, one string (maybe comma-separated) or several. */
function asList(v: unknown): string[] {
  return (Array.isArray(v) ? v : typeof v === 'string' ? [v] : []).flatMap((s: string) => s.split(',')).filter(Boolean);
}

function parseFixedDims(specs: string[]): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const s of specs) {
    const m = /^([^=]+)=(\d+)$/.exec(s);
    if (!m) throw new OnnxOptError(`--fix-dim takes name=size, not '${s}'`);
    dims[m[1]!] = Number(m[2]);
  }
  return dims;
}

/** Registers every pass as a command, so `onnx-opt fuse quantize in out` and `onnx-opt fuse --help` work. */
export function registerPassCommands(program: Command): void {
  for (const pass of allPasses) {
    addPipelineOptions(
      program
        .command(pass.name)
        .description(`${pass.description}\nRun as: onnx-opt ${pass.name} [more passes...] in.onnx out.onnx`)
        .argument('<args...>', 'more passes, then in.onnx out.onnx'),
    ).action((args: string[], opts: PipelineOptions) => runPipelineArgs([pass.name, ...args], opts));
  }
}
