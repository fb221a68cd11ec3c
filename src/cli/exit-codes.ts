/** Exit codes: 0 ok, 1 a failed check or gate, 2 usage, I/O or internal error. */
export const EXIT = { ok: 0, checkFailed: 1, error: 2 } as const;
