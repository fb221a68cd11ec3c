// Progress on stderr for the long-running runtime commands: one line redrawn in place on a terminal, a few plain
// lines otherwise (logs stay readable in CI), colour only on a terminal without NO_COLOR.

export interface Progress {
  /** Reports `done` of `total` for a task named by `label`. */
  update(label: string, done: number, total: number): void;
  /** Clears the live line, if any. */
  end(): void;
}

export function progressOnStderr(stream: NodeJS.WriteStream = process.stderr): Progress {
  const live = Boolean(stream.isTTY);
  const color = live && !process.env.NO_COLOR;
  const dim = (s: string) => (color ? `\x1b[2m${s}\x1b[22m` : s);
  const quartersShown = new Map<string, number>();
  let drawn = false;
  let lastDraw = 0;
  return {
    update(label, done, total) {
      const percent = total ? Math.floor((100 * done) / total) : 100;
      if (live) {
        // Redraw at most ten times a second: fast runs would otherwise spend their time on the terminal.
        const now = performance.now();
        if (now - lastDraw < 100 && done < total) return;
        lastDraw = now;
        stream.write(`\r\x1b[2K${label} ${dim(`${done}/${total} (${percent}%)`)}`);
        drawn = true;
        return;
      }
      // Plain output: a line at each quarter of a task.
      const quarter = Math.floor(percent / 25);
      if (quarter > (quartersShown.get(label) ?? 0) || (done === total && !quartersShown.has(label))) {
        quartersShown.set(label, quarter);
        stream.write(`${label} ${done}/${total} (${percent}%)\n`);
      }
    },
    end() {
      if (drawn) stream.write('\r\x1b[2K');
      drawn = false;
    },
  };
}
