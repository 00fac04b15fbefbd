// The control plane: owns the store, the node clients and the controllers, and exposes the
// operations the API serves. It decides; node agents do. Killing it at any moment and starting it
// again converges to the same world: running instances are adopted, never restarted.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { InstanceObserved, InstanceSpec, NodeHeartbeat } from '../lib/agent-protocol.js';
import { stateLayout } from '../lib/state-dir.js';
import { specWithPrivatePort } from '../lib/private-port.js';
import { claimAppSlot, releaseAppSlot } from '../lib/slots.js';
import type { DesiredService, DesiredState } from '../plan/index.js';
import { stampRevision } from '../lib/revision.js';
import { diffDesired, type ServiceChange } from './desired-diff.js';
import { materialize, psRow, type PsRow } from './instances.js';
import { GATEWAY_ID } from '../lib/mesh-protocol.js';
import { MESH_WITHDRAW_MAX_MS } from '../lib/mesh-timing.js';
import { gatewayInstance, meshServedServices } from './mesh-snapshots.js';
import { NodeManager, type NodeStatus } from './nodes.js';
import { scheduleInstance, type SchedulingNode } from './scheduler.js';
import { Autoscaling, type AutoscaleStatus } from './autoscaling.js';
import { PressureTracker } from './pressure.js';
import { decideRollout } from './rollout.js';
import { WorkQueue } from './reconciler.js';
import { Store, type InstanceRecord, type NewEvent } from './store.js';
import { mintSidecarCredential } from './credentials.js';
import { SIDECAR_TOKEN_ENV } from '../lib/sidecar-credential.js';
import { DEFAULT_ROOT_APP_USER } from '../lib/users.js';

export interface ControlPlaneOptions {
  stateDir: string;
  token: string;
  log?: (msg: string) => void;
  /** Level-triggered safety net: every node is re-pulled at least this often. */
  resyncMs?: number;
  /** Missed-heartbeat grace period before a node is lost (default 2000 ms). */
  nodeGraceMs?: number;
  /** How often the autoscaler evaluates each service (default 1000 ms). */
  autoscaleIntervalMs?: number;
  /** Node pressure: share of capacity (default 0.9) held for a window (default 10 000 ms) before instances move away. */
  pressureThreshold?: number;
  pressureWindowMs?: number;
  /** How often the state database is copied to state.db.backup when it changed (default 60 000 ms). */
  backupMs?: number;
}


/** Longest start() waits for the first pull of every live node before proxies may connect. */
const FIRST_PULL_WAIT_MS = 5000;

export class ControlPlane {
  readonly store: Store;
  readonly layout: ReturnType<typeof stateLayout>;
  private readonly nodeMgr: NodeManager;
  private readonly autoscaling: Autoscaling;
  /** Terminating instances still running until the proxies dropped them (see terminate()); `since`: monotonic ms of the withdrawal. */
  private readonly withdrawing = new Map<string, { node: string; since: number }>();
  /** Monotonic ms at which start() finished, i.e. proxies can find this control plane (control.json follows at once). */
  private reachableSince: number | undefined;
  private meshSynced: (() => boolean) | undefined;
  private readonly pressure: PressureTracker;
  private readonly queue: WorkQueue;
  private readonly log: (msg: string) => void;
  private readonly listeners = new Set<() => void>();
  private readonly waiting = new Map<string, string>();
  private readonly adoptedReported = new Set<string>();
  private slot = 0;
  private shuttingDown = false;
  private onDownComplete: (() => void) | undefined;

  constructor(private readonly opts: ControlPlaneOptions) {
    this.layout = stateLayout(opts.stateDir);
    this.store = new Store(this.layout.db, existsSync(this.layout.dbBackup) ? this.layout.dbBackup : undefined);
    this.log = opts.log ?? ((m) => console.log(`${new Date().toISOString()} ${m}`));
    this.queue = new WorkQueue(this.log);
    // Nodes in parallel: a frozen agent holds one worker until its call times out, never the other nodes.
    this.queue.register({ kind: 'node', workers: 8, reconcile: (k) => this.reconcileNode(k) });
    // Serial: scheduling reads every node's free capacity and addresses, then binds; two passes at once could both take the same.
    this.queue.register({ kind: 'deployment', workers: 1, reconcile: (k) => this.reconcileDeployment(k) });
    this.queue.register({ kind: 'lifecycle', workers: 1, reconcile: () => this.reconcileLifecycle() });
    this.nodeMgr = new NodeManager({
      stateDir: opts.stateDir,
      token: opts.token,
      tokenFile: this.layout.token,
      store: this.store,
      log: this.log,
      event: (e) => this.event(e),
      onNodeChange: (name) => {
        this.queue.add('node', name);
        this.enqueueAllDeployments();
      },
      onNodeLost: (name, reason) => this.evictNode(name, reason),
      graceMs: opts.nodeGraceMs,
    });
    this.autoscaling = new Autoscaling({
      store: this.store,
      event: (e) => this.event(e),
      liveInstances: (service) => this.store.liveInstances().filter((r) => r.service === service),
      readyInstances: (service) => this.store.liveInstances().filter((r) => r.service === service && this.isReady(r)),
      instanceUsage: (id) => this.nodeMgr.instanceUsage(id),
      onChange: (service) => this.queue.add('deployment', service),
    });
    // Services in parallel (default workers): one slow scrape of a service's proxies does not delay another's.
    this.queue.register({ kind: 'autoscale', reconcile: (k) => this.reconcileAutoscale(k) });
    this.pressure = new PressureTracker(opts.pressureThreshold ?? 0.9, opts.pressureWindowMs ?? 10_000);
    this.queue.register({ kind: 'pressure', workers: 1, reconcile: () => this.reconcilePressure() });
  }

  private migrating(id: string): boolean {
    return this.store.getMeta(`migrating:${id}`) === '1';
  }

  /** pressure/all: a node over its capacity threshold for a window moves one instance away (lowest priority first). */
  private async reconcilePressure(): Promise<{ requeueAfterMs: number }> {
    const again = { requeueAfterMs: 1000 };
    if (this.store.getMeta('down') === '1') return again;
    const statuses = this.nodeMgr.statuses();
    const due = this.pressure.update(performance.now(), statuses.filter((n) => n.status === 'Ready'));
    const desired = this.store.getDesired();
    const priorityOf = (service: string) => desired?.services.find((s) => s.name === service)?.priority ?? 0;
    for (const { node, why } of due) {
      const candidates = this.store
        .liveInstances()
        .filter((r) => r.node === node && r.phase === 'active' && r.dispatched && !this.migrating(r.id) && desired?.services.some((s) => s.name === r.service))
        .sort((a, b) => priorityOf(a.service) - priorityOf(b.service) || (a.createdAt < b.createdAt ? 1 : -1));
      this.event({ type: 'Warning', reason: 'NodePressure', message: `node ${node}: ${why}`, node });
      const victim = candidates[0];
      if (!victim) continue;
      this.store.setMeta(`migrating:${victim.id}`, '1');
      this.event({ type: 'Normal', reason: 'Migrating', message: `${victim.id} moves off ${node} (node pressure; priority ${priorityOf(victim.service)}): a replacement starts elsewhere first`, service: victim.service, instance: victim.id, node });
      this.queue.add('deployment', victim.service);
    }
    return again;
  }

  /** Replicas in force: the autoscaler's count for a scaled service, else `berth scale`'s, else the spec's. */
  private effectiveReplicas(spec: DesiredService): number {
    const manual = this.store.scaleOverrides()[spec.name] ?? spec.replicas;
    if (!spec.scale) return manual;
    return this.autoscaling.replicasFor(spec.name) ?? Math.min(spec.scale.max, Math.max(spec.scale.min, manual));
  }

  /** A mesh proxy holds a request for `service` (scaled to zero): start its deployments that are at zero. */
  activate(service: string, why: string): string[] {
    if (this.store.getMeta('down') === '1') return [];
    const deployments = (this.store.getDesired()?.services ?? []).filter((s) => s.name === service || s.name.startsWith(`${service}.`));
    return this.autoscaling.activate(
      deployments.map((spec) => ({ spec, replicas: this.effectiveReplicas(spec) })),
      why,
    );
  }

  /** autoscale/<service>: one evaluation, then again after the interval while the service has `scale:`. */
  private async reconcileAutoscale(service: string): Promise<{ requeueAfterMs?: number } | void> {
    if (this.store.getMeta('down') === '1') return;
    const spec = this.store.getDesired()?.services.find((s) => s.name === service);
    if (!spec?.scale) {
      this.autoscaling.forget(service);
      return;
    }
    await this.autoscaling.evaluate(spec, this.store.scaleOverrides()[service] ?? spec.replicas);
    return { requeueAfterMs: this.opts.autoscaleIntervalMs ?? 1000 };
  }

  private enqueueAutoscalers(): void {
    for (const s of this.store.getDesired()?.services ?? []) if (s.scale) this.queue.add('autoscale', s.name);
  }

  private get nodes(): Map<string, import('./node-client.js').NodeClient> {
    return this.nodeMgr.clients;
  }

  async start(): Promise<void> {
    this.slot = await claimAppSlot(this.opts.stateDir);
    this.syncNodeRecords(this.store.getDesired());
    // Instances a previous control plane was withdrawing: proxies may not all have learnt it (they are
    // reconnecting to this one), so they are withdrawn again before they stop.
    const meshed = meshServedServices(this.store.getDesired());
    for (const rec of this.store.liveInstances()) {
      if (rec.phase === 'terminating' && rec.node !== '' && meshed.has(rec.service.split('.')[0])) this.withdrawing.set(rec.id, { node: rec.node, since: performance.now() });
    }
    await this.nodeMgr.sync();
    this.enqueueAutoscalers();
    this.queue.add('lifecycle', 'all');
    this.queue.add('pressure', 'all');
    const resync = setInterval(() => {
      for (const name of this.nodes.keys()) this.queue.add('node', name);
      this.queue.add('lifecycle', 'all');
    }, this.opts.resyncMs ?? 2000);
    resync.unref();
    // Proxies find this control plane as soon as start() returns (control.json): the first snapshot they get
    // must list the instances the agents run, not an empty set because no node was pulled yet.
    const pulledBy = performance.now() + FIRST_PULL_WAIT_MS;
    while (performance.now() < pulledBy && [...this.nodes.values()].some((c) => !c.synced && c.agentAlive())) await new Promise((r) => setTimeout(r, 10));
    this.reachableSince = performance.now();
    for (const id of this.withdrawing.keys()) this.recheckWithdrawal(id);
    // The last good state, for `berth up --restore-backup` should state.db ever be damaged: now (it passed
    // its integrity check when it was opened), every minute when it changed, and at exit (close()).
    this.backupState();
    const backups = setInterval(() => this.backupState(), this.opts.backupMs ?? 60_000);
    backups.unref();
  }

  /** Copies the store to `.berth/state.db.backup` when it changed; a failure is logged, never fatal. */
  backupState(): void {
    try {
      this.store.backup(this.layout.dbBackup);
    } catch (err) {
      this.log(`state backup failed (the previous copy stays): ${(err as Error).message}`);
    }
  }

  // ---------------------------------------------------------------- operations (API)

  /** The restart generations a compiler must fold into revisions (see lib/revision.ts). */
  restartGenerations(): Record<string, number> {
    return this.store.restartGenerations();
  }

  /** Stores a compiled desired state (clients validate and compile the spec); the controllers do the rest. The spec tools never load here. */
  async applyDesired(desired: DesiredState): Promise<ServiceChange[]> {
    const prev = this.store.getDesired();
    const changes = diffDesired(prev, desired);
    // An explicit replica count in a changed spec wins over an earlier `berth scale`.
    for (const c of changes) if (c.change === 'replicas' || c.change === 'added' || c.change === 'removed') this.store.setScaleOverride(c.service, undefined);
    // Nodes first: the spec's instances are scheduled only once every declared node can take them.
    this.syncNodeRecords(desired);
    await this.nodeMgr.sync();
    this.store.setDesired(desired);
    this.store.setMeta('down', '0');
    this.shuttingDown = false;
    const changed = changes.filter((c) => c.change !== 'unchanged');
    this.event({ type: 'Normal', reason: 'Applied', message: changed.length ? `applied ${desired.specFile}: ${changed.map((c) => `${c.service} ${c.change}`).join(', ')}` : `applied ${desired.specFile}: no change` });
    this.enqueueAllDeployments();
    this.enqueueAutoscalers();
    return changes;
  }

  scale(service: string, replicas: number): void {
    const desired = this.store.getDesired();
    if (!desired?.services.some((s) => s.name === service)) throw new Error(`unknown service "${service}"`);
    this.store.setScaleOverride(service, replicas);
    this.event({ type: 'Normal', reason: 'Scaled', message: `scaled ${service} to ${replicas}`, service });
    this.queue.add('deployment', service);
  }

  /** Rolling restart: a new revision with the same spec, replaced with the usual surge budget. */
  /** `berth sidecar restart`: every node agent restarts the named sidecars (of one service); revisions and apps are untouched. */
  async restartSidecars(name: string, service?: string): Promise<{ instance: string; pid: number }[]> {
    if (service !== undefined && !this.store.getDesired()?.services.some((s) => s.name === service)) throw new Error(`no service "${service}"`);
    const out: { instance: string; pid: number }[] = [];
    for (const client of this.nodes.values()) out.push(...(await client.restartSidecars(name, service)));
    return out;
  }

  async restart(service: string): Promise<string> {
    const desired = this.store.getDesired();
    if (!desired?.services.some((s) => s.name === service)) throw new Error(`unknown service "${service}"`);
    const generation = this.store.bumpRestartGeneration(service);
    // The same template under a new generation: a new revision, rolled out like any change. Only this service changes.
    const restamp = (s: DesiredService): DesiredService => {
      const template = structuredClone(s.template);
      return { ...s, template, revision: stampRevision(template, generation) };
    };
    const merged: DesiredState = { ...desired, services: desired.services.map((s) => (s.name === service ? restamp(s) : s)) };
    this.store.setDesired(merged);
    const rev = merged.services.find((s) => s.name === service)!.revision;
    this.event({ type: 'Normal', reason: 'RolloutRestart', message: `restarting ${service} as revision ${rev}`, service });
    this.queue.add('deployment', service);
    return rev;
  }

  /** Stops everything; `onComplete` runs once no instance and no agent is left. */
  down(onComplete: () => void): void {
    this.store.setMeta('down', '1');
    this.shuttingDown = true;
    this.onDownComplete = onComplete;
    this.event({ type: 'Normal', reason: 'Down', message: 'stopping every instance' });
    this.enqueueAllDeployments();
    this.queue.add('lifecycle', 'all');
  }

  ps(all: boolean): PsRow[] {
    const desired = this.store.getDesired();
    const ports = new Map((desired?.services ?? []).map((s) => [s.name, s.port]));
    const recs = all ? this.store.allInstances() : this.store.liveInstances();
    return recs.map((r) => psRow(r, this.observedOf(r), ports.get(r.service), this.waiting.get(r.id)));
  }

  status(): { app: string | undefined; specFile: string | undefined; env: string | undefined; down: boolean; services: { name: string; revision: string; replicas: number; ready: number; port: number | null; address: string | null; autoscale?: AutoscaleStatus }[]; nodes: { name: string; status: string; agentPid: number | null }[] } {
    const desired = this.store.getDesired();
    const rows = this.ps(false);
    return {
      app: desired?.app,
      specFile: desired?.specFile,
      env: desired?.env,
      down: this.store.getMeta('down') === '1',
      services: (desired?.services ?? []).map((s) => ({
        name: s.name,
        revision: s.revision,
        replicas: this.effectiveReplicas(s),
        ready: rows.filter((r) => r.service === s.name && r.ready).length,
        port: s.port ?? null,
        address: s.port !== undefined ? `127.0.0.1:${s.port}` : null,
        ...(this.autoscaling.status.has(s.name) ? { autoscale: this.autoscaling.status.get(s.name) } : {}),
      })),
      nodes: this.nodeMgr.statuses().map((n) => ({ name: n.name, status: n.status, agentPid: n.agentPid })),
    };
  }

  instanceSpec(id: string): InstanceSpec | undefined {
    const rec = this.store.getInstance(id);
    if (!rec) return undefined;
    const desired = this.store.getDesired();
    const template = this.store.getTemplate(rec.service, rec.revision);
    if (!template || !desired) return undefined;
    const spec = materialize(desired.app, rec, template, this.layout.instanceLogDir(rec.service, rec.id), this.sidecarEnv(rec.id, rec.service), this.defaultAppUser);
    // The app's private PORT is the node agent's (it reports it): `berth exec` sees what the app sees.
    const appPort = this.observedOf(rec)?.appPort;
    return appPort === undefined ? spec : specWithPrivatePort(spec, appPort);
  }

  /**
   * The user apps run as when their spec names none: when Berth runs as root, an unprivileged one, so an
   * app cannot read `.berth/token` or other users' files (docs/security.md); otherwise the caller's own.
   * BERTH_DEFAULT_USER overrides it (`-` keeps Berth's own user).
   */
  private readonly defaultAppUser: string | undefined = ((): string | undefined => {
    const env = process.env.BERTH_DEFAULT_USER;
    if (env !== undefined && env !== '') return env === '-' ? undefined : env;
    return process.getuid?.() === 0 ? DEFAULT_ROOT_APP_USER : undefined;
  })();

  /** The environment that hands an instance's sidecars their scoped credential (the app never gets it). */
  private sidecarEnv(instance: string, service: string): Record<string, string> {
    return { [SIDECAR_TOKEN_ENV]: mintSidecarCredential(this.opts.token, instance, service) };
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  close(): void {
    this.queue.stop();
    this.nodeMgr.close();
    this.backupState();
    this.store.close();
  }

  // ---------------------------------------------------------------- helpers

  private event(e: NewEvent): void {
    this.store.addEvent(e);
    this.notify();
  }

  private notify(): void {
    for (const fn of this.listeners) fn();
  }

  private enqueueAllDeployments(): void {
    const names = new Set([...(this.store.getDesired()?.services.map((s) => s.name) ?? []), ...this.store.liveInstances().map((r) => r.service)]);
    for (const n of names) this.queue.add('deployment', n);
  }

  private observedOf(rec: InstanceRecord): InstanceObserved | undefined {
    return this.nodes.get(rec.node)?.observed.get(rec.id);
  }

  private allocateHost(node: string): string {
    const idx = this.store.nodes().find((n) => n.name === node)?.idx;
    if (idx === undefined) throw new Error(`unknown node ${node}`);
    const used = new Set(this.store.liveInstances().filter((r) => r.node === node).map((r) => r.host));
    for (let i = 2; i < 255; i++) {
      const host = `127.${idx}.${this.slot}.${i}`;
      if (!used.has(host)) return host;
    }
    throw new Error(`node ${node} has no free instance address left`);
  }

  /** The node whose agent serves the services' cluster addresses (127.0.0.1:port): the first ready one. */
  private gatewayNode(): string | undefined {
    return this.store.nodes().find((n) => this.nodeMgr.ready(n.name))?.name;
  }

  /** The nodes the spec declares become node records; nodes dropped from the spec are drained, then removed. */
  private syncNodeRecords(desired: DesiredState | undefined): void {
    const declared = desired?.nodes ?? [{ name: 'node-1', capacity: {}, labels: {} }];
    for (const n of declared) {
      this.store.upsertNode(n.name, n.capacity, n.labels, 'spec');
      if (this.store.getMeta(`removing:${n.name}`) === '1') {
        this.store.setMeta(`removing:${n.name}`, '0'); // back in the spec before it was gone
        this.store.setNodeFlags(n.name, { cordoned: false, draining: false });
      }
    }
    const names = new Set(declared.map((n) => n.name));
    for (const r of this.store.nodes()) {
      if (r.source === 'spec' && !names.has(r.name) && !r.draining) {
        this.store.setNodeFlags(r.name, { cordoned: true, draining: true });
        this.store.setMeta(`removing:${r.name}`, '1');
        this.event({ type: 'Normal', reason: 'NodeRemoving', message: `node ${r.name} is no longer in the spec: draining it`, node: r.name });
      }
    }
  }

  /** A node's instances are gone (lost or restarted empty): record them stopped so replacements are created. */
  private evictNode(name: string, reason: string): void {
    for (const rec of this.store.liveInstances().filter((r) => r.node === name)) {
      this.store.markStopped(rec.id, this.observedOf(rec) ?? rec.lastObserved);
      this.waiting.delete(rec.id);
      if (rec.phase === 'active') this.event({ type: 'Warning', reason: 'Evicted', message: `${rec.id} is gone: ${reason}; a replacement is scheduled`, service: rec.service, instance: rec.id, node: name });
    }
    this.notify();
    this.enqueueAllDeployments();
  }

  heartbeat(hb: NodeHeartbeat): boolean {
    return this.nodeMgr.heartbeat(hb);
  }

  nodeStatuses(): (NodeStatus & { instances: number })[] {
    const live = this.store.liveInstances();
    return this.nodeMgr.statuses().map((n) => ({ ...n, instances: live.filter((r) => r.node === n.name).length }));
  }

  async nodeAction(name: string, action: 'cordon' | 'uncordon' | 'drain' | 'kill'): Promise<void> {
    if (!this.store.nodes().some((n) => n.name === name)) throw new Error(`unknown node "${name}"`);
    if (action === 'kill') return this.nodeMgr.kill(name);
    if (action === 'cordon') this.store.setNodeFlags(name, { cordoned: true });
    if (action === 'uncordon') this.store.setNodeFlags(name, { cordoned: false, draining: false });
    if (action === 'drain') this.store.setNodeFlags(name, { cordoned: true, draining: true });
    const reason = { cordon: 'NodeCordoned', uncordon: 'NodeUncordoned', drain: 'NodeDraining' }[action];
    this.event({ type: 'Normal', reason, message: `node ${name} ${action === 'drain' ? 'draining: replacements start elsewhere before its instances stop' : `${action}ed`}`, node: name });
    this.enqueueAllDeployments();
  }

  /** `berth node add`: a new node (agent started now) beside the spec's. */
  async addNode(name: string | undefined, capacity: { cpuMillis?: number; memoryMiB?: number }, labels: Record<string, string>): Promise<string> {
    const existing = new Set(this.store.nodes().map((n) => n.name));
    let nodeName = name;
    if (!nodeName) {
      let i = existing.size + 1;
      while (existing.has(`node-${i}`)) i++;
      nodeName = `node-${i}`;
    } else if (existing.has(nodeName)) throw new Error(`node "${nodeName}" already exists`);
    this.store.upsertNode(nodeName, capacity, labels, 'added');
    await this.nodeMgr.sync();
    this.event({ type: 'Normal', reason: 'NodeAdded', message: `node ${nodeName} added`, node: nodeName });
    this.enqueueAllDeployments();
    return nodeName;
  }

  /** Scheduler inputs: every node with what its live instances request. */
  private schedulingNodes(service: string): SchedulingNode[] {
    const live = this.store.liveInstances();
    const requestOf = (r: InstanceRecord) => {
      const t = this.store.getTemplate(r.service, r.revision);
      return { cpuMillis: t?.cpuMillis ?? 0, memoryMiB: t?.memoryMiB ?? 0 };
    };
    return this.store.nodes().map((n) => {
      const on = live.filter((r) => r.node === n.name);
      const requested = on.map(requestOf).reduce((a, b) => ({ cpuMillis: a.cpuMillis + b.cpuMillis, memoryMiB: a.memoryMiB + b.memoryMiB }), { cpuMillis: 0, memoryMiB: 0 });
      return {
        name: n.name,
        ready: this.nodeMgr.ready(n.name),
        cordoned: n.cordoned,
        pressured: this.pressure.pressured.has(n.name),
        labels: n.labels,
        capacity: n.capacity,
        requested,
        serviceInstances: on.filter((r) => r.service === service).length,
        instances: on.length,
      };
    });
  }

  // ---------------------------------------------------------------- reconcilers

  /** node/<name>: pull observed state + events from the agent, then push the desired set. */
  private async reconcileNode(name: string): Promise<void> {
    const client = this.nodes.get(name);
    if (!client) return;
    // A node whose agent is gone is the node monitor's business (loss → fence → restart), not an error here.
    if (!client.agentAlive()) return;
    const before = client.observed;
    const events = await client.pull(this.store.nodeCursor(name));
    this.store.addAgentEvents(name, events);
    let changed = events.length > 0 || before.size !== client.observed.size;
    for (const rec of this.store.liveInstances().filter((r) => r.node === name)) {
      const obs = client.observed.get(rec.id);
      const prev = before.get(rec.id);
      if (obs && (!prev || prev.status !== obs.status || prev.pid !== obs.pid || prev.restarts !== obs.restarts)) changed = true;
      if (obs && rec.phase === 'active' && !this.adoptedReported.has(rec.id) && !client.startedFresh && before.size === 0) {
        this.event({ type: 'Normal', reason: 'Adopted', message: `adopted running instance ${rec.id} (pid ${obs.pid ?? '-'})`, service: rec.service, instance: rec.id, node: name });
      }
      if (obs) this.adoptedReported.add(rec.id);
      if (rec.phase === 'terminating' && !obs) {
        this.store.markStopped(rec.id, prev ?? rec.lastObserved);
        changed = true;
      }
      if (obs && (obs.status !== prev?.status || obs.restarts !== prev?.restarts)) this.store.saveObserved(rec.id, obs);
    }
    await this.pushNode(name);
    if (changed) {
      this.notify();
      this.enqueueAllDeployments();
      this.queue.add('lifecycle', 'all');
      // Readiness here changes the endpoints the gateway node forwards to.
      const gateway = this.gatewayNode();
      if (gateway && gateway !== name) this.queue.add('node', gateway);
    }
  }

  private async pushNode(name: string): Promise<void> {
    const client = this.nodes.get(name);
    const desired = this.store.getDesired();
    if (!client || !client.synced) return;
    const app = desired?.app ?? 'app';
    const instances: InstanceSpec[] = [];
    for (const rec of this.store.liveInstances()) {
      if (rec.node !== name || !rec.dispatched) continue;
      if (rec.phase !== 'active' && !this.stillWithdrawing(rec.id)) continue;
      const template = this.store.getTemplate(rec.service, rec.revision);
      if (template) instances.push(materialize(app, rec, template, this.layout.instanceLogDir(rec.service, rec.id), this.sidecarEnv(rec.id, rec.service), this.defaultAppUser));
    }
    const down = this.store.getMeta('down') === '1';
    // Meshed services are served on 127.0.0.1:port by the mesh gateway (see mesh-snapshots.ts), not the agent's TCP forwarder.
    const meshed = meshServedServices(desired);
    // One node's agent serves the cluster addresses; it forwards to ready instances on every node.
    const forwarding = !down && name === this.gatewayNode();
    const remote = (service: string) =>
      this.store
        .liveInstances()
        .filter((r) => r.service === service && r.node !== name && r.node !== '' && this.isReady(r))
        .map((r) => ({ id: r.id, host: r.host, port: desired!.services.find((x) => x.name === service)!.port! }));
    const services = !forwarding
      ? []
      : (desired?.services ?? []).filter((s) => s.port !== undefined && !meshed.has(s.name)).map((s) => ({ name: s.name, host: '127.0.0.1', port: s.port!, remoteEndpoints: remote(s.name) }));
    const gateway = down || name !== this.gatewayNode() ? undefined : gatewayInstance(desired, { node: name, nodeIndex: this.store.nodes().find((n) => n.name === name)!.idx, slot: this.slot, stateDir: this.opts.stateDir, logDir: this.layout.instanceLogDir(GATEWAY_ID, GATEWAY_ID), credentialEnv: this.sidecarEnv(GATEWAY_ID, GATEWAY_ID) });
    if (gateway) instances.push(gateway);
    await client.push({ instances, services });
  }

  /**
   * Takes an instance out of service. A ready, meshed instance is withdrawn first: it leaves the mesh
   * snapshot at once, but its node is told to stop it only once every proxy that could route to it
   * acknowledged a snapshot without it, or after MESH_WITHDRAW_MAX_MS (the proxies' longest reconnect
   * back-off plus a margin, counted from when proxies can reach this control plane), so no proxy sends a
   * request to an instance that is gone — also when this control plane has just restarted and the
   * proxies are still reconnecting, and for the last instance of a service scaling to zero. The phase
   * is stored, so a control plane started meanwhile withdraws the instance again (see start()).
   */
  private terminate(rec: InstanceRecord, withdrawFirst: boolean): void {
    // Never sent to a node (pending: no node fits, or waiting for a dependency): nothing runs, so nobody
    // would ever report it gone — it is stopped here and now (otherwise `down` waits for it forever).
    if (rec.node === '' || !rec.dispatched) {
      this.store.markStopped(rec.id, undefined);
      this.waiting.delete(rec.id);
      this.queue.add('lifecycle', 'all');
      return;
    }
    const wasServing = this.isReady(rec) && meshServedServices(this.store.getDesired()).has(rec.service.split('.')[0]);
    this.store.markTerminating(rec.id);
    if (!withdrawFirst || !wasServing || !this.meshSynced) return;
    this.withdrawing.set(rec.id, { node: rec.node, since: performance.now() });
    this.recheckWithdrawal(rec.id);
  }

  /** When the withdrawal of `id` runs out of time (before start() finished: unknown yet, start() calls again). */
  private withdrawDeadline(w: { since: number }): number {
    if (this.reachableSince === undefined) return Infinity;
    return Math.max(w.since, this.reachableSince) + MESH_WITHDRAW_MAX_MS;
  }

  /** Looks at the node again when the withdrawal of `id` runs out of time (acks trigger it earlier, see meshAcked()). */
  private recheckWithdrawal(id: string): void {
    const w = this.withdrawing.get(id);
    if (!w) return;
    const deadline = this.withdrawDeadline(w);
    if (deadline === Infinity) return;
    setTimeout(() => this.queue.add('node', w.node), Math.max(0, deadline - performance.now()) + 5).unref();
  }

  /** True while a terminating instance waits for the proxies to drop it (see terminate()). */
  private stillWithdrawing(id: string): boolean {
    const w = this.withdrawing.get(id);
    if (!w) return false;
    if (performance.now() < this.withdrawDeadline(w) && !(this.meshSynced?.() ?? false)) return true;
    this.withdrawing.delete(id);
    return false;
  }

  /** The mesh feed reports acknowledgements (and sets how to ask whether every proxy holds the current snapshot). */
  attachMesh(synced: () => boolean): void {
    this.meshSynced = synced;
  }

  /** A proxy acknowledged a snapshot: nodes with withdrawn instances may now stop them. */
  meshAcked(): void {
    for (const node of new Set([...this.withdrawing.values()].map((w) => w.node))) this.queue.add('node', node);
  }

  private isReady(rec: InstanceRecord): boolean {
    return rec.phase === 'active' && (this.observedOf(rec)?.ready ?? false);
  }

  /** deployment/<service>: rolling replacement and scaling of one service, dependsOn gating of first starts. */
  private async reconcileDeployment(service: string): Promise<{ requeueAfterMs?: number } | void> {
    const desired = this.store.getDesired();
    const down = this.store.getMeta('down') === '1';
    const spec: DesiredService | undefined = down ? undefined : desired?.services.find((s) => s.name === service);
    const live = this.store.liveInstances().filter((r) => r.service === service && r.phase === 'active');
    let touched = false;
    let unscheduled = false;

    if (!spec) {
      for (const rec of live) {
        this.terminate(rec, !down);
        this.event({ type: 'Normal', reason: 'Killing', message: `stopping ${rec.id}${down ? '' : ' (service removed)'}`, service, instance: rec.id, node: rec.node });
        touched = true;
      }
    } else {
      const replicas = this.effectiveReplicas(spec);
      // Instances on a draining node are replaced like an old revision: the new one ready first.
      const draining = new Set(this.store.nodes().filter((n) => n.draining).map((n) => n.name));
      const toRollout = (r: InstanceRecord) => ({ id: r.id, ready: this.isReady(r), createdAt: r.createdAt });
      const decision = decideRollout({
        replicas,
        maxSurge: spec.rollout.maxSurge,
        maxUnavailable: spec.rollout.maxUnavailable,
        current: live.filter((r) => r.revision === spec.revision && !draining.has(r.node) && !this.migrating(r.id)).map(toRollout),
        old: live.filter((r) => r.revision !== spec.revision || draining.has(r.node) || this.migrating(r.id)).map(toRollout),
      });
      for (const id of decision.terminate) {
        const rec = live.find((r) => r.id === id)!;
        this.terminate(rec, true);
        const why =
          rec.revision !== spec.revision
            ? `replaced by revision ${spec.revision}`
            : draining.has(rec.node)
              ? `node ${rec.node} is draining`
              : this.migrating(rec.id)
                ? `moved off ${rec.node} (node pressure)`
                : `scaled down to ${replicas}`;
        this.event({ type: 'Normal', reason: 'Killing', message: `stopping ${id}: ${why}`, service, instance: id, node: rec.node });
        touched = true;
      }
      for (let i = 0; i < decision.create; i++) {
        // A fresh suffix until unused: ids are never reused (replicas are bounded, so this ends quickly).
        let id: string;
        do id = `${service}-${spec.revision.slice(0, 5)}-${randomBytes(3).toString('hex').slice(0, 5)}`;
        while (this.store.getInstance(id) !== undefined);
        this.store.insertInstance({ id, service, revision: spec.revision, node: '', host: '' });
        touched = true;
      }
      // Bind every unscheduled instance of the service to a node, or say why it fits nowhere.
      for (const rec of this.store.liveInstances().filter((r) => r.service === service && r.phase === 'active' && r.node === '')) {
        const template = this.store.getTemplate(rec.service, rec.revision);
        const decision2 = scheduleInstance(
          { cpuMillis: template?.cpuMillis, memoryMiB: template?.memoryMiB, nodeSelector: spec.placement?.nodeSelector, antiAffinity: spec.placement?.antiAffinity },
          this.schedulingNodes(service),
        );
        if ('reason' in decision2) {
          if (this.waiting.get(rec.id) !== decision2.reason) {
            this.waiting.set(rec.id, decision2.reason);
            this.event({ type: 'Warning', reason: 'FailedScheduling', message: `${rec.id}: ${decision2.reason}`, service, instance: rec.id });
          }
          unscheduled = true;
          continue;
        }
        this.store.bindInstance(rec.id, decision2.node, this.allocateHost(decision2.node));
        this.waiting.delete(rec.id);
        this.event({ type: 'Normal', reason: 'Scheduled', message: `${rec.id} (revision ${spec.revision}) scheduled on ${decision2.node}`, service, instance: rec.id, node: decision2.node });
        touched = true;
      }
    }

    // dependsOn gates the first start of each instance (like compose's depends_on conditions).
    let waiting = false;
    if (spec) {
      for (const rec of this.store.liveInstances().filter((r) => r.service === service && r.phase === 'active' && !r.dispatched && r.node !== '')) {
        const blocker = this.unmetDependency(spec);
        if (blocker) {
          if (this.waiting.get(rec.id) !== blocker) {
            this.waiting.set(rec.id, blocker);
            this.event({ type: 'Normal', reason: 'Waiting', message: `${rec.id} ${blocker}`, service, instance: rec.id });
          }
          waiting = true;
          continue;
        }
        this.waiting.delete(rec.id);
        this.store.markDispatched(rec.id);
        touched = true;
      }
    }
    if (touched) {
      for (const n of this.nodes.keys()) this.queue.add('node', n);
      this.notify();
    }
    if (waiting || unscheduled) return { requeueAfterMs: unscheduled ? 1000 : 250 };
  }

  /** Nodes dropped from the spec go once their last instance has moved away. */
  private async finishNodeRemovals(): Promise<void> {
    let removed = false;
    for (const n of this.store.nodes()) {
      if (this.store.getMeta(`removing:${n.name}`) !== '1') continue;
      if (this.store.liveInstances().some((r) => r.node === n.name)) continue;
      this.store.deleteNode(n.name);
      this.store.setMeta(`removing:${n.name}`, '0');
      removed = true;
    }
    if (removed) await this.nodeMgr.sync();
  }

  private unmetDependency(spec: DesiredService): string | undefined {
    for (const [dep, condition] of Object.entries(spec.dependsOn)) {
      const depRecs = this.store.liveInstances().filter((r) => r.service === dep && r.phase === 'active');
      const depSpec = this.store.getDesired()?.services.find((s) => s.name === dep);
      const depReplicas = depSpec ? this.effectiveReplicas(depSpec) : 0;
      if (depReplicas === 0) continue;
      const ok =
        condition === 'ready'
          ? depRecs.some((r) => this.isReady(r))
          : depRecs.some((r) => {
              const o = this.observedOf(r);
              return o?.main.state === 'running';
            });
      if (!ok) return `waiting for ${dep} to be ${condition}`;
    }
    return undefined;
  }

  /** lifecycle/all: finishes `berth down` once nothing is left running. */
  private async reconcileLifecycle(): Promise<void> {
    await this.finishNodeRemovals();
    if (!this.shuttingDown && this.store.getMeta('down') !== '1') return;
    if (!this.shuttingDown) return; // a down that was interrupted by a control-plane restart waits for a new `berth down` or `up`
    const live = this.store.liveInstances();
    const anyObserved = [...this.nodes.values()].some((n) => n.observed.size > 0);
    if (live.length > 0 || anyObserved) return;
    this.queue.stop();
    await this.nodeMgr.shutdownAll(15_000);
    this.event({ type: 'Normal', reason: 'Stopped', message: 'every instance and node agent stopped' });
    releaseAppSlot(this.opts.stateDir);
    this.onDownComplete?.();
  }
}
