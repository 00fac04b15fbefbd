// The control plane's side of one node agent: finds or starts the agent process, watches it,
// pulls its observed instances and events, and pushes the desired set (only when it changed).
// If the agent is gone, whatever is left of its processes is fenced before a new agent starts.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentDesired, AgentEvent, AgentHealth, AgentInfo, InstanceObserved } from '../lib/agent-protocol.js';
import { readJsonFile } from '../lib/files.js';
import { requestJson, subscribeSse } from '../lib/http.js';
import { fenceGroup } from '../lib/fence.js';
import { isProcessAlive, killGroup } from '../lib/proc.js';
import { canonicalJson } from '../lib/canonical-json.js';

const agentMain = fileURLToPath(new URL('../node/main.js', import.meta.url));

// Every call to an agent is bounded: a frozen agent (SIGSTOP, a swapped-out machine) accepts connections
// and never answers, and the node's reconcile must give up on it rather than hold its worker forever.
// A healthy agent answers these in milliseconds; the margins are for a loaded 2-core machine.
/** GET /instances and /events (a pull). */
const PULL_TIMEOUT_MS = 5000;
/** PUT /desired: the agent validates and applies the whole set before it answers (its spawns come later). */
const PUSH_TIMEOUT_MS = 10_000;
/** Until the agent's /watch stream answers (the open stream has no timeout). */
const WATCH_CONNECT_TIMEOUT_MS = 5000;

export interface NodeClientOptions {
  node: string;
  stateDir: string;
  token: string;
  tokenFile: string;
  /** Called whenever observed state or events may have changed. */
  onChange: () => void;
  log: (msg: string) => void;
}

interface FencedProcess {
  pid: number;
  startTime?: number;
  pgid?: number;
}

export class NodeClient {
  readonly node: string;
  private info: AgentInfo | undefined;
  private closeWatch: (() => void) | undefined;
  private lastPushed = '';
  private generation = 0;
  private stopped = false;
  observed = new Map<string, InstanceObserved>();
  /** True once observed reflects a successful pull from the current agent. */
  synced = false;
  /** Set when this control plane had to start a fresh agent (nothing to adopt). */
  startedFresh = false;

  constructor(private readonly opts: NodeClientOptions) {
    this.node = opts.node;
  }

  private get dir(): string {
    return join(this.opts.stateDir, 'nodes', this.node);
  }

  get agentPid(): number | undefined {
    return this.info?.pid;
  }

  private async healthy(info: AgentInfo): Promise<AgentHealth | undefined> {
    if (!isProcessAlive(info.pid, info.startTime)) return undefined;
    try {
      return await requestJson<AgentHealth>({ port: info.port, token: this.opts.token, timeoutMs: 2000 }, 'GET', '/healthz');
    } catch {
      return undefined;
    }
  }

  /** Connects to the running agent or starts one. Returns 'adopted' or 'started'. */
  async ensure(): Promise<'adopted' | 'started'> {
    const existing = readJsonFile<AgentInfo>(join(this.dir, 'agent.json'));
    if (existing) {
      const health = await this.healthy(existing);
      if (health) {
        this.info = existing;
        this.generation = health.generation;
        await this.watch();
        return 'adopted';
      }
    }
    this.fenceLeftovers();
    await this.start();
    this.startedFresh = true;
    await this.watch();
    return 'started';
  }

  /** Kills whatever process groups a dead agent left behind (recorded with their start times), dead leaders included. */
  private fenceLeftovers(): void {
    const recorded = readJsonFile<FencedProcess[] | { processes: FencedProcess[] }>(join(this.dir, 'processes.json'));
    const list = Array.isArray(recorded) ? recorded : (recorded?.processes ?? []);
    for (const p of list) {
      if (!p || typeof p.pid !== 'number') continue;
      const members = fenceGroup(p);
      if (members.length > 0) this.opts.log(`fenced leftover group ${p.pgid ?? p.pid} of node ${this.node} (pids ${members.join(', ')})`);
    }
  }

  private async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const logFd = openSync(join(this.dir, 'agent.log'), 'a');
    const child = spawn(process.execPath, [agentMain, '--state-dir', this.opts.stateDir, '--node', this.node, '--token-file', this.opts.tokenFile], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: process.env,
    });
    closeSync(logFd);
    // Say how an agent ended: its log cannot, when a signal killed it.
    child.once('exit', (code, signal) => this.opts.log(`node agent ${this.node} (pid ${child.pid ?? '?'}) exited ${signal ? `on ${signal}` : `with code ${code ?? '?'}`}`));
    child.unref();
    const pid = child.pid;
    const deadline = performance.now() + 15_000;
    while (performance.now() < deadline) {
      const info = readJsonFile<AgentInfo>(join(this.dir, 'agent.json'));
      if (info && info.pid === pid && (await this.healthy(info))) {
        this.info = info;
        this.generation = 0;
        this.lastPushed = '';
        return;
      }
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`node agent ${this.node} did not start (see ${join(this.dir, 'agent.log')})`);
  }

  private async watch(): Promise<void> {
    const info = this.info;
    if (!info) return;
    try {
      this.closeWatch = await subscribeSse(
        { port: info.port, token: this.opts.token, timeoutMs: WATCH_CONNECT_TIMEOUT_MS },
        '/watch',
        () => this.opts.onChange(),
        () => {
          this.closeWatch = undefined;
          if (!this.stopped) this.opts.onChange();
        },
      );
    } catch {
      this.closeWatch = undefined;
    }
  }

  /** Pulls observed instances and new events; returns the events (already ordered). Reconnects or restarts the agent if needed. */
  async pull(cursor: number): Promise<AgentEvent[]> {
    // A dead agent is not restarted here: the node monitor declares the node lost after its grace
    // period, fences it and starts a new agent (see nodes.ts).
    if (!this.info) throw new Error(`node agent ${this.node} is not connected`);
    if (!this.closeWatch) await this.watch();
    try {
      return await this.fetchState(cursor);
    } catch (err) {
      this.synced = false;
      throw err;
    }
  }

  /** Asks the agent directly whether it is alive (used before declaring a silent node lost). */
  async ping(timeoutMs: number): Promise<boolean> {
    const info = this.info;
    if (!info || !isProcessAlive(info.pid, info.startTime)) return false;
    try {
      await requestJson<AgentHealth>({ port: info.port, token: this.opts.token, timeoutMs }, 'GET', '/healthz');
      return true;
    } catch {
      return false;
    }
  }

  /** True when the agent process recorded for this node is alive (zombies and reused PIDs excluded). */
  agentAlive(): boolean {
    return !!this.info && isProcessAlive(this.info.pid, this.info.startTime);
  }

  /** Kills the node: its agent (SIGKILL) and every process it recorded. Used to fence a lost node and by `berth node kill`. */
  async fence(): Promise<void> {
    this.synced = false;
    this.observed = new Map();
    this.closeWatch?.();
    this.closeWatch = undefined;
    const info = this.info ?? readJsonFile<AgentInfo>(join(this.dir, 'agent.json'));
    if (info && isProcessAlive(info.pid, info.startTime)) killGroup(info.pid, 'SIGKILL');
    this.fenceLeftovers();
    const deadline = performance.now() + 5000;
    while (performance.now() < deadline && info && isProcessAlive(info.pid, info.startTime)) await new Promise((r) => setTimeout(r, 20));
    this.info = undefined;
  }

  private async fetchState(cursor: number): Promise<AgentEvent[]> {
    const info = this.info!;
    const opts = { port: info.port, token: this.opts.token, timeoutMs: PULL_TIMEOUT_MS };
    const list = await requestJson<InstanceObserved[]>(opts, 'GET', '/instances');
    this.observed = new Map(list.map((i) => [i.id, i]));
    this.synced = true;
    return requestJson<AgentEvent[]>(opts, 'GET', `/events?after=${cursor}`);
  }

  /** Sends the desired set when it differs from what this agent last accepted. */
  async push(desired: Omit<AgentDesired, 'generation'>): Promise<boolean> {
    if (!this.info) return false;
    const body = canonicalJson(desired);
    if (body === this.lastPushed) return false;
    const generation = this.generation + 1;
    await requestJson({ port: this.info.port, token: this.opts.token, timeoutMs: PUSH_TIMEOUT_MS }, 'PUT', '/desired', { generation, ...desired });
    this.generation = generation;
    this.lastPushed = body;
    return true;
  }

  /** Asks the agent to restart the named sidecars (POST /sidecars/restart). */
  async restartSidecars(name: string, service?: string): Promise<{ instance: string; pid: number }[]> {
    if (!this.info) return [];
    const r = await requestJson<{ restarted: { instance: string; pid: number }[] }>({ port: this.info.port, token: this.opts.token, timeoutMs: 10_000 }, 'POST', '/sidecars/restart', { name, ...(service ? { service } : {}) });
    return r.restarted;
  }

  /** Asks the agent to stop everything and exit; waits (bounded) for its process to be gone. */
  async shutdown(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.closeWatch?.();
    const info = this.info;
    if (!info) return;
    try {
      await requestJson({ port: info.port, token: this.opts.token, timeoutMs: 5000 }, 'POST', '/shutdown');
    } catch {
      // the agent may already be gone: the wait below decides, and kills it when needed
    }
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline && isProcessAlive(info.pid, info.startTime)) await new Promise((r) => setTimeout(r, 50));
    if (isProcessAlive(info.pid, info.startTime)) {
      killGroup(info.pid, 'SIGKILL');
      this.fenceLeftovers();
    }
  }

  close(): void {
    this.stopped = true;
    this.closeWatch?.();
  }
}
