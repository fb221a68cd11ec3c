/**
 * Exit codes: 0 ok, 1 a failed check or gate, 2 usage, I/O or internal error, 3 the environment lacks something the
 * command needs (onnxruntime-node for the commands that run models).
 */
export const EXIT = { ok: 0, checkFailed: 1, error: 2, environment: 3 } as const;
