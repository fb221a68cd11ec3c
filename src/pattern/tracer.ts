// Why a rule did not fire: the matcher keeps the failure it met furthest into the pattern, and the tracer collects
// one such reason per node where the rule's root op matched (a near-miss), for `--explain`.

/** One near-miss: the root node the rule was tried at, and why it did not apply there. */
export interface NearMiss {
  node: string;
  reason: string;
}

/** Rule name -> near-misses, in graph order. */
export type NearMissReport = Record<string, NearMiss[]>;

/** Keeps the first failure met at the greatest progress (how much of the pattern was bound when it failed). */
export class DeepestFailure {
  private progress = -1;
  private why: string | undefined;

  offer(progress: number, reason: string): void {
    if (progress > this.progress) {
      this.progress = progress;
      this.why = reason;
    }
  }

  get reason(): string | undefined {
    return this.why;
  }
}

export class Tracer {
  private readonly byRule = new Map<string, NearMiss[]>();

  record(rule: string, node: string, reason: string): void {
    let list = this.byRule.get(rule);
    if (!list) this.byRule.set(rule, (list = []));
    list.push({ node, reason });
  }

  clear(): void {
    this.byRule.clear();
  }

  report(): NearMissReport {
    return Object.fromEntries([...this.byRule].map(([rule, list]) => [rule, list.map((m) => ({ ...m }))]));
  }
}

/** One line per near-miss: `Rule at 'node': reason`. */
export function formatNearMisses(report: NearMissReport): string[] {
  return Object.entries(report).flatMap(([rule, list]) => list.map((m) => `${rule} at '${m.node}': ${m.reason}`));
}
