// onnxruntime-node is an optional peer dependency: reading, optimizing and writing models never load it. The tools
// that run models (parity, gate, bench, --verify, fp16 --mixed, the lossy passes' self-check) import it here, on
// first use, and say how to install it when it is missing.
import type * as Ort from 'onnxruntime-node';
import { EnvironmentError } from '../errors.js';

export type OnnxRuntime = typeof Ort;

export const INSTALL_ONNXRUNTIME = 'npm install onnxruntime-node';

let loading: Promise<OnnxRuntime> | undefined;

/** onnxruntime-node, loaded once; an EnvironmentError when it is not installed or its native addon fails to load. */
export function onnxruntime(): Promise<OnnxRuntime> {
  loading ??= import('onnxruntime-node').catch((e: unknown) => {
    loading = undefined;
    const why = notFound(e)
      ? 'onnxruntime-node is not installed'
      : `onnxruntime-node failed to load (${String((e as Error).message ?? e).split('\n')[0]})`;
    throw new EnvironmentError(
      `${why}; running models (parity, gate, bench, --verify, fp16 --mixed, the self-check of lossy passes) needs it. ` +
        `Install it beside onnx-opt: ${INSTALL_ONNXRUNTIME}`,
      undefined,
      { cause: e },
    );
  });
  return loading;
}

/** Whether an import failed because the package is not there (loaders and test runners may wrap that error). */
function notFound(e: unknown): boolean {
  for (let cur = e; cur; cur = (cur as { cause?: unknown }).cause) {
    const code = (cur as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return true;
  }
  return false;
}
