// An in-memory world for controller tests and the control bench: the real Store on an in-memory
// SQLite database, the real read model and act, and fakes for what the node agents would report
// (observed instances, readiness, usage) and for the effects (queue, pushes, pulls), which are recorded.
import type { AgentDesired, AgentEvent, InstanceObserved } from '../../src/lib/agent-protocol.js';
import type { DesiredService, DesiredState } from '../../src/plan/index.js';
import { Act, type ControllerKind, type Effects } from '../../src/control/controllers/act.js';
import { Store, type InstanceRecord } from '../../src/control/store.js';
import { Withdrawals } from '../../src/control/withdrawals.js';
import { World, type AgentState } from '../../src/control/world.js';

export interface FakeAgents {
  observed: Map<string, Map<string, InstanceObserved>>;
  ready: Set<string>;
  nodeUsage: Map<string, { cpuMillis: number; memoryMiB: number }>;
  instanceUsage: Map<string, { cpuMillis: number; memoryMiB: number }>;
  agents: Map<string, AgentState>;
  /** What the next pull of a node returns (observed instances replace the node's map; events are returned). */
  nextPull: Map<string, { instances: InstanceObserved[]; events: AgentEvent[] }>;
  /** A node whose pull fails (a frozen or dead agent). */
  failingPull: Set<string>;
}

export interface Recorded {
  enqueued: string[];
  pushes: { node: string; desired: Omit<AgentDesired, 'generation'> }[];
  pulls: string[];
  syncs: number;
  downFinished: number;
  notifies: number;
  rechecks: { node: string; afterMs: number }[];
}

export interface TestWorld {
  store: Store;
  world: World;
  act: Act;
  agents: FakeAgents;
  recorded: Recorded;
  withdrawals: Withdrawals;
  /** Events recorded in the store, as `reason: message`. */
  events(): string[];
  close(): void;
}

export function service(name: string, over: Partial<DesiredService> = {}): DesiredService {
  return {
    name,
    revision: over.revision ?? `${name}rev1aaaa`,
    replicas: 1,
    uses: [],
    dependsOn: {},
    rollout: { maxSurge: 1, maxUnavailable: 0 },
    template: {
      main: { name: 'app', argv: ['node', 'app.js'], cwd: '/tmp', env: {} },
      sidecars: [],
      probes: {},
      restart: { policy: 'always', initialSeconds: 1, maxSeconds: 10, resetAfterSeconds: 60 },
      stopGracePeriodSeconds: 5,
    },
    ...over,
  };
}

export function desiredState(services: DesiredService[], nodes: { name: string; capacity?: { cpuMillis?: number; memoryMiB?: number }; labels?: Record<string, string> }[] = [{ name: 'node-1' }]): DesiredState {
  return { app: 'test', specFile: '/tmp/berth.yaml', services, nodes: nodes.map((n) => ({ name: n.name, capacity: n.capacity ?? {}, labels: n.labels ?? {} })) };
}

export function observedFor(rec: InstanceRecord, over: Partial<InstanceObserved> = {}): InstanceObserved {
  const ready = over.ready ?? true;
  return {
    id: rec.id,
    service: rec.service,
    revision: rec.revision,
    status: ready ? 'ready' : 'starting',
    ready,
    restarts: 0,
    pid: 1000,
    host: rec.host,
    main: { name: 'app', state: 'running', restarts: 0 },
    sidecars: [],
    ...over,
  };
}

/** A world with `desired` stored, its nodes recorded (all ready, agents alive and synced unless told). */
export function makeWorld(desired?: DesiredState, opts: { store?: Store } = {}): TestWorld {
  const store = opts.store ?? new Store(':memory:');
  if (desired) {
    for (const n of desired.nodes ?? []) store.upsertNode(n.name, n.capacity, n.labels, 'spec');
    store.setDesired(desired);
  }
  const world = new World(store);
  world.slot = 7;
  const agents: FakeAgents = {
    observed: new Map(),
    ready: new Set(world.nodes().map((n) => n.name)),
    nodeUsage: new Map(),
    instanceUsage: new Map(),
    agents: new Map(world.nodes().map((n) => [n.name, { alive: true, synced: true, startedFresh: false }])),
    nextPull: new Map(),
    failingPull: new Set(),
  };
  world.observeWith({
    observed: (node) => agents.observed.get(node) ?? (agents.agents.has(node) ? new Map() : undefined),
    nodeReady: (node) => agents.ready.has(node),
    instanceUsage: (id) => agents.instanceUsage.get(id),
    nodeUsage: (node) => agents.nodeUsage.get(node),
    agent: (node) => agents.agents.get(node),
  });
  const recorded: Recorded = { enqueued: [], pushes: [], pulls: [], syncs: 0, downFinished: 0, notifies: 0, rechecks: [] };
  const effects: Effects = {
    enqueue: (kind: ControllerKind, key: string) => void recorded.enqueued.push(`${kind}/${key}`),
    notify: () => void recorded.notifies++,
    pull: async (node) => {
      recorded.pulls.push(node);
      if (agents.failingPull.has(node)) throw new Error(`node agent ${node} did not answer (timeout)`);
      const before = agents.observed.get(node) ?? new Map<string, InstanceObserved>();
      const next = agents.nextPull.get(node);
      agents.nextPull.delete(node);
      if (next) agents.observed.set(node, new Map(next.instances.map((i) => [i.id, i])));
      return Promise.resolve({ before, events: next?.events ?? [] });
    },
    push: async (node, desired) => {
      recorded.pushes.push({ node, desired });
      return Promise.resolve();
    },
    syncNodes: async () => {
      recorded.syncs++;
      return Promise.resolve();
    },
    finishDown: async () => {
      recorded.downFinished++;
      return Promise.resolve();
    },
  };
  const withdrawals = new Withdrawals((node, afterMs) => recorded.rechecks.push({ node, afterMs }));
  const act = new Act(world, effects, withdrawals);
  return {
    store,
    world,
    act,
    agents,
    recorded,
    withdrawals,
    events: () => store.events(0, 10_000).map((e) => `${e.reason}: ${e.message}`),
    close: () => store.close(),
  };
}

/** Reports every live instance on its node as running (ready unless told), as a pull would. */
export function observeAll(t: TestWorld, ready = true): void {
  for (const rec of t.world.liveInstances()) {
    if (rec.node === '') continue;
    let m = t.agents.observed.get(rec.node);
    if (!m) t.agents.observed.set(rec.node, (m = new Map()));
    m.set(rec.id, observedFor(rec, { ready }));
  }
}
