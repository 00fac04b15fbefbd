// The control plane: wiring (store → read model → controllers on the work queue, node clients as
// the controllers' effects) and the operations the API serves. It decides; node agents do. Killing
// it at any moment and starting it again converges to the same world: running instances are
// adopted, never restarted. The controllers themselves are in controllers/, one module each.
import { existsSync } from 'node:fs';
import type { InstanceSpec, NodeHeartbeat } from '../lib/agent-protocol.js';
import { stateLayout, type LastApplied } from '../lib/state-dir.js';
import { writeFileAtomic } from '../lib/files.js';
import { specWithPrivatePort } from '../lib/private-port.js';
import { claimAppSlot, releaseAppSlot } from '../lib/slots.js';
import type { DesiredService, DesiredState } from '../plan/index.js';
import { stampRevision } from '../lib/revision.js';
import { diffDesired, type ServiceChange } from './desired-diff.js';
import { materialize, psRow, statsRows, type PsRow, type StatsRow } from './instances.js';
import { meshServedServices } from './mesh-snapshots.js';
import { NodeManager, type NodeStatus } from './nodes.js';
import { Autoscaling, type AutoscaleStatus } from './autoscaling.js';
import { WorkQueue } from './reconciler.js';
import { Store, type NewEvent } from './store.js';
import { World } from './world.js';
import { Withdrawals } from './withdrawals.js';
import { Act, type ControllerKind, type Effects } from './controllers/act.js';
import { reconcileDeployment } from './controllers/deployment.js';
import { NodeController } from './controllers/node.js';
import { reconcileLifecycle, REMOVING_META } from './controllers/lifecycle.js';
import { AutoscaleController } from './controllers/autoscale.js';
import { PressureController } from './controllers/pressure.js';
import { effectiveReplicas, isStopped, startedReplicas, STOPPED_META } from './controllers/replicas.js';
import { dirname } from 'node:path';
import { mintSidecarCredential } from './credentials.js';
import { SIDECAR_TOKEN_ENV } from '../lib/sidecar-credential.js';
import { DEFAULT_ROOT_APP_USER } from '../lib/users.js';
import { GitopsController } from './gitops/controller.js';
import { ReleaseController, ReleaseError, releasesForApply } from './controllers/release.js';
import { deleteRelease, isActive, loadRelease, releaseRevisions, releaseRole, saveRelease } from './release/state.js';
import { releaseOverviews, releaseStatus, type ReleaseOverview, type ReleaseStatus } from './release/status.js';
import type { RevisionWhy } from './release/history.js';

export interface ControlPlaneOptions {
  stateDir: string;
  token: string;
  log?: (msg: string) => void;
  /** Level-triggered safety net: every node is re-pulled at least this often. */
  resyncMs?: number;
  /** Missed-heartbeat grace period before a node is lost (default 2000 ms). */
  nodeGraceMs?: number;
  /** How long a silent agent whose process exists is still asked before its node is lost. */
  nodeSlowAgentMs?: number;
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
  /** The read model every controller reads (desired + recorded + observed state). */
  readonly world: World;
  readonly layout: ReturnType<typeof stateLayout>;
  private readonly nodeMgr: NodeManager;
  private readonly autoscaling: Autoscaling;
  private readonly withdrawals: Withdrawals;
  private readonly act: Act;
  private readonly nodeController: NodeController;
  /** GitOps sources: the desired state from git repositories (gitops/). */
  readonly gitops: GitopsController;
  private readonly queue: WorkQueue;
  private readonly releases: ReleaseController;
  private isAnnounced = false;
  private readonly log: (msg: string) => void;
  private readonly listeners = new Set<() => void>();
  private onDownComplete: (() => void) | undefined;

  constructor(private readonly opts: ControlPlaneOptions) {
    this.layout = stateLayout(opts.stateDir);
    this.store = new Store(this.layout.db, existsSync(this.layout.dbBackup) ? this.layout.dbBackup : undefined);
    this.world = new World(this.store);
    this.log = opts.log ?? ((m) => console.log(`${new Date().toISOString()} ${m}`));
    this.queue = new WorkQueue(this.log);
    this.withdrawals = new Withdrawals((node, ms) => setTimeout(() => this.queue.add('node', node), ms).unref());
    this.nodeMgr = new NodeManager({
      stateDir: opts.stateDir,
      token: opts.token,
      tokenFile: this.layout.token,
      store: this.world,
      log: this.log,
      event: (e) => this.event(e),
      onNodeChange: (name) => {
        this.queue.add('node', name);
        this.act.enqueueAllDeployments();
      },
      onNodeLost: (name, reason) => this.act.evictNode(name, reason),
      graceMs: opts.nodeGraceMs,
      slowAgentMs: opts.nodeSlowAgentMs,
    });
    const nodes = this.nodeMgr;
    this.world.observeWith({
      observed: (node) => nodes.clients.get(node)?.observed,
      nodeReady: (node) => nodes.ready(node),
      instanceUsage: (id) => nodes.instanceUsage(id),
      nodeUsage: (node) => nodes.nodeUsage(node),
      agent: (node) => {
        const c = nodes.clients.get(node);
        return c && { alive: c.agentAlive(), synced: c.synced, startedFresh: c.startedFresh, pid: c.agentPid };
      },
    });
    this.act = new Act(this.world, this.effects(), this.withdrawals);
    const world = this.world;
    const act = this.act;
    this.autoscaling = new Autoscaling({
      meta: { get: (k) => world.getMeta(k), set: (k, v) => act.setMeta(k, v) },
      event: (e) => act.event(e),
      liveInstances: (service) => world.liveOf(service),
      readyInstances: (service) => world.readyOf(service),
      instanceUsage: (id) => world.instanceUsage(id),
      onChange: (service) => act.enqueue('deployment', service),
    });
    this.nodeController = new NodeController({ stateDir: opts.stateDir, layout: this.layout, sidecarEnv: (i, s) => this.sidecarEnv(i, s), defaultAppUser: this.defaultAppUser });
    const autoscale = new AutoscaleController(this.autoscaling, opts.autoscaleIntervalMs ?? 1000);
    const pressure = new PressureController(opts.pressureThreshold ?? 0.9, opts.pressureWindowMs ?? 10_000);
    const nodeController = this.nodeController;
    this.gitops = new GitopsController({
      world,
      stateDir: opts.stateDir,
      apply: (d) => this.applyDesired(d),
      restartGenerations: () => this.restartGenerations(),
      event: (e) => this.event(e),
      enqueue: (name) => this.queue.add('gitops', name),
      notify: () => this.notify(),
    });
    const gitops = this.gitops;
    const releases = (this.releases = new ReleaseController(world, this.log, { stateDir: opts.stateDir, appDir: () => (world.desired ? dirname(world.desired.specFile) : dirname(opts.stateDir)) }));
    const controllers: Record<ControllerKind, (key: string) => Promise<{ requeueAfterMs?: number }>> = {
      node: (k) => nodeController.reconcile(k, world, act),
      deployment: (k) => reconcileDeployment(k, world, act),
      lifecycle: (k) => reconcileLifecycle(k, world, act),
      autoscale: (k) => autoscale.reconcile(k, world, act),
      pressure: (k) => pressure.reconcile(k, world, act),
      gitops: (k) => gitops.reconcile(k),
      release: (k) => releases.reconcile(k, world, act),
    };
    // Workers per controller. Nodes in parallel: a frozen agent holds one worker until its call times out,
    // never the other nodes. Deployments serial: scheduling reads every node's free capacity and addresses,
    // then binds; two passes at once could both take the same. Autoscale on the default (one slow scrape
    // of a service's proxies does not delay another's); lifecycle and pressure are single keys.
    const workers: Record<ControllerKind, number | undefined> = { node: 8, deployment: 1, lifecycle: 1, autoscale: undefined, pressure: 1, gitops: undefined, release: 1 };
    for (const [kind, reconcile] of Object.entries(controllers) as [ControllerKind, (key: string) => Promise<{ requeueAfterMs?: number }>][]) {
      const n = workers[kind];
      this.queue.register({ kind, reconcile, ...(n !== undefined ? { workers: n } : {}) });
    }
  }

  /** What the controllers' act does outside the store: the work queue and the node agents. */
  private effects(): Effects {
    return {
      enqueue: (kind, key) => this.queue.add(kind, key),
      notify: () => this.notify(),
      pull: async (node, cursor) => {
        const client = this.nodeMgr.clients.get(node);
        if (!client) throw new Error(`no client for node ${node}`);
        const before = client.observed;
        const events = await client.pull(cursor);
        return { before, events };
      },
      push: async (node, desired) => {
        await this.nodeMgr.clients.get(node)?.push(desired);
      },
      syncNodes: () => this.nodeMgr.sync(),
      finishDown: async () => {
        this.queue.stop();
        await this.nodeMgr.shutdownAll(15_000);
        this.event({ type: 'Normal', reason: 'Stopped', message: 'every instance and node agent stopped' });
        releaseAppSlot(this.opts.stateDir);
        this.onDownComplete?.();
      },
    };
  }

  /** A mesh proxy holds a request for `service` (scaled to zero): start its deployments that are at zero. */
  activate(service: string, why: string): string[] {
    if (this.world.down) return [];
    // A deployment stopped by `berth stop` stays at zero: a request does not wake it.
    const deployments = this.deploymentsOf(service).filter((s) => !isStopped(this.world, s.name));
    return this.autoscaling.activate(
      deployments.map((spec) => ({ spec, replicas: effectiveReplicas(this.world, spec) })),
      why,
    );
  }

  private enqueueAutoscalers(): void {
    for (const s of this.world.desired?.services ?? []) if (s.scale) this.queue.add('autoscale', s.name);
  }

  private get nodes(): Map<string, import('./node-client.js').NodeClient> {
    return this.nodeMgr.clients;
  }

  async start(): Promise<void> {
    this.world.slot = await claimAppSlot(this.opts.stateDir);
    this.syncNodeRecords(this.world.desired);
    // Instances a previous control plane was withdrawing: proxies may not all have learnt it (they are
    // reconnecting to this one), so they are withdrawn again before they stop.
    const meshed = meshServedServices(this.world.desired);
    for (const rec of this.world.liveInstances()) {
      if (rec.phase === 'terminating' && rec.node !== '' && meshed.has(rec.service.split('.')[0])) this.withdrawals.begin(rec.id, rec.node);
    }
    await this.nodeMgr.sync();
    this.enqueueAutoscalers();
    this.queue.add('lifecycle', 'all');
    this.queue.add('pressure', 'all');
    for (const name of this.gitops.names()) this.queue.add('gitops', name);
    // Releases resume where they were (their state, runs and pause deadlines are in the store).
    for (const s of this.world.desired?.services ?? []) if (loadRelease(this.world, s.name)) this.queue.add('release', s.name);
    const resync = setInterval(() => {
      for (const name of this.nodes.keys()) this.queue.add('node', name);
      this.queue.add('lifecycle', 'all');
    }, this.opts.resyncMs ?? 2000);
    resync.unref();
    // Proxies find this control plane as soon as start() returns (control.json): the first snapshot they get
    // must list the instances the agents run, not an empty set because no node was pulled yet.
    const pulledBy = performance.now() + FIRST_PULL_WAIT_MS;
    while (performance.now() < pulledBy && [...this.nodes.values()].some((c) => !c.synced && c.agentAlive())) await new Promise((r) => setTimeout(r, 10));
    // The last good state, for `berth up --restore-backup` should state.db ever be damaged: now (it passed
    // its integrity check when it was opened), every minute when it changed, and at exit (close()).
    this.backupState();
    const backups = setInterval(() => this.backupState(), this.opts.backupMs ?? 60_000);
    backups.unref();
  }

  /**
   * Proxies can find this control plane from now on (control.json names it): the withdraw protocol's
   * deadlines start counting here, not when start() returned — until control.json is written a
   * reconnecting proxy still dials the dead control plane's port, and a deadline counted from earlier
   * let a withdrawn instance stop before the gateway learnt of it.
   */
  announced(): void {
    this.isAnnounced = true;
    this.withdrawals.markReachable();
  }

  /**
   * Whether announced() ran: start() has adopted what runs and control.json names this process.
   * Until then the mesh feed sends no snapshot — a restarted control plane listens on its
   * predecessor's port (main.ts), so proxies reconnect before it knows which instances are ready.
   */
  get announcedYet(): boolean {
    return this.isAnnounced;
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
  async applyDesired(desired: DesiredState, o: { why?: RevisionWhy; message?: string } = {}): Promise<ServiceChange[]> {
    const prev = this.world.desired;
    const changes = diffDesired(prev, desired);
    // An explicit replica count in a changed spec wins over an earlier `berth scale`.
    for (const c of changes) if (c.change === 'replicas' || c.change === 'added' || c.change === 'removed') this.world.setScaleOverride(c.service, undefined);
    // `berth stop` outlives an apply (the service stays stopped until `berth start`), not the service's removal.
    for (const c of changes) if (c.change === 'removed') this.world.setMeta(STOPPED_META(c.service), '');
    // Nodes first: the spec's instances are scheduled only once every declared node can take them.
    this.syncNodeRecords(desired);
    await this.nodeMgr.sync();
    const releases = releasesForApply(this.world, prev, desired);
    this.world.setDesired(desired);
    const progressing = new Set(releases.start.map((r) => r.service));
    // A release in progress whose revision is left behind: its canary entry is aborted or replaced.
    for (const r of [...releases.cancel, ...releases.start]) this.endRelease(r.service, 'why' in r ? r.why : `replaced by ${desired.services.find((s) => s.name === r.service)?.revision}`);
    const entries = this.world.history.recordDesired(desired, { progressing, ...o });
    for (const r of releases.start) {
      const entry = entries.find((e) => e.service === r.service);
      const stable = [...this.world.history.list(r.service)].reverse().find((e) => e.revision === r.stableRevision && e.status === 'current');
      saveRelease(this.world, { ...r, ...(entry ? { canaryNumber: entry.number } : {}), ...(stable ? { stableNumber: stable.number } : {}) });
      const strategy = r.strategy === 'canary' ? `canary, ${desired.services.find((s) => s.name === r.service)?.release?.canary?.steps.length ?? 0} steps` : 'blue-green';
      this.event({ type: 'Normal', reason: 'ReleaseStarted', message: `${r.service}: releasing ${r.canaryRevision} beside stable ${r.stableRevision} (${strategy})${r.replaced ? `; replaces the canary ${r.replaced} (a new apply during a release)` : ''}`, service: r.service });
      this.queue.add('release', r.service);
    }
    for (const r of releases.skipped) this.event({ type: 'Normal', reason: 'ReleaseSkipped', message: `${r.service}: ${r.why}`, service: r.service });
    this.recordLastApplied(desired);
    this.world.setMeta('down', '0');
    this.world.shuttingDown = false;
    const changed = changes.filter((c) => c.change !== 'unchanged');
    this.event({ type: 'Normal', reason: 'Applied', message: changed.length ? `applied ${desired.specFile}: ${changed.map((c) => `${c.service} ${c.change}`).join(', ')}` : `applied ${desired.specFile}: no change` });
    this.act.enqueueAllDeployments();
    this.enqueueAutoscalers();
    return changes;
  }

  /** A release left behind by an apply: no longer steered; its canary entry is aborted (the instances go with the rollout). */
  private endRelease(service: string, why: string): void {
    const s = loadRelease(this.world, service);
    if (!isActive(s) || s.phase === 'Healthy') return;
    if (s.canaryNumber !== undefined && s.phase !== 'Degraded') this.world.history.setStatus(service, s.canaryNumber, 'replaced');
    // Its canary instances stop now, before the release stops labelling them `canary`: no snapshot may
    // route stable's traffic to them in between (the deployment controller would only get to them later).
    const next = this.world.spec(service)?.revision;
    for (const rec of this.world.liveOf(service)) {
      if (rec.phase !== 'active' || rec.revision !== s.canaryRevision || rec.revision === next) continue;
      this.act.terminate(rec, true);
      this.event({ type: 'Normal', reason: 'Killing', message: `stopping ${rec.id}: canary ${s.canaryRevision} of a release that ended (${why})`, service, instance: rec.id, node: rec.node });
    }
    deleteRelease(this.world, service);
    this.event({ type: 'Normal', reason: 'ReleaseReplaced', message: `${service}: the release of ${s.canaryRevision} ends: ${why}`, service });
  }

  // ---------------------------------------------------------------- releases (API)

  releaseStatus(service: string): ReleaseStatus {
    if (!this.world.spec(service)) throw new ReleaseError(`no service "${service}" in the running application`, 404);
    return releaseStatus(this.world, service);
  }

  /** Every canary or blue-green service's release (the dashboard's Releases view). */
  releaseOverviews(): ReleaseOverview[] {
    return releaseOverviews(this.world);
  }

  releaseAction(service: string, action: 'promote' | 'abort' | 'retry', full = false): ReleaseStatus {
    if (action === 'promote') this.releases.promoteCommand(service, full, this.world, this.act);
    else if (action === 'abort') this.releases.abortCommand(service, this.world, this.act);
    else this.releases.retryCommand(service, this.world, this.act);
    return releaseStatus(this.world, service);
  }

  /** `berth release undo`: applies an earlier revision of the service again (the previous one, or number N). */
  async releaseUndo(service: string, toRevision?: number): Promise<{ service: string; number: number; revision: string; skippedSteps: boolean }> {
    const desired = this.world.desired;
    const spec = this.world.spec(service);
    if (!desired || !spec) throw new ReleaseError(`no service "${service}" in the running application`, 404);
    const list = this.world.history.list(service);
    const current = this.world.history.current(service);
    let target;
    if (toRevision !== undefined) {
      target = list.find((e) => e.number === toRevision);
      if (!target) throw new ReleaseError(`${service} has no revision ${toRevision} in its history (see \`berth history ${service}\`)`, 404);
    } else {
      const running = loadRelease(this.world, service);
      const serving = isActive(running) && running.phase !== 'Healthy' ? running.stableRevision : current?.revision;
      target = [...list].reverse().find((e) => e.revision !== serving && e.revision !== spec.revision && (e.status === 'replaced' || e.status === 'current'));
      if (isActive(running) && running.phase !== 'Healthy') target = list.find((e) => e.revision === running.stableRevision) ?? target;
      if (!target) throw new ReleaseError(`${service} has no earlier revision to go back to`, 409);
    }
    if (target.revision === spec.revision) throw new ReleaseError(`${service} already runs revision ${target.number} (${target.revision})`, 409);
    const merged: DesiredState = { ...desired, services: desired.services.map((s) => (s.name === service ? { ...target.spec, release: s.release } : s)) };
    await this.applyDesired(merged, { why: 'undone', message: `berth release undo → revision ${target.number}` });
    const state = loadRelease(this.world, service);
    const skipped = !(state && state.canaryRevision === target.revision && isActive(state));
    // Back to a stable that never stopped being current: no new entry, its own number.
    const entry = [...this.world.history.list(service)].reverse().find((e) => e.revision === target.revision && (e.status === 'current' || e.status === 'progressing'));
    return { service, number: entry?.number ?? target.number, revision: target.revision, skippedSteps: skipped };
  }

  /** The applied state as a file beside the store, for `berth diff` while no control plane runs; a failure is logged, never fatal. */
  private recordLastApplied(desired: DesiredState): void {
    try {
      writeFileAtomic(this.layout.lastApplied, JSON.stringify({ at: new Date().toISOString(), desired } satisfies LastApplied<DesiredState>) + '\n', 0o600);
    } catch (err) {
      this.log(`could not write ${this.layout.lastApplied}: ${(err as Error).message}`);
    }
  }

  /** The desired state in force (`GET /api/v1/desired`, for `berth diff`). */
  desired(): DesiredState | undefined {
    return this.world.desired;
  }

  scale(service: string, replicas: number): void {
    const spec = this.world.spec(service);
    if (!spec) throw new Error(`unknown service "${service}"`);
    // As with an HPA in charge of a Deployment, a set count would be overridden at once: say so instead of "scaled".
    if (spec.scale) {
      const why = `${service} is autoscaled (scale: min ${spec.scale.min}, max ${spec.scale.max}): the autoscaler sets its replicas, so \`berth scale\` would change nothing; change scale.min/scale.max in the spec and run \`berth apply\``;
      throw Object.assign(new Error(why), { status: 409 });
    }
    this.world.setScaleOverride(service, replicas);
    const held = isStopped(this.world, service) ? ' (stopped by `berth stop`: the count applies at `berth start`)' : '';
    this.event({ type: 'Normal', reason: 'Scaled', message: `scaled ${service} to ${replicas}${held}`, service });
    this.queue.add('deployment', service);
  }

  /** A service and its variants' deployments (`orders` → orders, orders.v2). */
  private deploymentsOf(service: string): DesiredService[] {
    return (this.world.desired?.services ?? []).filter((s) => s.name === service || s.name.startsWith(`${service}.`));
  }

  /**
   * `berth stop` (stop = true) and `berth start`: a stopped service (or one variant's deployment) runs no
   * instance, whatever its spec, `berth scale` or autoscaler say, until started again; then it returns to
   * the count it would have had. The flag is in the store, so `berth up` and a restart keep it.
   * Every name is checked before anything changes: an unknown one is an error (404) and nothing stops.
   */
  setStopped(services: string[], stop: boolean): { service: string; replicas: number; changed: boolean }[] {
    for (const s of services) if (this.deploymentsOf(s).length === 0) throw new Error(`unknown service "${s}"`);
    return [...new Set(services)].map((service) => {
      const deployments = this.deploymentsOf(service);
      const own = this.world.getMeta(STOPPED_META(service)) === '1';
      const count = () => deployments.reduce((n, d) => n + effectiveReplicas(this.world, d), 0);
      const before = count();
      if (own === stop) return { service, replicas: before, changed: false };
      this.world.setMeta(STOPPED_META(service), stop ? '1' : '');
      const after = count();
      // The reason is the command itself, as `docker compose stop` leaves it in the container's state.
      const event = stop
        ? { reason: 'Stopped', message: `${service} stopped by \`berth stop\` (${before} → 0 instances)` }
        : { reason: 'Started', message: `${service} started by \`berth start\` (${before} → ${after} instances)` };
      this.event({ type: 'Normal', ...event, service });
      for (const d of deployments) this.queue.add('deployment', d.name);
      return { service, replicas: after, changed: true };
    });
  }

  /** `berth sidecar restart`: every node agent restarts the named sidecars (of one service); revisions and apps are untouched. */
  async restartSidecars(name: string, service?: string): Promise<{ instance: string; pid: number }[]> {
    if (service !== undefined && !this.world.spec(service)) throw new Error(`no service "${service}"`);
    // A name no template declares is a typo, not "nothing running": the caller gets an error (exit 2), not an empty list.
    const declared = new Set((this.world.desired?.services ?? []).filter((s) => service === undefined || s.name === service).flatMap((s) => s.template.sidecars.map((p) => p.name)));
    if (!declared.has(name)) throw new Error(`no sidecar "${name}"${service ? ` in service ${service}` : ''}; sidecars: ${[...declared].sort().join(', ') || 'none'}`);
    const out: { instance: string; pid: number }[] = [];
    for (const client of this.nodes.values()) out.push(...(await client.restartSidecars(name, service)));
    return out;
  }

  /** Rolling restart: a new revision with the same spec, replaced with the usual surge budget. */
  async restart(service: string): Promise<string> {
    const desired = this.world.desired;
    if (!desired || !this.world.spec(service)) throw new Error(`unknown service "${service}"`);
    const generation = this.world.bumpRestartGeneration(service);
    // The same template under a new generation: a new revision, rolled out like any change. Only this service changes.
    const restamp = (s: DesiredService): DesiredService => {
      const template = structuredClone(s.template);
      return { ...s, template, revision: stampRevision(template, generation) };
    };
    const merged: DesiredState = { ...desired, services: desired.services.map((s) => (s.name === service ? restamp(s) : s)) };
    this.world.setDesired(merged);
    this.world.history.recordDesired(merged, { message: 'berth restart' });
    const rev = merged.services.find((s) => s.name === service)!.revision;
    this.event({ type: 'Normal', reason: 'RolloutRestart', message: `restarting ${service} as revision ${rev}`, service });
    this.queue.add('deployment', service);
    return rev;
  }

  /** Stops everything; `onComplete` runs once no instance and no agent is left. */
  down(onComplete: () => void): void {
    this.world.setMeta('down', '1');
    this.world.shuttingDown = true;
    this.onDownComplete = onComplete;
    this.event({ type: 'Normal', reason: 'Down', message: 'stopping every instance' });
    this.act.enqueueAllDeployments();
    this.queue.add('lifecycle', 'all');
  }

  /** `berth stats`: CPU and memory of every running instance's app and sidecars, from the nodes' last heartbeats. */
  stats(): StatsRow[] {
    return this.ps(false)
      .filter((r) => r.status !== 'stopped' && r.status !== 'pending')
      .flatMap((r) => statsRows(r, this.nodeMgr.instanceUsage(r.instance), this.nodeMgr.sidecarUsage(r.instance)));
  }

  ps(all: boolean): PsRow[] {
    const ports = new Map((this.world.desired?.services ?? []).map((s) => [s.name, s.port]));
    const recs = all ? this.store.allInstances() : [...this.world.liveInstances()];
    return recs.map((r) => ({ ...psRow(r, this.world.observedOf(r), ports.get(r.service), this.world.waitingFor(r.id)), ...releaseRole(this.world, r) }));
  }

  status(): { app: string | undefined; specFile: string | undefined; env: string | undefined; down: boolean; services: { name: string; revision: string; replicas: number; ready: number; port: number | null; address: string | null; autoscale?: AutoscaleStatus; stopped?: { by: string; replicasAtStart: number }; release?: { stableRevision: string; canaryRevision: string } }[]; nodes: { name: string; status: string; agentPid: number | null }[] } {
    const desired = this.world.desired;
    return {
      app: desired?.app,
      specFile: desired?.specFile,
      env: desired?.env,
      down: this.world.down,
      services: (desired?.services ?? []).map((s) => ({
        name: s.name,
        revision: s.revision,
        replicas: effectiveReplicas(this.world, s),
        ready: this.world.readyOf(s.name).length,
        port: s.port ?? null,
        address: s.port !== undefined ? `127.0.0.1:${s.port}` : null,
        ...(this.autoscaling.status.has(s.name) ? { autoscale: this.autoscaling.status.get(s.name) } : {}),
        ...(isStopped(this.world, s.name) ? { stopped: { by: 'berth stop', replicasAtStart: startedReplicas(this.world, s) } } : {}),
        ...releaseRevisions(this.world, s),
      })),
      nodes: this.nodeMgr.statuses().map((n) => ({ name: n.name, status: n.status, agentPid: n.agentPid })),
    };
  }

  instanceSpec(id: string): InstanceSpec | undefined {
    const rec = this.world.instance(id) ?? this.store.getInstance(id);
    if (!rec) return undefined;
    const desired = this.world.desired;
    const template = this.world.template(rec.service, rec.revision);
    if (!template || !desired) return undefined;
    const spec = materialize(desired.app, rec, template, this.layout.instanceLogDir(rec.service, rec.id), this.sidecarEnv(rec.id, rec.service), this.defaultAppUser);
    // The app's private PORT is the node agent's (it reports it): `berth exec` sees what the app sees.
    const appPort = this.world.observedOf(rec)?.appPort;
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

  /** The mesh feed reports acknowledgements (and sets how to ask whether every proxy holds the current snapshot). */
  attachMesh(synced: () => boolean): void {
    this.withdrawals.attachMesh(synced);
  }

  /** A proxy acknowledged a snapshot: nodes with withdrawn instances may now stop them. */
  meshAcked(): void {
    for (const node of this.withdrawals.nodes()) this.queue.add('node', node);
  }

  close(): void {
    this.queue.stop();
    this.nodeMgr.close();
    this.backupState();
    this.store.close();
  }

  // ---------------------------------------------------------------- helpers

  private event(e: NewEvent): void {
    this.act.event(e);
  }

  private notify(): void {
    for (const fn of this.listeners) fn();
  }

  /** The nodes the spec declares become node records; nodes dropped from the spec are drained, then removed. */
  private syncNodeRecords(desired: DesiredState | undefined): void {
    const declared = desired?.nodes ?? [{ name: 'node-1', capacity: {}, labels: {} }];
    for (const n of declared) {
      this.world.upsertNode(n.name, n.capacity, n.labels, 'spec');
      if (this.world.getMeta(REMOVING_META(n.name)) === '1') {
        this.world.setMeta(REMOVING_META(n.name), '0'); // back in the spec before it was gone
        this.world.setNodeFlags(n.name, { cordoned: false, draining: false });
      }
    }
    const names = new Set(declared.map((n) => n.name));
    for (const r of this.world.nodes()) {
      if (r.source === 'spec' && !names.has(r.name) && !r.draining) {
        this.world.setNodeFlags(r.name, { cordoned: true, draining: true });
        this.world.setMeta(REMOVING_META(r.name), '1');
        this.event({ type: 'Normal', reason: 'NodeRemoving', message: `node ${r.name} is no longer in the spec: draining it`, node: r.name });
      }
    }
  }

  heartbeat(hb: NodeHeartbeat): boolean {
    return this.nodeMgr.heartbeat(hb);
  }

  nodeStatuses(): (NodeStatus & { instances: number })[] {
    return this.nodeMgr.statuses().map((n) => ({ ...n, instances: this.world.countOn(n.name) }));
  }

  async nodeAction(name: string, action: 'cordon' | 'uncordon' | 'drain' | 'kill'): Promise<void> {
    if (!this.world.node(name)) throw new Error(`unknown node "${name}"`);
    if (action === 'kill') return this.nodeMgr.kill(name);
    if (action === 'cordon') this.world.setNodeFlags(name, { cordoned: true });
    if (action === 'uncordon') this.world.setNodeFlags(name, { cordoned: false, draining: false });
    if (action === 'drain') this.world.setNodeFlags(name, { cordoned: true, draining: true });
    const reason = { cordon: 'NodeCordoned', uncordon: 'NodeUncordoned', drain: 'NodeDraining' }[action];
    this.event({ type: 'Normal', reason, message: `node ${name} ${action === 'drain' ? 'draining: replacements start elsewhere before its instances stop' : `${action}ed`}`, node: name });
    this.act.enqueueAllDeployments();
  }

  /** `berth node add`: a new node (agent started now) beside the spec's. */
  async addNode(name: string | undefined, capacity: { cpuMillis?: number; memoryMiB?: number }, labels: Record<string, string>): Promise<string> {
    const existing = new Set(this.world.nodes().map((n) => n.name));
    let nodeName = name;
    if (!nodeName) {
      let i = existing.size + 1;
      while (existing.has(`node-${i}`)) i++;
      nodeName = `node-${i}`;
    } else if (existing.has(nodeName)) throw new Error(`node "${nodeName}" already exists`);
    this.world.upsertNode(nodeName, capacity, labels, 'added');
    await this.nodeMgr.sync();
    this.event({ type: 'Normal', reason: 'NodeAdded', message: `node ${nodeName} added`, node: nodeName });
    this.act.enqueueAllDeployments();
    return nodeName;
  }
}
