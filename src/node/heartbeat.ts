// The node agent's heartbeat: every period it tells the control plane it is alive, with the CPU and
// memory its supervised processes used. The control plane declares a node lost when heartbeats stop.
// The control plane's address is re-read from `control.json` whenever a send fails, because its port
// changes when it restarts; while it is down, heartbeats fail quietly and the agent carries on.
import { join } from 'node:path';
import type { ControlInfo } from '../lib/state-dir.js';
import type { InstanceObserved, NodeHeartbeat } from '../lib/agent-protocol.js';
import { readJsonFile } from '../lib/files.js';
import { requestJson } from '../lib/http.js';
import { CLOCK_TICKS_PER_SECOND, cpuTicks, rssBytes } from '../lib/proc.js';

export interface HeartbeatOptions {
  stateDir: string;
  node: string;
  token: string;
  pid: number;
  startTime: number;
  periodMs: number;
  instances: () => InstanceObserved[];
}

/** CPU use as a rate between two samples of the same processes' tick counters. */
class UsageSampler {
  private lastTicks = new Map<number, number>();
  private lastAt = performance.now();

  sample(pids: number[]): { cpuMillis: number; memoryMiB: number } {
    const now = performance.now();
    const elapsedS = Math.max(0.001, (now - this.lastAt) / 1000);
    const ticks = new Map<number, number>();
    let deltaTicks = 0;
    let rss = 0;
    for (const pid of pids) {
      const t = cpuTicks(pid);
      if (t === undefined) continue;
      ticks.set(pid, t);
      const prev = this.lastTicks.get(pid);
      if (prev !== undefined && t >= prev) deltaTicks += t - prev;
      rss += rssBytes(pid);
    }
    this.lastTicks = ticks;
    this.lastAt = now;
    return {
      cpuMillis: Math.round(((deltaTicks / CLOCK_TICKS_PER_SECOND) / elapsedS) * 1000),
      memoryMiB: Math.round((rss / (1024 * 1024)) * 10) / 10,
    };
  }
}

export function startHeartbeat(opts: HeartbeatOptions): () => void {
  const sampler = new UsageSampler();
  let control: ControlInfo | undefined;
  let inFlight = false;
  const send = async () => {
    if (inFlight) return;
    inFlight = true;
    try {
      const list = opts.instances();
      const pids = list.flatMap((i) => [i.main.pid, ...i.sidecars.map((s) => s.pid)]).filter((p): p is number => typeof p === 'number');
      const body: NodeHeartbeat = { node: opts.node, pid: opts.pid, startTime: opts.startTime, usage: sampler.sample(pids), instances: list.length };
      control ??= readJsonFile<ControlInfo>(join(opts.stateDir, 'control.json'));
      if (!control) return;
      try {
        await requestJson({ port: control.port, token: opts.token, timeoutMs: Math.max(500, opts.periodMs * 2) }, 'POST', `/api/v1/nodes/${encodeURIComponent(opts.node)}/heartbeat`, body);
      } catch {
        control = undefined; // re-discover: the control plane may have restarted on another port
      }
    } finally {
      inFlight = false;
    }
  };
  const timer = setInterval(() => void send(), opts.periodMs);
  void send();
  return () => clearInterval(timer);
}
