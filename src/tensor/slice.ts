/** Start and end of one Slice axis of known size, normalized and clamped as the ONNX spec says. */
export function clampSliceBounds(dim: number, start: number, end: number, step: number): [start: number, end: number] {
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = Math.min(Math.max(s, 0), dim);
    e = Math.min(Math.max(e, 0), dim);
  } else {
    s = Math.min(Math.max(s, 0), dim - 1);
    e = Math.min(Math.max(e, -1), dim - 1);
  }
  return [s, e];
}
