// Node pressure, as a descheduler sees it: a node whose measured CPU or memory stays above a
// threshold of its capacity for a whole window is "due" — one of its instances should move away.
// Pure bookkeeping (the control plane feeds it heartbeat figures and acts on what it returns).

export interface PressureReading {
  name: string;
  capacity: { cpuMillis?: number; memoryMiB?: number };
  usage: { cpuMillis: number; memoryMiB: number } | null;
}

export interface PressureVerdict {
  node: string;
  why: string;
}

export class PressureTracker {
  private readonly since = new Map<string, number>();
  /** Nodes above the threshold right now (the scheduler keeps new instances off them). */
  readonly pressured = new Set<string>();

  constructor(
    private readonly threshold: number,
    private readonly windowMs: number,
  ) {}

  private over(r: PressureReading): string | undefined {
    if (!r.usage) return undefined;
    const { cpuMillis, memoryMiB } = r.capacity;
    if (cpuMillis !== undefined && r.usage.cpuMillis > this.threshold * cpuMillis) return `cpu ${r.usage.cpuMillis}m of ${cpuMillis}m`;
    if (memoryMiB !== undefined && r.usage.memoryMiB > this.threshold * memoryMiB) return `memory ${Math.round(r.usage.memoryMiB)}Mi of ${memoryMiB}Mi`;
    return undefined;
  }

  /** Continues a window that began at `since` (kept across restarts); a window already open here wins. */
  resume(node: string, since: number): void {
    if (!this.since.has(node) && Number.isFinite(since)) this.since.set(node, since);
  }

  /** When the node's current window began (undefined: not over the threshold). */
  windowStart(node: string): number | undefined {
    return this.since.get(node);
  }

  /** Updates with the latest readings; returns the nodes that have been over for a full window (their clock restarts). */
  update(now: number, readings: PressureReading[]): PressureVerdict[] {
    const due: PressureVerdict[] = [];
    for (const r of readings) {
      const why = this.over(r);
      if (!why) {
        this.since.delete(r.name);
        this.pressured.delete(r.name);
        continue;
      }
      this.pressured.add(r.name);
      const start = this.since.get(r.name);
      if (start === undefined) this.since.set(r.name, now);
      else if (now - start >= this.windowMs) {
        due.push({ node: r.name, why: `${why} above ${Math.round(this.threshold * 100)} % for ${(this.windowMs / 1000).toFixed(1)}s` });
        this.since.set(r.name, now);
      }
    }
    return due;
  }
}
