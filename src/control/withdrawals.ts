// The withdraw protocol's bookkeeping. A ready, meshed instance that is taken out of service leaves
// the mesh snapshot at once, but its node stops it only once every proxy acknowledged a snapshot
// without it, or after MESH_WITHDRAW_MAX_MS (the proxies' longest reconnect back-off plus a margin,
// counted from when proxies can reach this control plane). The phase (`terminating`) is in the
// store, so a control plane started meanwhile withdraws such instances again (restore()).
import { MESH_WITHDRAW_MAX_MS } from '../lib/mesh-timing.js';

export class Withdrawals {
  /** Terminating instances still running until the proxies dropped them; `since`: monotonic ms of the withdrawal. */
  private readonly pending = new Map<string, { node: string; since: number }>();
  /** Monotonic ms at which proxies could first reach this control plane (undefined: not yet). */
  private reachableSince: number | undefined;
  private meshSynced: (() => boolean) | undefined;

  /** `recheck(node, ms)`: look at the node again in `ms` (when a withdrawal runs out of time). */
  constructor(private readonly recheck: (node: string, afterMs: number) => void) {}

  /** Whether a mesh feed is attached (without one there is no proxy to wait for). */
  get meshAttached(): boolean {
    return this.meshSynced !== undefined;
  }

  attachMesh(synced: () => boolean): void {
    this.meshSynced = synced;
  }

  begin(id: string, node: string): void {
    this.pending.set(id, { node, since: performance.now() });
    this.schedule(id);
  }

  /** Proxies can reach this control plane from now on: deadlines start counting. */
  markReachable(): void {
    this.reachableSince = performance.now();
    for (const id of this.pending.keys()) this.schedule(id);
  }

  /** True while a terminating instance waits for the proxies to drop it. */
  still(id: string): boolean {
    const w = this.pending.get(id);
    if (!w) return false;
    if (performance.now() < this.deadline(w) && !(this.meshSynced?.() ?? false)) return true;
    this.pending.delete(id);
    return false;
  }

  /** Nodes with instances waiting to be withdrawn (a proxy's ack may let them stop now). */
  nodes(): Set<string> {
    return new Set([...this.pending.values()].map((w) => w.node));
  }

  private deadline(w: { since: number }): number {
    if (this.reachableSince === undefined) return Infinity;
    return Math.max(w.since, this.reachableSince) + MESH_WITHDRAW_MAX_MS;
  }

  private schedule(id: string): void {
    const w = this.pending.get(id);
    if (!w) return;
    const deadline = this.deadline(w);
    if (deadline === Infinity) return;
    this.recheck(w.node, Math.max(0, deadline - performance.now()) + 5);
  }
}
