// Memory limits: every ~250 ms, sums the resident memory of each limited app's (and limited sidecar's) process group and
// lets the instance kill that process when over the limit. To stay cheap, each tick reads only the group's
// known members and their children; a full /proc pass every 30 s catches anything else.
import { childPids, listProcStats, readMemoryAndGroup } from '../lib/proc.js';
import type { Instance } from './instance.js';

/** Ticks between full /proc scans (every 30 s at 250 ms: a safety net that reads every process on the machine, so kept rare). */
const FULL_SCAN_EVERY = 120;

export class MemoryWatcher {
  private timer: NodeJS.Timeout | undefined;
  private ticks = 0;
  /** Known members per watched process group. */
  private members = new Map<number, Set<number>>();

  constructor(
    private readonly instances: () => Iterable<Instance>,
    private readonly intervalMs = 250,
  ) {}

  /** Runs the timer only while some instance has a memory limit. */
  refresh(): void {
    const needed = [...this.instances()].some((i) => !i.isStopping && (i.memoryLimitBytes !== undefined || i.sidecars.some((s) => s.memoryLimitBytes !== undefined)));
    if (needed && !this.timer) this.timer = setInterval(() => this.tick(), this.intervalMs);
    else if (!needed && this.timer) this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.members.clear();
  }

  /** One measurement pass. */
  tick(): void {
    const watched = new Map<number, (rssBytes: number) => void>();
    for (const inst of this.instances()) {
      const pid = inst.app.pid;
      if (inst.memoryLimitBytes !== undefined && !inst.isStopping && inst.app.isRunning && pid !== undefined) watched.set(pid, (rss) => inst.checkMemory(rss));
      for (const s of inst.limitedSidecars()) watched.set(s.pid as number, (rss) => inst.checkSidecarMemory(s, rss));
    }
    for (const pgid of this.members.keys()) if (!watched.has(pgid)) this.members.delete(pgid);
    if (watched.size === 0) return;
    if (this.ticks++ % FULL_SCAN_EVERY === 0) this.fullScan(watched);
    for (const [pgid, check] of watched) check(this.groupRss(pgid));
  }

  private fullScan(watched: Map<number, unknown>): void {
    const fresh = new Map<number, Set<number>>();
    for (const pgid of watched.keys()) fresh.set(pgid, new Set([pgid]));
    for (const stat of listProcStats()) fresh.get(stat.pgrp)?.add(stat.pid);
    this.members = fresh;
  }

  /** Resident bytes of a group: known members plus their new children, pruning those that left or died. */
  private groupRss(pgid: number): number {
    let members = this.members.get(pgid);
    if (!members) {
      members = new Set([pgid]);
      this.members.set(pgid, members);
    }
    const queue = [...members];
    let total = 0;
    while (queue.length > 0) {
      const pid = queue.pop() as number;
      const info = readMemoryAndGroup(pid);
      if (!info || info.pgrp !== pgid) {
        members.delete(pid);
        continue;
      }
      total += info.rssBytes;
      for (const child of childPids(pid) ?? []) {
        if (!members.has(child)) {
          members.add(child);
          queue.push(child);
        }
      }
    }
    return total;
  }
}
