// The control plane: owns the store, the node clients and the controllers, and exposes the
// operations the API serves. It decides; node agents do. Killing it at any moment and starting it
// again converges to the same world: running instances are adopted, never restarted.
import { randomBytes } from 'node:crypto';
import type { SpecError } from '../contract/index.js';
import type { InstanceObserved, InstanceSpec } from '../lib/agent-protocol.js';
import { stateLayout } from '../lib/state-dir.js';
import { claimAppSlot, releaseAppSlot } from '../lib/slots.js';
import type { DesiredService, DesiredState, ServiceChange } from '../plan/index.js';
import { materialize, psRow, type PsRow } from './instances.js';
import { GATEWAY_ID } from '../lib/mesh-protocol.js';
import { gatewayInstance, meshServedServices } from './mesh-snapshots.js';
import { NodeClient } from './node-client.js';
import { decideRollout } from './rollout.js';
import { WorkQueue } from './reconciler.js';
import { Store, type InstanceRecord, type NewEvent } from './store.js';

export interface ControlPlaneOptions {
  stateDir: string;
  token: string;
  log?: (msg: string) => void;
  /** Level-triggered safety net: every node is re-pulled at least this often. */
  resyncMs?: number;
}

export class ApplyError extends Error {
  constructor(readonly errors: SpecError[]) {
    super(`invalid spec: ${errors.length} problem${errors.length === 1 ? '' : 's'}`);
  }
}

/** The spec loader and compiler (zod, yaml) are loaded on first use: an idle control plane stays small. */
async function specTools() {
  const [{ loadSpec }, { compile, diffDesired }] = await Promise.all([import('../contract/index.js'), import('../plan/index.js')]);
  return { loadSpec, compile, diffDesired };
}

const NODE_NAMES = ['node-1'];

export class ControlPlane {
  readonly store: Store;
  readonly layout: ReturnType<typeof stateLayout>;
  private readonly nodes = new Map<string, NodeClient>();
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
    this.store = new Store(this.layout.db);
    this.log = opts.log ?? ((m) => console.log(`${new Date().toISOString()} ${m}`));
    this.queue = new WorkQueue(this.log);
    this.queue.register({ kind: 'node', reconcile: (k) => this.reconcileNode(k) });
    this.queue.register({ kind: 'deployment', reconcile: (k) => this.reconcileDeployment(k) });
    this.queue.register({ kind: 'lifecycle', reconcile: () => this.reconcileLifecycle() });
  }

  async start(): Promise<void> {
    this.slot = claimAppSlot(this.opts.stateDir);
    for (const name of NODE_NAMES) {
      const client = new NodeClient({
        node: name,
        stateDir: this.opts.stateDir,
        token: this.opts.token,
        tokenFile: this.layout.token,
        onChange: () => this.queue.add('node', name),
        log: this.log,
      });
      this.nodes.set(name, client);
      const how = await client.ensure();
      this.event({ type: 'Normal', reason: how === 'adopted' ? 'NodeAdopted' : 'NodeStarted', message: `node agent ${name} ${how === 'adopted' ? 'reconnected' : 'started'} (pid ${client.agentPid})`, node: name });
      this.queue.add('node', name);
    }
    this.queue.add('lifecycle', 'all');
    const resync = setInterval(() => {
      for (const name of this.nodes.keys()) this.queue.add('node', name);
      this.queue.add('lifecycle', 'all');
    }, this.opts.resyncMs ?? 2000);
    resync.unref();
  }

  // ---------------------------------------------------------------- operations (API)

  /** Loads, validates and stores a spec; the controllers do the rest. */
  async apply(file: string, env: string | undefined): Promise<ServiceChange[]> {
    const { loadSpec, compile, diffDesired } = await specTools();
    const loaded = await loadSpec(file, { env });
    if (!loaded.ok) throw new ApplyError(loaded.errors);
    const desired = compile(loaded.spec, {
      dir: loaded.dir,
      specFile: loaded.file,
      env,
      restartGenerations: this.store.restartGenerations(),
    });
    const prev = this.store.getDesired();
    const changes = diffDesired(prev, desired);
    // An explicit replica count in a changed spec wins over an earlier `berth scale`.
    for (const c of changes) if (c.change === 'replicas' || c.change === 'added' || c.change === 'removed') this.store.setScaleOverride(c.service, undefined);
    this.store.setDesired(desired);
    this.store.setMeta('down', '0');
    this.shuttingDown = false;
    const changed = changes.filter((c) => c.change !== 'unchanged');
    this.event({ type: 'Normal', reason: 'Applied', message: changed.length ? `applied ${loaded.file}: ${changed.map((c) => `${c.service} ${c.change}`).join(', ')}` : `applied ${loaded.file}: no change` });
    this.enqueueAllDeployments();
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
    this.store.bumpRestartGeneration(service);
    const { loadSpec, compile } = await specTools();
    const loaded = await loadSpec(desired.specFile, { env: desired.env });
    if (!loaded.ok) throw new ApplyError(loaded.errors);
    const next = compile(loaded.spec, { dir: loaded.dir, specFile: loaded.file, env: desired.env, restartGenerations: this.store.restartGenerations() });
    // Only the restarted service changes; the others keep their stored revision.
    const merged: DesiredState = { ...desired, services: desired.services.map((s) => (s.name === service ? (next.services.find((n) => n.name === service) ?? s) : s)) };
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

  status(): { app: string | undefined; specFile: string | undefined; env: string | undefined; down: boolean; services: { name: string; revision: string; replicas: number; ready: number; port: number | null; address: string | null }[]; nodes: { name: string; agentPid: number | null }[] } {
    const desired = this.store.getDesired();
    const overrides = this.store.scaleOverrides();
    const rows = this.ps(false);
    return {
      app: desired?.app,
      specFile: desired?.specFile,
      env: desired?.env,
      down: this.store.getMeta('down') === '1',
      services: (desired?.services ?? []).map((s) => ({
        name: s.name,
        revision: s.revision,
        replicas: overrides[s.name] ?? s.replicas,
        ready: rows.filter((r) => r.service === s.name && r.ready).length,
        port: s.port ?? null,
        address: s.port !== undefined ? `127.0.0.1:${s.port}` : null,
      })),
      nodes: [...this.nodes.values()].map((n) => ({ name: n.node, agentPid: n.agentPid ?? null })),
    };
  }

  instanceSpec(id: string): InstanceSpec | undefined {
    const rec = this.store.getInstance(id);
    if (!rec) return undefined;
    const desired = this.store.getDesired();
    const template = this.store.getTemplate(rec.service, rec.revision);
    if (!template || !desired) return undefined;
    return materialize(desired.app, rec, template, this.layout.instanceLogDir(rec.service, rec.id));
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  close(): void {
    this.queue.stop();
    for (const n of this.nodes.values()) n.close();
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
    const nodeIndex = NODE_NAMES.indexOf(node) + 1;
    const used = new Set(this.store.liveInstances().filter((r) => r.node === node).map((r) => r.host));
    for (let i = 2; i < 255; i++) {
      const host = `127.${nodeIndex}.${this.slot}.${i}`;
      if (!used.has(host)) return host;
    }
    throw new Error(`node ${node} has no free instance address left`);
  }

  /** The scheduler, for now: the node with the fewest live instances. */
  private pickNode(): string {
    const counts = new Map(NODE_NAMES.map((n) => [n, 0]));
    for (const r of this.store.liveInstances()) counts.set(r.node, (counts.get(r.node) ?? 0) + 1);
    return [...counts.entries()].sort((a, b) => a[1] - b[1])[0][0];
  }

  // ---------------------------------------------------------------- reconcilers

  /** node/<name>: pull observed state + events from the agent, then push the desired set. */
  private async reconcileNode(name: string): Promise<void> {
    const client = this.nodes.get(name);
    if (!client) return;
    const before = client.observed;
    const startsBefore = client.agentStarts;
    const events = await client.pull(this.store.nodeCursor(name));
    if (client.agentStarts !== startsBefore) {
      this.event({ type: 'Warning', reason: 'NodeRestarted', message: `node agent ${name} was gone (its leftovers fenced) and has been restarted; its instances are started again`, node: name });
    }
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
    }
  }

  private async pushNode(name: string): Promise<void> {
    const client = this.nodes.get(name);
    const desired = this.store.getDesired();
    if (!client || !client.synced) return;
    const app = desired?.app ?? 'app';
    const instances: InstanceSpec[] = [];
    for (const rec of this.store.liveInstances()) {
      if (rec.node !== name || rec.phase !== 'active' || !rec.dispatched) continue;
      const template = this.store.getTemplate(rec.service, rec.revision);
      if (template) instances.push(materialize(app, rec, template, this.layout.instanceLogDir(rec.service, rec.id)));
    }
    const down = this.store.getMeta('down') === '1';
    // Meshed services are served on 127.0.0.1:port by the mesh gateway (see mesh-snapshots.ts), not the agent's TCP forwarder.
    const meshed = meshServedServices(desired);
    const services = down ? [] : (desired?.services ?? []).filter((s) => s.port !== undefined && !meshed.has(s.name)).map((s) => ({ name: s.name, host: '127.0.0.1', port: s.port! }));
    const gateway = down || name !== NODE_NAMES[0] ? undefined : gatewayInstance(desired, { node: name, nodeIndex: NODE_NAMES.indexOf(name) + 1, slot: this.slot, stateDir: this.opts.stateDir, logDir: this.layout.instanceLogDir(GATEWAY_ID, GATEWAY_ID) });
    if (gateway) instances.push(gateway);
    await client.push({ instances, services });
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

    if (!spec) {
      for (const rec of live) {
        this.store.markTerminating(rec.id);
        this.event({ type: 'Normal', reason: 'Killing', message: `stopping ${rec.id}${down ? '' : ' (service removed)'}`, service, instance: rec.id, node: rec.node });
        touched = true;
      }
    } else {
      const replicas = this.store.scaleOverrides()[service] ?? spec.replicas;
      const toRollout = (r: InstanceRecord) => ({ id: r.id, ready: this.isReady(r), createdAt: r.createdAt });
      const decision = decideRollout({
        replicas,
        maxSurge: spec.rollout.maxSurge,
        maxUnavailable: spec.rollout.maxUnavailable,
        current: live.filter((r) => r.revision === spec.revision).map(toRollout),
        old: live.filter((r) => r.revision !== spec.revision).map(toRollout),
      });
      for (const id of decision.terminate) {
        const rec = live.find((r) => r.id === id)!;
        this.store.markTerminating(id);
        const why = rec.revision !== spec.revision ? `replaced by revision ${spec.revision}` : `scaled down to ${replicas}`;
        this.event({ type: 'Normal', reason: 'Killing', message: `stopping ${id}: ${why}`, service, instance: id, node: rec.node });
        touched = true;
      }
      for (let i = 0; i < decision.create; i++) {
        const node = this.pickNode();
        const id = `${service}-${spec.revision.slice(0, 5)}-${randomBytes(3).toString('hex').slice(0, 5)}`;
        this.store.insertInstance({ id, service, revision: spec.revision, node, host: this.allocateHost(node) });
        this.event({ type: 'Normal', reason: 'Scheduled', message: `created ${id} (revision ${spec.revision}) on ${node}`, service, instance: id, node });
        touched = true;
      }
    }

    // dependsOn gates the first start of each instance (like compose's depends_on conditions).
    let waiting = false;
    if (spec) {
      for (const rec of this.store.liveInstances().filter((r) => r.service === service && r.phase === 'active' && !r.dispatched)) {
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
    if (waiting) return { requeueAfterMs: 250 };
  }

  private unmetDependency(spec: DesiredService): string | undefined {
    for (const [dep, condition] of Object.entries(spec.dependsOn)) {
      const depRecs = this.store.liveInstances().filter((r) => r.service === dep && r.phase === 'active');
      const depReplicas = this.store.scaleOverrides()[dep] ?? this.store.getDesired()?.services.find((s) => s.name === dep)?.replicas ?? 0;
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
    if (!this.shuttingDown && this.store.getMeta('down') !== '1') return;
    if (!this.shuttingDown) return; // a down that was interrupted by a control-plane restart waits for a new `berth down` or `up`
    const live = this.store.liveInstances();
    const anyObserved = [...this.nodes.values()].some((n) => n.observed.size > 0);
    if (live.length > 0 || anyObserved) return;
    this.queue.stop();
    await Promise.all([...this.nodes.values()].map((n) => n.shutdown(15_000)));
    this.event({ type: 'Normal', reason: 'Stopped', message: 'every instance and node agent stopped' });
    releaseAppSlot(this.opts.stateDir);
    this.onDownComplete?.();
  }
}
