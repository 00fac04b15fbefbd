// The node agent: holds the instances of one node, reconciles them against the desired set on every
// PUT /desired (level-triggered), keeps the forwarder, memory watcher, events and processes.json in step,
// and serves the agent API. `startAgent` runs it in-process; main.ts wraps it as a long-lived process.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentDesired, AgentEvent, AgentHealth, AgentInfo, InstanceObserved, InstanceSpec } from '../lib/agent-protocol.js';
import { isProcessAlive, selfStartTime } from '../lib/proc.js';
import { createApiServer, type AgentApiBackend } from './api-server.js';
import { AppPorts } from './app-ports.js';
import { needsDaprPort, specWithDaprPort } from '../lib/private-port.js';
import { writeJsonAtomic } from '../lib/files.js';
import { EventLog } from './event-log.js';
import { Forwarder } from './forwarder.js';
import { Instance } from './instance.js';
import { DEFAULT_LOG_ROTATION, type LogRotation } from './log-file.js';
import { LogBufferWatcher } from './log-buffer-events.js';
import { DeadLetterWatcher } from './dead-letter-events.js';
import { MemoryWatcher } from './memory-watcher.js';
import { agentInfoPath, eventsPath, nodeDir, processesPath } from './paths.js';
import { fenceRecordedProcesses, ProcessRegistry, waitForProcessesGone } from './process-registry.js';
import { WatchHub } from './watch-hub.js';
import { removeNodeSecrets, secretFilesRoot } from './secret-files.js';

export interface AgentOptions {
  /** The Berth state directory (`.berth`). */
  stateDir: string;
  /** This node's name. */
  node: string;
  /** Bearer token every request must carry. */
  token: string;
  /** Address to listen on (default 127.0.0.1). */
  listenHost?: string;
  /** Port to listen on (default 0: any free port). */
  port?: number;
  /** Capture-file rotation (default 10 MiB, keep 3). */
  logRotation?: Partial<LogRotation>;
  /** Events kept in memory for GET /events (default 5000). */
  eventRingSize?: number;
  /** Memory sampling interval in ms (default 250). */
  memoryIntervalMs?: number;
  /** How long a forwarded connection waits for a ready instance (default 2000 ms). */
  forwardWaitMs?: number;
  /** Delay between bind attempts of a busy service port (default 3000 ms). */
  bindRetryMs?: number;
}

export interface RunningAgent {
  readonly info: AgentInfo;
  readonly port: number;
  /** Stops every instance gracefully, closes listeners, removes agent.json. Idempotent. */
  shutdown(): Promise<void>;
  /** Resolves once the agent has shut down (by shutdown() or POST /shutdown). */
  readonly done: Promise<void>;
  /** What the agent holds now (as GET /instances reports it). */
  instances(): InstanceObserved[];
}

class Agent implements AgentApiBackend {
  readonly instancesById = new Map<string, Instance>();
  private desired: AgentDesired = { generation: 0, instances: [], services: [] };
  private readonly desiredById = new Map<string, InstanceSpec>();
  readonly events: EventLog;
  readonly hub: WatchHub;
  private readonly forwarder: Forwarder;
  private readonly memory: MemoryWatcher;
  /** Turns the log agents' full-disk pauses (their status.json) into events. */
  private readonly logBuffers: LogBufferWatcher;
  private readonly deadLetters: DeadLetterWatcher;
  private readonly registry: ProcessRegistry;
  private readonly logRotation: LogRotation;
  /** Where instances' secret files are written (secret-files.ts). */
  readonly secretsRoot: string;
  /** Each instance's private PORT, unique on the machine; held as long as the instance. */
  private readonly appPorts: AppPorts;
  /** Instance id → its building-block API port (DAPR_HTTP_PORT), claimed like PORT. */
  private readonly daprPorts = new Map<string, number>();
  private shutdownPromise: Promise<void> | undefined;
  shuttingDown = false;
  onShutdownRequested: () => void = () => {};

  constructor(
    private readonly opts: AgentOptions,
    private readonly startTime: number,
  ) {
    this.logRotation = { ...DEFAULT_LOG_ROTATION, ...opts.logRotation };
    this.hub = new WatchHub(() => ({ generation: this.desired.generation, lastSeq: this.events.lastSeq }));
    this.events = new EventLog(eventsPath(opts.stateDir, opts.node), opts.node, opts.eventRingSize ?? 5000, undefined, () => this.hub.changed());
    this.registry = new ProcessRegistry(processesPath(opts.stateDir, opts.node), { node: opts.node, agentPid: process.pid, agentStartTime: startTime });
    this.forwarder = new Forwarder({
      endpoints: (service) => this.readyEndpoints(service),
      event: (e) => this.events.append(e),
      waitForEndpointMs: opts.forwardWaitMs,
      bindRetryMs: opts.bindRetryMs,
    });
    this.memory = new MemoryWatcher(() => this.instancesById.values(), opts.memoryIntervalMs);
    this.logBuffers = new LogBufferWatcher(opts.stateDir, () => this.instancesById.values(), (inst, e) => this.events.append({ ...e, service: inst.service, instance: inst.id }));
    this.deadLetters = new DeadLetterWatcher(opts.stateDir, () => this.instancesById.values(), (inst, e) => this.events.append({ ...e, service: inst.service, instance: inst.id }));
    this.appPorts = new AppPorts({ pid: process.pid, startTime });
    // What a previous agent of this node left is stale: its instances were fenced, and new ones write their own.
    this.secretsRoot = join(secretFilesRoot(opts.stateDir), opts.node);
    rmSync(this.secretsRoot, { recursive: true, force: true });
    this.registry.update([]);
  }

  health(): AgentHealth {
    return { node: this.opts.node, pid: process.pid, startTime: this.startTime, generation: this.desired.generation };
  }

  applyDesired(desired: AgentDesired): { generation: number } {
    this.desired = desired;
    this.desiredById.clear();
    for (const spec of desired.instances) this.desiredById.set(spec.id, spec);
    this.reconcile();
    this.forwarder.apply(desired.services);
    this.hub.changed();
    return { generation: desired.generation };
  }

  instances(): InstanceObserved[] {
    return [...this.instancesById.values()].map((i) => i.observe());
  }

  eventsAfter(seq: number): AgentEvent[] {
    return this.events.after(seq);
  }

  watch(res: http.ServerResponse): void {
    this.hub.add(res);
  }

  restartSidecars(name: string, service?: string): { restarted: { instance: string; pid: number }[] } {
    const restarted: { instance: string; pid: number }[] = [];
    for (const inst of this.instancesById.values()) {
      if (inst.isStopping || (service !== undefined && inst.service !== service)) continue;
      for (const pid of inst.restartSidecar(name)) restarted.push({ instance: inst.id, pid });
    }
    if (restarted.length > 0) this.events.append({ type: 'Normal', reason: 'SidecarRestarting', message: `Restarting sidecar ${name} of ${restarted.length} instance(s)${service ? ` of ${service}` : ''} on request` });
    return { restarted };
  }

  requestShutdown(): void {
    this.onShutdownRequested();
  }

  /** Level-triggered: stop what is held but not desired (or at another revision), start what is missing. */
  private reconcile(): void {
    if (this.shuttingDown) return;
    for (const inst of this.instancesById.values()) {
      const want = this.desiredById.get(inst.id);
      if ((!want || want.revision !== inst.revision) && !inst.isStopping) {
        this.stopInstance(inst).catch((err: unknown) =>
          this.events.append({ type: 'Warning', reason: 'StopFailed', message: `Stopping ${inst.id} failed: ${(err as Error).message}`, service: inst.service, instance: inst.id }),
        );
      }
    }
    for (const spec of this.desiredById.values()) {
      if (this.instancesById.has(spec.id)) continue;
      let privatePort: number | undefined;
      if (spec.port !== undefined) {
        try {
          privatePort = this.appPorts.claim(spec.id);
        } catch (err) {
          this.events.append({ type: 'Warning', reason: 'PortAllocationFailed', service: spec.service, instance: spec.id, message: `Cannot start ${spec.id}: ${(err as Error).message}` });
          continue; // tried again on the next desired set
        }
      }
      let instSpec = spec;
      if (needsDaprPort(spec)) {
        try {
          const daprPort = this.daprPorts.get(spec.id) ?? this.appPorts.claim(`${spec.id}/dapr`);
          this.daprPorts.set(spec.id, daprPort);
          instSpec = specWithDaprPort(spec, daprPort);
        } catch (err) {
          if (privatePort !== undefined) this.appPorts.release(privatePort);
          this.events.append({ type: 'Warning', reason: 'PortAllocationFailed', service: spec.service, instance: spec.id, message: `Cannot start ${spec.id}: ${(err as Error).message}` });
          continue;
        }
      }
      const inst = new Instance(
        instSpec,
        {
          event: (e) => this.events.append({ ...e, service: spec.service, instance: spec.id }),
          changed: () => this.stateChanged(),
          reassignPort: (old) => this.reassignPort(spec, old),
        },
        this.logRotation,
        privatePort,
        this.secretsRoot,
        this.opts.stateDir,
      );
      this.instancesById.set(spec.id, inst);
      inst.start();
    }
    this.stateChanged();
  }

  /** Another program took an instance's private port: a new one (the old claim is dropped), or undefined. */
  private reassignPort(spec: InstanceSpec, old: number): number | undefined {
    try {
      const next = this.appPorts.claim(spec.id);
      this.appPorts.release(old);
      return next;
    } catch (err) {
      this.events.append({ type: 'Warning', reason: 'PortAllocationFailed', service: spec.service, instance: spec.id, message: `PORT ${old} is held by another program and no other is free: ${(err as Error).message}` });
      return undefined;
    }
  }

  private stopInstance(inst: Instance): Promise<void> {
    return inst.stop().then(() => {
      if (this.instancesById.get(inst.id) === inst) this.instancesById.delete(inst.id);
      if (inst.privatePort !== undefined) this.appPorts.release(inst.privatePort);
      const daprPort = this.daprPorts.get(inst.id);
      if (daprPort !== undefined && this.instancesById.get(inst.id) === undefined) {
        this.daprPorts.delete(inst.id);
        this.appPorts.release(daprPort);
      }
      this.stateChanged();
      // A replacement (same id, new revision) may be waiting for this one to go.
      this.reconcile();
    });
  }

  private stateChanged(): void {
    this.registry.update([...this.instancesById.values()].flatMap((i) => i.runningProcesses()));
    this.memory.refresh();
    this.logBuffers.refresh();
    this.deadLetters.refresh();
    this.hub.changed();
  }

  private readyEndpoints(service: string): { id: string; host: string; port: number }[] {
    const out: { id: string; host: string; port: number }[] = [];
    for (const inst of this.instancesById.values()) {
      const ep = inst.service === service && inst.serving ? inst.endpoint : undefined;
      if (ep) out.push(ep);
    }
    // Instances on other nodes, as the control plane last reported them ready (kept while it is down).
    for (const fwd of this.desired.services) if (fwd.name === service && fwd.remoteEndpoints) out.push(...fwd.remoteEndpoints);
    return out;
  }

  /** Stops every instance in parallel, then closes the forwarder and watchers. */
  shutdown(): Promise<void> {
    if (!this.shutdownPromise) this.shutdownPromise = this.doShutdown();
    return this.shutdownPromise;
  }

  private async doShutdown(): Promise<void> {
    this.shuttingDown = true;
    this.events.append({ type: 'Normal', reason: 'AgentStopping', message: `Node agent ${this.opts.node} shutting down; stopping ${this.instancesById.size} instance(s)` });
    this.forwarder.close();
    await Promise.all([...this.instancesById.values()].map((i) => i.stop()));
    this.instancesById.clear();
    this.appPorts.close();
    removeNodeSecrets(this.secretsRoot);
    this.memory.stop();
    this.logBuffers.stop();
    this.deadLetters.stop();
    this.registry.update([]);
    this.events.append({ type: 'Normal', reason: 'AgentStopped', message: `Node agent ${this.opts.node} stopped` });
    this.hub.close();
  }
}

/** Throws if another live agent already serves this node. */
function assertNoLiveAgent(path: string): void {
  let info: AgentInfo | undefined;
  try {
    info = JSON.parse(readFileSync(path, 'utf8')) as AgentInfo;
  } catch {
    return;
  }
  if (info && info.pid !== process.pid && isProcessAlive(info.pid, info.startTime)) {
    throw new Error(`another node agent for node '${info.node}' is running (pid ${info.pid}, port ${info.port}); stop it first`);
  }
}

/** Starts a node agent in this process: fences a dead predecessor's leftovers, listens, writes agent.json. */
export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const dir = nodeDir(opts.stateDir, opts.node);
  mkdirSync(dir, { recursive: true });
  const infoPath = agentInfoPath(opts.stateDir, opts.node);
  assertNoLiveAgent(infoPath);
  const fenced = fenceRecordedProcesses(processesPath(opts.stateDir, opts.node));
  // Let them die before new instances try to take their addresses.
  if (fenced.length > 0) await waitForProcessesGone(fenced, 2000);
  const startTime = selfStartTime();
  const agent = new Agent(opts, startTime);
  for (const p of fenced) {
    agent.events.append({ type: 'Warning', reason: 'Fenced', instance: p.instance, message: `Killed leftover process ${p.name} (pid ${p.pid}) of instance ${p.instance} from a previous agent` });
  }

  const server = createApiServer(agent, opts.token);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.listenHost ?? '127.0.0.1', port: opts.port ?? 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => process.stderr.write(`berth-agent: http server error: ${err.message}\n`));
  const port = (server.address() as AddressInfo).port;
  const info: AgentInfo = { node: opts.node, pid: process.pid, startTime, port };
  writeJsonAtomic(infoPath, info);
  agent.events.append({ type: 'Normal', reason: 'AgentStarted', message: `Node agent ${opts.node} listening on 127.0.0.1:${port} (pid ${process.pid})` });

  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => (resolveDone = r));
  let shutdownPromise: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    if (!shutdownPromise) {
      shutdownPromise = (async () => {
        await agent.shutdown();
        rmSync(infoPath, { force: true });
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
        resolveDone();
      })();
    }
    return shutdownPromise;
  };
  agent.onShutdownRequested = () => void shutdown();
  return { info, port, shutdown, done, instances: () => agent.instances() };
}
