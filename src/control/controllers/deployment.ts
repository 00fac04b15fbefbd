// deployment/<service>: rolling replacement and scaling of one deployment, scheduling of its
// unbound instances, and dependsOn gating of their first start. Level-triggered: it reads the
// world, acts on the difference, and asks to run again while something waits.
import type { DesiredService } from '../../plan/index.js';
import { decideRollout } from '../rollout.js';
import { scheduleInstance, type SchedulingNode } from '../scheduler.js';
import type { InstanceRecord } from '../store.js';
import type { World } from '../world.js';
import type { Act, ReconcileOutcome } from './act.js';
import { effectiveReplicas } from './replicas.js';
import { releasePlan, type ReleasePlan } from '../release/state.js';

export async function reconcileDeployment(service: string, world: World, act: Act): Promise<ReconcileOutcome> {
  const down = world.down;
  const spec: DesiredService | undefined = down ? undefined : world.spec(service);
  const live = world.liveOf(service).filter((r) => r.phase === 'active');
  let touched = false;
  let unscheduled = false;

  if (!spec) {
    for (const rec of live) {
      act.terminate(rec, !down);
      act.event({ type: 'Normal', reason: 'Killing', message: `stopping ${rec.id}${down ? '' : ' (service removed)'}`, service, instance: rec.id, node: rec.node });
      touched = true;
    }
  } else {
    touched = rollOut(service, spec, live, world, act);
    const result = schedule(service, spec, world, act);
    touched ||= result.bound;
    unscheduled = result.unscheduled;
  }

  // dependsOn gates the first start of each instance (like compose's depends_on conditions).
  let waiting = false;
  if (spec) {
    const pending = world.liveOf(service).filter((r) => r.phase === 'active' && !r.dispatched && r.node !== '');
    const blocker = pending.length > 0 ? unmetDependency(spec, world) : undefined;
    for (const rec of pending) {
      if (blocker) {
        if (act.wait(rec.id, blocker)) act.event({ type: 'Normal', reason: 'Waiting', message: `${rec.id} ${blocker}`, service, instance: rec.id });
        waiting = true;
        continue;
      }
      act.dispatch(rec.id);
      touched = true;
    }
  }
  if (touched) {
    act.enqueueAllNodes();
    act.notify();
  }
  if (waiting || unscheduled) return { requeueAfterMs: unscheduled ? 1000 : 250 };
  return {};
}

/** Creates and terminates instances toward the replicas in force (surge/unavailability budget). */
function rollOut(service: string, spec: DesiredService, live: InstanceRecord[], world: World, act: Act): boolean {
  const plan = releasePlan(world, spec);
  if (plan) return releaseRollOut(service, spec, plan, live, world, act);
  let touched = false;
  const replicas = effectiveReplicas(world, spec);
  // Instances on a draining node are replaced like an old revision: the new one ready first.
  const draining = new Set(world.nodes().filter((n) => n.draining).map((n) => n.name));
  const replaced = (r: InstanceRecord) => r.revision !== spec.revision || draining.has(r.node) || world.migrating(r.id);
  const toRollout = (r: InstanceRecord) => ({ id: r.id, ready: world.isReady(r), createdAt: r.createdAt });
  const decision = decideRollout({
    replicas,
    maxSurge: spec.rollout.maxSurge,
    maxUnavailable: spec.rollout.maxUnavailable,
    current: live.filter((r) => !replaced(r)).map(toRollout),
    old: live.filter(replaced).map(toRollout),
  });
  const byId = new Map(live.map((r) => [r.id, r]));
  for (const id of decision.terminate) {
    const rec = byId.get(id)!;
    act.terminate(rec, true);
    const why =
      rec.revision !== spec.revision
        ? `replaced by revision ${spec.revision}`
        : draining.has(rec.node)
          ? `node ${rec.node} is draining`
          : world.migrating(rec.id)
            ? `moved off ${rec.node} (node pressure)`
            : `scaled down to ${replicas}`;
    act.event({ type: 'Normal', reason: 'Killing', message: `stopping ${id}: ${why}`, service, instance: id, node: rec.node });
    touched = true;
  }
  for (let i = 0; i < decision.create; i++) {
    act.createInstance(service, spec.revision);
    touched = true;
  }
  return touched;
}

/**
 * A release in progress (release/state.ts): stable's revision at its replicas (rolled with the
 * rollout budget if something else ran), the canary's revision at the count the release asks for.
 */
function releaseRollOut(service: string, spec: DesiredService, plan: ReleasePlan, live: InstanceRecord[], world: World, act: Act): boolean {
  let touched = false;
  const stop = (rec: InstanceRecord, why: string) => {
    act.terminate(rec, true);
    act.event({ type: 'Normal', reason: 'Killing', message: `stopping ${rec.id}: ${why}`, service, instance: rec.id, node: rec.node });
    touched = true;
  };
  const toRollout = (r: InstanceRecord) => ({ id: r.id, ready: world.isReady(r), createdAt: r.createdAt });
  const canary = live.filter((r) => r.revision === plan.canary);
  const others = live.filter((r) => r.revision !== plan.canary);
  const decision = decideRollout({
    replicas: plan.stableReplicas,
    maxSurge: spec.rollout.maxSurge,
    maxUnavailable: spec.rollout.maxUnavailable,
    current: others.filter((r) => r.revision === plan.stable).map(toRollout),
    old: others.filter((r) => r.revision !== plan.stable).map(toRollout),
  });
  const byId = new Map(live.map((r) => [r.id, r]));
  for (const id of decision.terminate) stop(byId.get(id)!, byId.get(id)!.revision === plan.stable ? `scaled down to ${plan.stableReplicas}` : `neither stable (${plan.stable}) nor canary (${plan.canary})`);
  for (let i = 0; i < decision.create; i++) {
    act.createInstance(service, plan.stable);
    touched = true;
  }
  // Canary: surplus goes newest-first, unready before ready.
  const extra = canary.length - plan.canaryReplicas;
  if (extra > 0) {
    const order = [...canary].sort((a, b) => Number(world.isReady(a)) - Number(world.isReady(b)) || (a.createdAt < b.createdAt ? 1 : -1));
    for (const rec of order.slice(0, extra)) stop(rec, `canary scaled to ${plan.canaryReplicas}`);
  }
  for (let i = canary.length; i < plan.canaryReplicas; i++) {
    act.createInstance(service, plan.canary);
    touched = true;
  }
  return touched;
}

/** Binds every unbound instance of the deployment to a node, or records why it fits nowhere. */
function schedule(service: string, spec: DesiredService, world: World, act: Act): { bound: boolean; unscheduled: boolean } {
  const unbound = world.liveOf(service).filter((r) => r.phase === 'active' && r.node === '');
  if (unbound.length === 0) return { bound: false, unscheduled: false };
  // One pass over the live instances builds every node's load; each binding then updates it in place.
  const nodes = schedulingNodes(service, world);
  const byName = new Map(nodes.map((n) => [n.name, n]));
  let bound = false;
  let unscheduled = false;
  for (const rec of unbound) {
    const template = world.template(rec.service, rec.revision);
    const decision = scheduleInstance(
      { cpuMillis: template?.cpuMillis, memoryMiB: template?.memoryMiB, nodeSelector: spec.placement?.nodeSelector, antiAffinity: spec.placement?.antiAffinity },
      nodes,
    );
    if ('reason' in decision) {
      if (act.wait(rec.id, decision.reason)) act.event({ type: 'Warning', reason: 'FailedScheduling', message: `${rec.id}: ${decision.reason}`, service, instance: rec.id });
      unscheduled = true;
      continue;
    }
    const host = allocateHost(decision.node, world);
    act.bind(rec.id, decision.node, host);
    const n = byName.get(decision.node)!;
    n.requested = { cpuMillis: n.requested.cpuMillis + (template?.cpuMillis ?? 0), memoryMiB: n.requested.memoryMiB + (template?.memoryMiB ?? 0) };
    n.instances++;
    n.serviceInstances++;
    act.event({ type: 'Normal', reason: 'Scheduled', message: `${rec.id} (revision ${spec.revision}) scheduled on ${decision.node}`, service, instance: rec.id, node: decision.node });
    bound = true;
  }
  return { bound, unscheduled };
}

/** Scheduler inputs: every node with what its live instances request (one pass over the instances). */
export function schedulingNodes(service: string, world: World): SchedulingNode[] {
  return world.nodes().map((n) => {
    let cpuMillis = 0;
    let memoryMiB = 0;
    let serviceInstances = 0;
    const on = world.liveOn(n.name);
    for (const r of on) {
      const t = world.template(r.service, r.revision);
      cpuMillis += t?.cpuMillis ?? 0;
      memoryMiB += t?.memoryMiB ?? 0;
      if (r.service === service) serviceInstances++;
    }
    return {
      name: n.name,
      ready: world.nodeReady(n.name),
      cordoned: n.cordoned,
      pressured: world.pressured.has(n.name),
      labels: n.labels,
      capacity: n.capacity,
      requested: { cpuMillis, memoryMiB },
      serviceInstances,
      instances: on.length,
    };
  });
}

/** The lowest free instance address on a node: 127.<node idx>.<app slot>.<2..254>. */
export function allocateHost(node: string, world: World): string {
  const idx = world.node(node)?.idx;
  if (idx === undefined) throw new Error(`unknown node ${node}`);
  const used = new Set(world.liveOn(node).map((r) => r.host));
  for (let i = 2; i < 255; i++) {
    const host = `127.${idx}.${world.slot}.${i}`;
    if (!used.has(host)) return host;
  }
  throw new Error(`node ${node} has no free instance address left`);
}

/** Why the deployment's first starts must wait for a dependency, or undefined. */
function unmetDependency(spec: DesiredService, world: World): string | undefined {
  for (const [dep, condition] of Object.entries(spec.dependsOn)) {
    const depSpec = world.spec(dep);
    const depReplicas = depSpec ? effectiveReplicas(world, depSpec) : 0;
    if (depReplicas === 0) continue;
    const depRecs = world.liveOf(dep).filter((r) => r.phase === 'active');
    const ok = condition === 'ready' ? depRecs.some((r) => world.isReady(r)) : depRecs.some((r) => world.observedOf(r)?.main.state === 'running');
    if (!ok) return `waiting for ${dep} to be ${condition}`;
  }
  return undefined;
}
