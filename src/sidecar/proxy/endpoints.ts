// Long-lived state of each endpoint (outlier ejection, in-flight count for least_request, first seen
// for slow start), kept across snapshots by instance id so a new snapshot does not reset it.
import type { MeshEndpoint } from '../../lib/mesh-protocol.js';

export class EndpointState {
  active = 0;
  consecutive5xx = 0;
  consecutiveGateway = 0;
  ejectedUntil = 0;
  /** Envoy's ejection multiplier: +1 per ejection, −1 per `interval` spent healthy since (cluster.ts). */
  ejections = 0;
  /** When this proxy first saw the endpoint; -Infinity for those in its first snapshot (not new: no slow start). */
  firstSeen = performance.now();
  host: string;
  port: number;
  /** `host:port`, kept with them (the upstream pools are looked up by it on every request). */
  address: string;
  variant: string;

  constructor(readonly id: string, ep: MeshEndpoint) {
    this.host = ep.host;
    this.port = ep.port;
    this.address = `${ep.host}:${ep.port}`;
    this.variant = ep.variant;
  }

  /** Takes the endpoint's current address and variant from a new snapshot. */
  update(ep: MeshEndpoint): void {
    if (ep.host !== this.host || ep.port !== this.port) this.address = `${ep.host}:${ep.port}`;
    this.host = ep.host;
    this.port = ep.port;
    this.variant = ep.variant;
  }

  ejected(now: number): boolean {
    return this.ejectedUntil > now;
  }
}

export class EndpointRegistry {
  private readonly byId = new Map<string, EndpointState>();
  /** Round-robin positions by cluster name: a new snapshot does not send the next request to the first endpoint again. */
  private readonly cursors = new Map<string, { next: number }>();
  private primed = false;

  /** The round-robin position of cluster `name` (created at the first endpoint). */
  cursor(name: string): { next: number } {
    let c = this.cursors.get(name);
    if (!c) this.cursors.set(name, (c = { next: 0 }));
    return c;
  }

  /** Called after each snapshot: endpoints of the very first one count as old. */
  settle(): void {
    if (this.primed) return;
    this.primed = true;
    for (const s of this.byId.values()) s.firstSeen = -Infinity;
  }

  /** The state object for an endpoint of the current snapshot (created on first sight). */
  get(ep: MeshEndpoint): EndpointState {
    let s = this.byId.get(ep.id);
    if (!s) {
      s = new EndpointState(ep.id, ep);
      this.byId.set(ep.id, s);
    } else s.update(ep);
    return s;
  }

  /** Forgets endpoints that left the mesh. */
  retain(ids: Set<string>): void {
    for (const id of this.byId.keys()) if (!ids.has(id)) this.byId.delete(id);
  }
}
