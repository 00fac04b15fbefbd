// Memory limits: every ~250 ms, sums the resident memory of each limited app's whole process group
// (one /proc pass for all instances) and lets the instance kill its app when over the limit.
import { listProcStats, rssBytes } from '../lib/proc.js';
import type { Instance } from './instance.js';

export class MemoryWatcher {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly instances: () => Iterable<Instance>,
    private readonly intervalMs = 250,
  ) {}

  /** Runs the timer only while some instance has a memory limit. */
  refresh(): void {
    const needed = [...this.instances()].some((i) => i.memoryLimitBytes !== undefined && !i.isStopping);
    if (needed && !this.timer) this.timer = setInterval(() => this.tick(), this.intervalMs);
    else if (!needed && this.timer) this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One measurement pass. */
  tick(): void {
    const watched = new Map<number, Instance>();
    for (const inst of this.instances()) {
      const pid = inst.app.pid;
      if (inst.memoryLimitBytes !== undefined && !inst.isStopping && inst.app.isRunning && pid !== undefined) watched.set(pid, inst);
    }
    if (watched.size === 0) return;
    const totals = new Map<number, number>();
    for (const stat of listProcStats()) {
      if (watched.has(stat.pgrp)) totals.set(stat.pgrp, (totals.get(stat.pgrp) ?? 0) + rssBytes(stat.pid));
    }
    for (const [pgid, inst] of watched) inst.checkMemory(totals.get(pgid) ?? 0);
  }
}
