// The node agent's heartbeat: every period it tells the control plane it is alive, with the CPU and
// memory its supervised processes used. The control plane declares a node lost when heartbeats stop.
// The control plane's address is re-read from `control.json` whenever a send fails, because its port
// changes when it restarts; while it is down, heartbeats fail quietly and the agent carries on.
import http from 'node:http';
import { join } from 'node:path';
import type { ControlInfo } from '../lib/state-dir.js';
import type { InstanceObserved, NodeHeartbeat } from '../lib/agent-protocol.js';
import { readJsonFile } from '../lib/files.js';
import { requestJson } from '../lib/http.js';
import { CLOCK_TICKS_PER_SECOND, cpuAndRss } from '../lib/proc.js';

export interface HeartbeatOptions {
  stateDir: string;
  node: string;
  token: string;
  pid: number;
  startTime: number;
  periodMs: number;
  instances: () => InstanceObserved[];
}

interface Usage {
  cpuMillis: number;
  memoryMiB: number;
}

function usage(deltaTicks: number, rssBytesTotal: number, elapsedS: number): Usage {
  return {
    cpuMillis: Math.round((deltaTicks / CLOCK_TICKS_PER_SECOND / elapsedS) * 1000),
    memoryMiB: Math.round((rssBytesTotal / (1024 * 1024)) * 10) / 10,
  };
}

/** CPU use as a rate between two samples of the same processes' tick counters. */
class UsageSampler {
  private lastTicks = new Map<number, number>();
  private lastAt = performance.now();

  /** Usage per group of pids (e.g. per instance) and in total, since the previous sample. */
  sample(groups: Map<string, number[]>): { total: Usage; byGroup: Record<string, Usage> } {
    const now = performance.now();
    const elapsedS = Math.max(0.001, (now - this.lastAt) / 1000);
    const ticks = new Map<number, number>();
    const byGroup: Record<string, Usage> = {};
    let totalTicks = 0;
    let totalRss = 0;
    for (const [group, pids] of groups) {
      let deltaTicks = 0;
      let rss = 0;
      for (const pid of pids) {
        const u = cpuAndRss(pid); // one read of /proc/PID/stat for both figures
        if (u === undefined) continue;
        ticks.set(pid, u.ticks);
        const prev = this.lastTicks.get(pid);
        if (prev !== undefined && u.ticks >= prev) deltaTicks += u.ticks - prev;
        rss += u.rssBytes;
      }
      byGroup[group] = usage(deltaTicks, rss, elapsedS);
      totalTicks += deltaTicks;
      totalRss += rss;
    }
    this.lastTicks = ticks;
    this.lastAt = now;
    return { total: usage(totalTicks, totalRss, elapsedS), byGroup };
  }
}

export function startHeartbeat(opts: HeartbeatOptions): () => void {
  // Two beats a second: one kept connection instead of a connect and teardown per beat. A failed beat (e.g. the
  // control plane restarted and closed it) just waits for the next one, well inside the loss grace period.
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 });
  const sampler = new UsageSampler();
  let control: ControlInfo | undefined;
  // Liveness needs the 0.5 s beat; usage figures do not: sample them at most once a second.
  let lastSample: { at: number; usage: NodeHeartbeat['usage']; instanceUsage: NodeHeartbeat['instanceUsage']; sidecarUsage: NodeHeartbeat['sidecarUsage'] } | undefined;
  let inFlight = false;
  const send = async () => {
    if (inFlight) return;
    inFlight = true;
    try {
      const list = opts.instances();
      if (!lastSample || performance.now() - lastSample.at >= 950) {
        // Per instance, the app alone (its resources are what cpuPercent/memoryPercent are relative to); the node total counts sidecars too.
        const isPid = (p: number | undefined): p is number => typeof p === 'number';
        const groups = new Map<string, number[]>();
        const sidecarGroups: [instance: string, sidecar: string, group: string][] = [];
        for (const i of list) {
          groups.set(i.id, [i.main.pid].filter(isPid));
          for (const s of i.sidecars) {
            if (!isPid(s.pid)) continue;
            const group = `${i.id}#${s.name}`;
            groups.set(group, [s.pid]);
            sidecarGroups.push([i.id, s.name, group]);
          }
        }
        const sample = sampler.sample(groups);
        const instanceUsage = Object.fromEntries(list.filter((i) => sample.byGroup[i.id]).map((i) => [i.id, sample.byGroup[i.id]]));
        const sidecarUsage: NonNullable<NodeHeartbeat['sidecarUsage']> = {};
        for (const [instance, sidecar, group] of sidecarGroups) (sidecarUsage[instance] ??= {})[sidecar] = sample.byGroup[group];
        lastSample = { at: performance.now(), usage: sample.total, instanceUsage, sidecarUsage };
      }
      const body: NodeHeartbeat = { node: opts.node, pid: opts.pid, startTime: opts.startTime, usage: lastSample.usage, instances: list.length, instanceUsage: lastSample.instanceUsage, sidecarUsage: lastSample.sidecarUsage };
      control ??= readJsonFile<ControlInfo>(join(opts.stateDir, 'control.json'));
      if (!control) return;
      try {
        await requestJson({ port: control.port, token: opts.token, timeoutMs: Math.max(500, opts.periodMs * 2), agent: keepAlive }, 'POST', `/api/v1/nodes/${encodeURIComponent(opts.node)}/heartbeat`, body);
      } catch {
        control = undefined; // re-discover: the control plane may have restarted on another port
      }
    } finally {
      inFlight = false;
    }
  };
  const timer = setInterval(() => void send(), opts.periodMs);
  void send();
  return () => {
    clearInterval(timer);
    keepAlive.destroy();
  };
}
