// `act`: the only way a controller changes the world — store writes (through the read model, so it
// stays current), calls to node agents, events, and asking for other keys to be reconciled. The
// store part is here; the effects on processes (node agents, the work queue) are injected, so a
// controller runs unchanged against a real control plane and against an in-memory world in tests.
import { randomBytes } from 'node:crypto';
import type { AgentDesired, AgentEvent, InstanceObserved } from '../../lib/agent-protocol.js';
import { meshServedServices } from '../mesh-snapshots.js';
import type { InstanceRecord, NewEvent } from '../store.js';
import type { Withdrawals } from '../withdrawals.js';
import type { World } from '../world.js';

export type ControllerKind = 'node' | 'deployment' | 'lifecycle' | 'autoscale' | 'pressure' | 'gitops' | 'release';

/** What a reconcile asks of the queue: nothing, or to be called again after a while. */
export interface ReconcileOutcome {
  requeueAfterMs?: number;
}

/** The effects outside the store: node agents and the work queue (fakes in unit tests). */
export interface Effects {
  enqueue(kind: ControllerKind, key: string): void;
  /** Something a watcher sees (ps, status, the mesh snapshot) changed. */
  notify(): void;
  /** Pulls a node's observed instances and its new events after `cursor`; `before`: what the node reported until now. */
  pull(node: string, cursor: number): Promise<{ before: ReadonlyMap<string, InstanceObserved>; events: AgentEvent[] }>;
  /** Sends a node its desired set (a no-op when unchanged). */
  push(node: string, desired: Omit<AgentDesired, 'generation'>): Promise<void>;
  /** Brings the node clients in line with the node records (starts/stops agents). */
  syncNodes(): Promise<void>;
  /** `berth down` finished: stop the queue and every agent, then let the process go. */
  finishDown(): Promise<void>;
}

export class Act {
  constructor(
    private readonly world: World,
    private readonly effects: Effects,
    readonly withdrawals: Withdrawals,
  ) {}

  event(e: NewEvent): void {
    this.world.addEvent(e);
    this.effects.notify();
  }

  notify(): void {
    this.effects.notify();
  }

  enqueue(kind: ControllerKind, key: string): void {
    this.effects.enqueue(kind, key);
  }

  /** Every deployment the spec names or that still has instances. */
  enqueueAllDeployments(): void {
    const names = new Set([...(this.world.desired?.services.map((s) => s.name) ?? []), ...this.world.servicesWithInstances()]);
    for (const n of names) this.effects.enqueue('deployment', n);
  }

  enqueueAllNodes(): void {
    for (const n of this.world.nodes()) this.effects.enqueue('node', n.name);
  }

  setMeta(key: string, value: string): void {
    this.world.setMeta(key, value);
  }

  /** A new, unscheduled instance of a revision; ids are never reused. */
  createInstance(service: string, revision: string): InstanceRecord {
    let id: string;
    do id = `${service}-${revision.slice(0, 5)}-${randomBytes(3).toString('hex').slice(0, 5)}`;
    while (this.world.hasId(id));
    return this.world.insertInstance({ id, service, revision, node: '', host: '' });
  }

  bind(id: string, node: string, host: string): void {
    this.world.bindInstance(id, node, host);
    this.world.setWaiting(id, undefined);
  }

  dispatch(id: string): void {
    this.world.setWaiting(id, undefined);
    this.world.markDispatched(id);
  }

  /** Records why an instance is not started yet; returns whether the reason is new (worth an event). */
  wait(id: string, reason: string): boolean {
    if (this.world.waitingFor(id) === reason) return false;
    this.world.setWaiting(id, reason);
    return true;
  }

  markStopped(id: string, observed: InstanceObserved | undefined): void {
    this.world.markStopped(id, observed);
  }

  saveObserved(id: string, observed: InstanceObserved): void {
    this.world.saveObserved(id, observed);
  }

  addAgentEvents(node: string, events: AgentEvent[]): void {
    this.world.addAgentEvents(node, events);
  }

  setPressured(nodes: Iterable<string>): void {
    this.world.pressured.clear();
    for (const n of nodes) this.world.pressured.add(n);
  }

  deleteNode(name: string): void {
    this.world.deleteNode(name);
  }

  /**
   * Takes an instance out of service. A ready, meshed instance is withdrawn first (see withdrawals.ts):
   * it leaves the mesh snapshot at once, and its node stops it once the proxies dropped it.
   */
  terminate(rec: InstanceRecord, withdrawFirst: boolean): void {
    // Never sent to a node (pending: no node fits, or waiting for a dependency): nothing runs, so nobody
    // would ever report it gone — it is stopped here and now (otherwise `down` waits for it forever).
    if (rec.node === '' || !rec.dispatched) {
      this.world.markStopped(rec.id, undefined);
      this.effects.enqueue('lifecycle', 'all');
      return;
    }
    // Until its node was pulled (a control plane just started), whether it serves is unknown: the
    // proxies may still route to it, so it is withdrawn like a ready one (a wait, never a failed request).
    const known = this.world.agent(rec.node)?.synced ?? false;
    const ready = known ? this.world.isReady(rec) : rec.phase === 'active';
    const wasServing = ready && meshServedServices(this.world.desired).has(rec.service.split('.')[0]);
    this.world.markTerminating(rec.id);
    if (!withdrawFirst || !wasServing || !this.withdrawals.meshAttached) return;
    this.withdrawals.begin(rec.id, rec.node);
  }

  /** A node's instances are gone (lost, or its agent restarted empty): recorded stopped, so replacements are created. */
  evictNode(node: string, reason: string): void {
    for (const rec of this.world.liveOn(node)) {
      this.world.markStopped(rec.id, this.world.observedOf(rec) ?? rec.lastObserved);
      if (rec.phase === 'active') this.event({ type: 'Warning', reason: 'Evicted', message: `${rec.id} is gone: ${reason}; a replacement is scheduled`, service: rec.service, instance: rec.id, node });
    }
    this.effects.notify();
    this.enqueueAllDeployments();
  }

  pull(node: string): Promise<{ before: ReadonlyMap<string, InstanceObserved>; events: AgentEvent[] }> {
    return this.effects.pull(node, this.world.nodeCursor(node));
  }

  push(node: string, desired: Omit<AgentDesired, 'generation'>): Promise<void> {
    return this.effects.push(node, desired);
  }

  syncNodes(): Promise<void> {
    return this.effects.syncNodes();
  }

  finishDown(): Promise<void> {
    return this.effects.finishDown();
  }
}
