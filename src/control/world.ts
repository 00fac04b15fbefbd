// The control plane's read model: desired and recorded state loaded once from the store and kept
// current by writing through it (every write goes to SQLite first, then to the cache), plus the
// observed state the node agents report (through an ObservedSource). Controllers read this, never
// SQLite; indexes (instances by service and by node) keep every pass linear in the instances.
import type { AgentEvent, InstanceObserved } from '../lib/agent-protocol.js';
import type { DesiredService, DesiredState, InstanceTemplate } from '../plan/index.js';
import type { InstanceRecord, NewEvent, NodeRecord, StoredEvent, Store } from './store.js';
import { RevisionHistory } from './release/history.js';

/** What the node agents report, as the node manager and node clients hold it. */
export interface ObservedSource {
  /** The instances a node's agent reported at its last pull (undefined: no client for the node). */
  observed(node: string): ReadonlyMap<string, InstanceObserved> | undefined;
  /** The node's heartbeats are current. */
  nodeReady(node: string): boolean;
  /** App CPU/memory of an instance from its node's latest heartbeat. */
  instanceUsage(id: string): { cpuMillis: number; memoryMiB: number } | undefined;
  /** Measured CPU/memory of a node from its latest heartbeat. */
  nodeUsage(node: string): { cpuMillis: number; memoryMiB: number } | undefined;
  /** The node's agent as its client knows it (undefined: no client). */
  agent(node: string): AgentState | undefined;
}

export interface AgentState {
  /** The recorded agent process is alive. */
  alive: boolean;
  /** observed reflects a successful pull from the current agent. */
  synced: boolean;
  /** This control plane had to start the agent (nothing was adopted). */
  startedFresh: boolean;
  /** The agent process (a new one has nothing pushed yet). */
  pid?: number;
}

const NO_OBSERVATION: ObservedSource = { observed: () => undefined, nodeReady: () => false, instanceUsage: () => undefined, nodeUsage: () => undefined, agent: () => undefined };

const WAITING = (id: string) => `waiting:${id}`;
const MIGRATING = (id: string) => `migrating:${id}`;

export class World {
  private desiredState: DesiredState | undefined;
  private readonly specs = new Map<string, DesiredService>();
  private readonly meta = new Map<string, string>();
  private readonly overrides = new Map<string, number>();
  private readonly templates = new Map<string, InstanceTemplate>();
  /** Live instances (active and terminating) in creation order. */
  private readonly live = new Map<string, InstanceRecord>();
  private readonly byService = new Map<string, Map<string, InstanceRecord>>();
  private readonly byNode = new Map<string, Map<string, InstanceRecord>>();
  /** Every instance id ever recorded that the store still holds (ids are never reused). */
  private readonly knownIds = new Set<string>();
  private nodeList: NodeRecord[] = [];
  private source: ObservedSource = NO_OBSERVATION;
  /** Nodes whose measured use is over the pressure threshold now (the scheduler keeps new instances off them). */
  readonly pressured = new Set<string>();
  /** Set by `berth down` in this process (a down interrupted by a restart waits for a new one). */
  shuttingDown = false;
  /** This app's address slot (127.<node>.<slot>.<i>). */
  slot = 0;
  /** Bumped by every write: what was derived from an unchanged version is still current. */
  private writes = 0;
  /** Numbered revisions of every service (written through to the store). */
  readonly history: RevisionHistory;

  constructor(readonly store: Store) {
    this.history = new RevisionHistory(store);
    this.desiredState = store.getDesired();
    this.indexDesired();
    for (const [k, v] of store.allMeta()) this.meta.set(k, v);
    for (const [k, v] of Object.entries(store.scaleOverrides())) this.overrides.set(k, v);
    for (const t of store.allTemplates()) this.templates.set(`${t.service}\u0000${t.revision}`, t.template);
    for (const id of store.instanceIds()) this.knownIds.add(id);
    for (const r of store.liveInstances()) this.index(r);
    this.nodeList = store.nodes();
  }

  observeWith(source: ObservedSource): void {
    this.source = source;
  }

  // ------------------------------------------------------------------ reads

  /** Changes with every write to the recorded state (not with observed state, which the node clients hold). */
  get version(): number {
    return this.writes;
  }

  get desired(): DesiredState | undefined {
    return this.desiredState;
  }

  spec(service: string): DesiredService | undefined {
    return this.specs.get(service);
  }

  get down(): boolean {
    return this.meta.get('down') === '1';
  }

  getMeta(key: string): string | undefined {
    return this.meta.get(key);
  }

  /** Meta keys starting with `prefix`. */
  metaKeys(prefix: string): string[] {
    return [...this.meta.keys()].filter((k) => k.startsWith(prefix));
  }

  scaleOverride(service: string): number | undefined {
    return this.overrides.get(service);
  }

  scaleOverrides(): Record<string, number> {
    return Object.fromEntries(this.overrides);
  }

  template(service: string, revision: string): InstanceTemplate | undefined {
    return this.templates.get(`${service}\u0000${revision}`);
  }

  instance(id: string): InstanceRecord | undefined {
    return this.live.get(id);
  }

  hasId(id: string): boolean {
    return this.knownIds.has(id);
  }

  /** Live instances (active and terminating), oldest first. */
  liveInstances(): IterableIterator<InstanceRecord> {
    return this.live.values();
  }

  get liveCount(): number {
    return this.live.size;
  }

  liveOf(service: string): InstanceRecord[] {
    return [...(this.byService.get(service)?.values() ?? [])];
  }

  liveOn(node: string): InstanceRecord[] {
    return [...(this.byNode.get(node)?.values() ?? [])];
  }

  countOn(node: string): number {
    return this.byNode.get(node)?.size ?? 0;
  }

  /** Deployments with live instances (a removed service keeps its name here until its last one stops). */
  servicesWithInstances(): string[] {
    return [...this.byService.keys()];
  }

  nodes(): readonly NodeRecord[] {
    return this.nodeList;
  }

  node(name: string): NodeRecord | undefined {
    return this.nodeList.find((n) => n.name === name);
  }

  observedOf(rec: InstanceRecord): InstanceObserved | undefined {
    return this.source.observed(rec.node)?.get(rec.id);
  }

  observedOn(node: string): ReadonlyMap<string, InstanceObserved> | undefined {
    return this.source.observed(node);
  }

  nodeReady(node: string): boolean {
    return this.source.nodeReady(node);
  }

  instanceUsage(id: string): { cpuMillis: number; memoryMiB: number } | undefined {
    return this.source.instanceUsage(id);
  }

  nodeUsage(node: string): { cpuMillis: number; memoryMiB: number } | undefined {
    return this.source.nodeUsage(node);
  }

  agent(node: string): AgentState | undefined {
    return this.source.agent(node);
  }

  isReady(rec: InstanceRecord): boolean {
    return rec.phase === 'active' && (this.observedOf(rec)?.ready ?? false);
  }

  readyOf(service: string): InstanceRecord[] {
    return this.liveOf(service).filter((r) => this.isReady(r));
  }

  /** Why an instance is not started yet (FailedScheduling or an unmet dependency), as last recorded. */
  waitingFor(id: string): string | undefined {
    return this.meta.get(WAITING(id)) || undefined;
  }

  migrating(id: string): boolean {
    return this.meta.get(MIGRATING(id)) === '1';
  }

  // ------------------------------------------------------------------ writes (store first, then cache)

  setMeta(key: string, value: string): void {
    if (this.meta.get(key) === value) return;
    this.writes++;
    this.store.setMeta(key, value);
    this.meta.set(key, value);
  }

  deleteMeta(key: string): void {
    if (!this.meta.has(key)) return;
    this.writes++;
    this.store.deleteMeta(key);
    this.meta.delete(key);
  }

  setWaiting(id: string, reason: string | undefined): void {
    if (reason === undefined) this.deleteMeta(WAITING(id));
    else this.setMeta(WAITING(id), reason);
  }

  setDesired(desired: DesiredState): void {
    this.writes++;
    this.store.setDesired(desired);
    this.desiredState = desired;
    this.indexDesired();
    for (const s of desired.services) {
      const key = `${s.name}\u0000${s.revision}`;
      // Templates are immutable per revision (the store keeps the first one too).
      if (!this.templates.has(key)) this.templates.set(key, s.template);
    }
    this.meta.set('desired', JSON.stringify(desired));
  }

  setScaleOverride(service: string, replicas: number | undefined): void {
    this.writes++;
    this.store.setScaleOverride(service, replicas);
    if (replicas === undefined) this.overrides.delete(service);
    else this.overrides.set(service, replicas);
  }

  bumpRestartGeneration(service: string): number {
    return this.store.bumpRestartGeneration(service);
  }

  insertInstance(rec: Omit<InstanceRecord, 'phase' | 'dispatched' | 'createdAt'>): InstanceRecord {
    this.writes++;
    const stored = this.store.insertInstance(rec);
    this.knownIds.add(stored.id);
    this.index(stored);
    return stored;
  }

  bindInstance(id: string, node: string, host: string): void {
    this.writes++;
    const rec = this.live.get(id);
    if (!rec || rec.node !== '') return;
    this.store.bindInstance(id, node, host);
    const bound = { ...rec, node, host };
    this.replace(bound);
    let n = this.byNode.get(node);
    if (!n) this.byNode.set(node, (n = new Map()));
    n.set(id, bound);
  }

  markDispatched(id: string): void {
    this.writes++;
    const rec = this.live.get(id);
    if (!rec) return;
    this.store.markDispatched(id);
    this.replace({ ...rec, dispatched: true });
  }

  markTerminating(id: string): void {
    this.writes++;
    const rec = this.live.get(id);
    if (!rec || rec.phase !== 'active') return;
    this.store.markTerminating(id);
    this.replace({ ...rec, phase: 'terminating' });
  }

  markStopped(id: string, lastObserved: InstanceObserved | undefined): void {
    this.writes++;
    this.store.markStopped(id, lastObserved);
    const rec = this.live.get(id);
    if (rec) this.unindex(rec);
    this.setWaiting(id, undefined);
    this.deleteMeta(MIGRATING(id));
  }

  saveObserved(id: string, observed: InstanceObserved): void {
    const rec = this.live.get(id);
    this.store.saveObserved(id, observed);
    if (rec) this.replace({ ...rec, lastObserved: observed });
  }

  upsertNode(name: string, capacity: NodeRecord['capacity'], labels: Record<string, string>, source: NodeRecord['source']): void {
    this.writes++;
    this.store.upsertNode(name, capacity, labels, source);
    this.nodeList = this.store.nodes();
  }

  setNodeFlags(name: string, flags: { cordoned?: boolean; draining?: boolean }): void {
    this.writes++;
    this.store.setNodeFlags(name, flags);
    this.nodeList = this.nodeList.map((n) => (n.name === name ? { ...n, ...flags } : n));
  }

  deleteNode(name: string): void {
    this.writes++;
    this.store.deleteNode(name);
    this.nodeList = this.nodeList.filter((n) => n.name !== name);
  }

  addEvent(e: NewEvent): StoredEvent {
    return this.store.addEvent(e);
  }

  addAgentEvents(node: string, events: AgentEvent[]): void {
    this.store.addAgentEvents(node, events);
  }

  nodeCursor(node: string): number {
    return this.store.nodeCursor(node);
  }

  // ------------------------------------------------------------------ indexes

  private indexDesired(): void {
    this.specs.clear();
    for (const s of this.desiredState?.services ?? []) this.specs.set(s.name, s);
  }

  private index(rec: InstanceRecord): void {
    if (rec.phase === 'stopped') return;
    this.live.set(rec.id, rec);
    let s = this.byService.get(rec.service);
    if (!s) this.byService.set(rec.service, (s = new Map()));
    s.set(rec.id, rec);
    if (rec.node !== '') {
      let n = this.byNode.get(rec.node);
      if (!n) this.byNode.set(rec.node, (n = new Map()));
      n.set(rec.id, rec);
    }
  }

  private unindex(rec: InstanceRecord): void {
    this.live.delete(rec.id);
    const s = this.byService.get(rec.service);
    s?.delete(rec.id);
    if (s?.size === 0) this.byService.delete(rec.service);
    const n = this.byNode.get(rec.node);
    n?.delete(rec.id);
    if (n?.size === 0) this.byNode.delete(rec.node);
  }

  /** Same id, same service and node: the indexes keep their order, the record is swapped. */
  private replace(rec: InstanceRecord): void {
    this.live.set(rec.id, rec);
    this.byService.get(rec.service)?.set(rec.id, rec);
    if (rec.node !== '') this.byNode.get(rec.node)?.set(rec.id, rec);
  }
}
