// Why a rule did not fire: the matcher keeps the failure it met furthest into the pattern, and the tracer collects
// one such reason per node where the match got past the root op (a near-miss), for `--explain`. A failure at the
// root's operands is no near-miss: every Add in a graph would be one for a rule rooted at Add.

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
  private nodes = 0;

  /** `nodes`: how many pattern nodes were bound when it failed. */
  offer(progress: number, reason: string, nodes: number): void {
    if (progress > this.progress) {
      this.progress = progress;
      this.why = reason;
      this.nodes = nodes;
    }
  }

  get reason(): string | undefined {
    return this.why;
  }

  get nodesMatched(): number {
    return this.nodes;
  }

  /** How far into the pattern the kept failure came (-1: none offered). */
  get depth(): number {
    return this.progress;
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
