// pressure/all: a node over its capacity threshold for a window moves one instance away (lowest
// priority first, then the newest): the instance is marked migrating and its deployment starts a
// replacement elsewhere before it stops. The window's start is kept in the store (wall-clock ms),
// so a restarted control plane does not begin the window again.
import { PressureTracker } from '../pressure.js';
import type { World } from '../world.js';
import type { Act, ReconcileOutcome } from './act.js';

const SINCE_META = (node: string): string => `pressure-since:${node}`;

export class PressureController {
  private readonly tracker: PressureTracker;

  constructor(
    threshold: number,
    windowMs: number,
    private readonly intervalMs = 1000,
    private readonly now: () => number = Date.now,
  ) {
    this.tracker = new PressureTracker(threshold, windowMs);
  }

  async reconcile(_key: string, world: World, act: Act): Promise<ReconcileOutcome> {
    const again = { requeueAfterMs: this.intervalMs };
    if (world.down) return again;
    const ready = world.nodes().filter((n) => world.nodeReady(n.name));
    // The tracker starts from the windows the store remembers (a restart keeps them).
    for (const n of ready) {
      const since = world.getMeta(SINCE_META(n.name));
      if (since) this.tracker.resume(n.name, Number(since));
    }
    const now = this.now();
    const due = this.tracker.update(
      now,
      ready.map((n) => ({ name: n.name, capacity: n.capacity, usage: world.nodeUsage(n.name) ?? null })),
    );
    for (const n of ready) {
      const since = this.tracker.windowStart(n.name);
      if (since !== undefined) act.setMeta(SINCE_META(n.name), String(since));
      else if (world.getMeta(SINCE_META(n.name))) act.setMeta(SINCE_META(n.name), '');
    }
    act.setPressured(this.tracker.pressured);
    const priorityOf = (service: string) => world.spec(service)?.priority ?? 0;
    for (const { node, why } of due) {
      const candidates = world
        .liveOn(node)
        .filter((r) => r.phase === 'active' && r.dispatched && !world.migrating(r.id) && world.spec(r.service) !== undefined)
        .sort((a, b) => priorityOf(a.service) - priorityOf(b.service) || (a.createdAt < b.createdAt ? 1 : -1));
      act.event({ type: 'Warning', reason: 'NodePressure', message: `node ${node}: ${why}`, node });
      const victim = candidates[0];
      if (!victim) continue;
      act.setMeta(`migrating:${victim.id}`, '1');
      act.event({ type: 'Normal', reason: 'Migrating', message: `${victim.id} moves off ${node} (node pressure; priority ${priorityOf(victim.service)}): a replacement starts elsewhere first`, service: victim.service, instance: victim.id, node });
      act.enqueue('deployment', victim.service);
    }
    return again;
  }
}
