// Node lifecycle in the control plane: one NodeClient per node (spec-declared or added), heartbeats
// in, loss detection out. A node whose heartbeats stop for its grace period is lost: it is fenced
// (agent and every recorded process SIGKILLed) before its instances are declared gone, so nothing
// of it can still answer when replacements start elsewhere; then a fresh agent is started for it,
// and the node rejoins (empty) with its first heartbeat — a rebooted machine, in cluster terms.
import type { NodeHeartbeat } from '../lib/agent-protocol.js';
import { NodeClient } from './node-client.js';
import type { NewEvent, NodeRecord } from './store.js';

export type NodeCondition = 'Ready' | 'NotReady';

export interface NodeStatus {
  name: string;
  status: NodeCondition;
  cordoned: boolean;
  draining: boolean;
  agentPid: number | null;
  address: string;
  capacity: NodeRecord['capacity'];
  labels: Record<string, string>;
  usage: { cpuMillis: number; memoryMiB: number } | null;
  lastHeartbeatAgoMs: number | null;
}

export interface NodeManagerOptions {
  stateDir: string;
  token: string;
  tokenFile: string;
  /** The node records (the read model). */
  store: { nodes(): readonly NodeRecord[] };
  log: (msg: string) => void;
  event: (e: NewEvent) => void;
  /** Observed state of a node may have changed: pull it. */
  onNodeChange: (node: string) => void;
  /** The node's instances are gone (it was lost, or its agent was not running): replace them. */
  onNodeLost: (node: string, reason: string) => void;
  /** Missed-heartbeat grace period before a node is lost (default 2000 ms). */
  graceMs?: number;
  /** How often loss is checked (default 100 ms). */
  monitorMs?: number;
  /**
   * How long a silent agent whose process still exists keeps being asked before it is lost
   * (default 10 000 ms, BERTH_NODE_SLOW_MS). A dead agent is lost at once.
   */
  slowAgentMs?: number;
}

interface NodeHealth {
  lastHeartbeat: number;
  condition: NodeCondition;
  usage?: NodeHeartbeat['usage'];
  /** Set while the node is being fenced and restarted: no second loss is declared meanwhile. */
  recovering: boolean;
}

export class NodeManager {
  readonly clients = new Map<string, NodeClient>();
  private readonly health = new Map<string, NodeHealth>();
  /** App CPU/memory per instance id, from the latest heartbeat of its node. */
  private readonly usageByInstance = new Map<string, { cpuMillis: number; memoryMiB: number }>();
  private readonly usageBySidecar = new Map<string, Record<string, { cpuMillis: number; memoryMiB: number }>>();
  private monitor: NodeJS.Timeout | undefined;
  private lastCheck = performance.now();
  private stopped = false;

  constructor(private readonly opts: NodeManagerOptions) {}

  get graceMs(): number {
    return this.opts.graceMs ?? 2000;
  }

  /** Brings the set of clients in line with the store's nodes: connects/starts new ones, shuts removed ones down. */
  async sync(): Promise<void> {
    const records = this.opts.store.nodes();
    const names = new Set(records.map((r) => r.name));
    // New nodes' agents start in parallel: a 5-node app should not wait for them one by one.
    await Promise.all(records.filter((r) => !this.clients.has(r.name)).map((r) => this.connect(r.name)));
    for (const [name, client] of this.clients) {
      if (names.has(name)) continue;
      this.clients.delete(name);
      this.health.delete(name);
      await client.shutdown(15_000);
      this.opts.event({ type: 'Normal', reason: 'NodeRemoved', message: `node ${name} removed`, node: name });
    }
    if (!this.monitor && !this.stopped) {
      this.monitor = setInterval(() => this.checkLoss(), this.opts.monitorMs ?? 100);
      this.monitor.unref();
    }
  }

  private async connect(name: string): Promise<void> {
    const client = new NodeClient({
      node: name,
      stateDir: this.opts.stateDir,
      token: this.opts.token,
      tokenFile: this.opts.tokenFile,
      onChange: () => this.opts.onNodeChange(name),
      log: this.opts.log,
    });
    this.clients.set(name, client);
    this.health.set(name, { lastHeartbeat: performance.now(), condition: 'NotReady', recovering: true });
    try {
      const how = await client.ensure();
      this.opts.event({
        type: 'Normal',
        reason: how === 'adopted' ? 'NodeAdopted' : 'NodeStarted',
        message: `node agent ${name} ${how === 'adopted' ? 'reconnected' : 'started'} (pid ${client.agentPid})`,
        node: name,
      });
      if (how === 'started') this.opts.onNodeLost(name, 'its node agent was not running');
      // ensure() has just had the agent answer its health check: it is ready until heartbeats say otherwise.
      this.markReady(name);
    } catch (err) {
      this.opts.event({ type: 'Warning', reason: 'NodeFailed', message: `node agent ${name} could not start: ${(err as Error).message}`, node: name });
    } finally {
      const h = this.health.get(name);
      if (h) h.recovering = false;
    }
    this.opts.onNodeChange(name);
  }

  private markReady(name: string): void {
    const h = this.health.get(name);
    if (!h) return;
    h.lastHeartbeat = performance.now();
    if (h.condition !== 'Ready') {
      h.condition = 'Ready';
      this.opts.event({ type: 'Normal', reason: 'NodeReady', message: `node ${name} is ready`, node: name });
      this.opts.onNodeChange(name);
    }
  }

  heartbeat(hb: NodeHeartbeat): boolean {
    const client = this.clients.get(hb.node);
    const h = this.health.get(hb.node);
    if (!client || !h) return false;
    // Only the agent this control plane knows counts (a fenced agent's last words do not).
    if (client.agentPid !== hb.pid) return false;
    h.usage = hb.usage;
    for (const [id, u] of Object.entries(hb.instanceUsage ?? {})) this.usageByInstance.set(id, u);
    for (const [id, u] of Object.entries(hb.sidecarUsage ?? {})) this.usageBySidecar.set(id, u);
    this.markReady(hb.node);
    return true;
  }

  instanceUsage(id: string): { cpuMillis: number; memoryMiB: number } | undefined {
    return this.usageByInstance.get(id);
  }

  /** Each sidecar of an instance by name, from its node's latest heartbeat. */
  sidecarUsage(id: string): Record<string, { cpuMillis: number; memoryMiB: number }> | undefined {
    return this.usageBySidecar.get(id);
  }

  /** Measured CPU/memory of a node from its latest heartbeat. */
  nodeUsage(name: string): { cpuMillis: number; memoryMiB: number } | undefined {
    return this.health.get(name)?.usage ?? undefined;
  }

  forgetInstance(id: string): void {
    this.usageByInstance.delete(id);
    this.usageBySidecar.delete(id);
  }

  ready(name: string): boolean {
    return this.health.get(name)?.condition === 'Ready';
  }

  private checkLoss(): void {
    const now = performance.now();
    // Timers lie under load: if this control plane itself stalled, heartbeats could not be counted
    // meanwhile — that time is not the nodes' silence.
    const stalled = now - this.lastCheck - (this.opts.monitorMs ?? 100);
    this.lastCheck = now;
    if (stalled > 250) for (const h of this.health.values()) h.lastHeartbeat += stalled;
    for (const [name, h] of this.health) {
      if (h.recovering || h.condition !== 'Ready') continue;
      const silentMs = now - h.lastHeartbeat;
      if (silentMs <= this.graceMs) continue;
      void this.lose(name, `no heartbeat for ${(silentMs / 1000).toFixed(1)}s (grace ${(this.graceMs / 1000).toFixed(1)}s)`);
    }
  }

  /** Declares a node lost: fence it, report its instances gone, start a fresh agent for it. */
  private async lose(name: string, why: string): Promise<void> {
    const client = this.clients.get(name);
    const h = this.health.get(name);
    if (!client || !h || h.recovering) return;
    h.recovering = true;
    // Late heartbeats from an agent that still answers mean a slow node (a busy machine), not a lost one:
    // fencing it would kill healthy instances and make the machine busier still.
    if (await this.agentAnswers(client)) {
      this.opts.event({ type: 'Warning', reason: 'NodeSlow', message: `node ${name}: ${why}, but its agent answers: not lost`, node: name });
      h.lastHeartbeat = performance.now();
      h.recovering = false;
      return;
    }
    h.condition = 'NotReady';
    this.opts.event({ type: 'Warning', reason: 'NodeLost', message: `node ${name} lost: ${why}; fencing it`, node: name });
    try {
      await client.fence();
      this.opts.event({ type: 'Warning', reason: 'Fenced', message: `node ${name} fenced: its agent and every process it ran are killed`, node: name });
      this.opts.onNodeLost(name, `node ${name} was lost (${why})`);
      if (this.stopped) return;
      await client.ensure();
      this.opts.event({ type: 'Normal', reason: 'NodeStarted', message: `node agent ${name} restarted (pid ${client.agentPid}); it rejoins empty`, node: name });
      h.recovering = false;
      this.markReady(name);
    } catch (err) {
      this.opts.event({ type: 'Warning', reason: 'NodeFailed', message: `node ${name} could not be recovered: ${(err as Error).message}`, node: name });
    } finally {
      h.lastHeartbeat = performance.now();
      h.recovering = false;
      this.opts.onNodeChange(name);
    }
  }

  /**
   * Asks a silent node's agent directly. One unanswered ping is not enough while its process exists:
   * on a saturated machine the agent's answer and this process's own timers both run late (a timer
   * that fires after a stall fires before the answer waiting in the socket is read). So it is asked
   * again until it answers or slowAgentMs has passed; an agent process that is gone ends it at once.
   */
  private async agentAnswers(client: NodeClient): Promise<boolean> {
    const deadline = performance.now() + (this.opts.slowAgentMs ?? 10_000);
    for (;;) {
      if (await client.ping(Math.min(this.graceMs, 2000))) return true;
      if (!client.agentAlive() || this.stopped || performance.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 200)); // a refused connection fails at once: do not spin
    }
  }

  /** `berth node kill`: SIGKILL the agent and all its instances (chaos); loss detection does the rest. */
  async kill(name: string): Promise<void> {
    const client = this.clients.get(name);
    if (!client) throw new Error(`unknown node "${name}"`);
    await client.fence();
    this.opts.event({ type: 'Warning', reason: 'NodeKilled', message: `node ${name} killed on request (agent and instances SIGKILLed)`, node: name });
  }

  statuses(): NodeStatus[] {
    const slotPart = (idx: number) => `127.${idx}.*`;
    return this.opts.store.nodes().map((r) => {
      const h = this.health.get(r.name);
      const c = this.clients.get(r.name);
      return {
        name: r.name,
        status: h?.condition ?? 'NotReady',
        cordoned: r.cordoned,
        draining: r.draining,
        agentPid: c?.agentAlive() ? (c.agentPid ?? null) : null,
        address: slotPart(r.idx),
        capacity: r.capacity,
        labels: r.labels,
        usage: h?.usage ?? null,
        lastHeartbeatAgoMs: h ? Math.round(performance.now() - h.lastHeartbeat) : null,
      };
    });
  }

  async shutdownAll(timeoutMs: number): Promise<void> {
    this.stop();
    await Promise.all([...this.clients.values()].map((c) => c.shutdown(timeoutMs)));
  }

  stop(): void {
    this.stopped = true;
    if (this.monitor) clearInterval(this.monitor);
    this.monitor = undefined;
  }

  close(): void {
    this.stop();
    for (const c of this.clients.values()) c.close();
  }
}
