// A cluster: the endpoints one destination (a service, or one variant of it) has, with its
// destination policy: the balancer, outlier ejection (Envoy's consecutive_5xx / consecutive
// gateway errors; an ejected endpoint returns after baseEjectionTime × times ejected; at most
// maxEjectionPercent of the endpoints, but at least one, are out at once) and connection-pool limits.
import type http from 'node:http';
import type { MeshPolicy } from '../../lib/mesh-protocol.js';
import { createBalancer, type Balancer } from './balancers.js';
import type { EndpointState } from './endpoints.js';

/** What one try ended with: an HTTP status, or CONNECT_FAILURE / RESET. */
export const CONNECT_FAILURE = -1;
export const RESET = -2;

export class Cluster {
  private readonly balancer: Balancer;
  private readonly outlier: MeshPolicy['outlierDetection'];
  readonly pool: NonNullable<MeshPolicy['connectionPool']>;
  /** Limit on requests in flight per endpoint before new ones get 503 (maxConnections + maxPendingRequests). */
  private readonly overflowAt: number;

  constructor(
    readonly name: string,
    readonly endpoints: EndpointState[],
    policy: MeshPolicy | undefined,
  ) {
    this.balancer = createBalancer(policy?.balancer);
    this.outlier = policy?.outlierDetection;
    this.pool = policy?.connectionPool ?? {};
    this.overflowAt = this.pool.maxConnections !== undefined && this.pool.maxPendingRequests !== undefined ? this.pool.maxConnections + this.pool.maxPendingRequests : Infinity;
  }

  /** Picks a healthy endpoint, avoiding `tried` when another is available. */
  pick(req: http.IncomingMessage, tried: ReadonlySet<string> | undefined): EndpointState | undefined {
    const all = this.endpoints;
    if (all.length === 0) return undefined;
    let candidates: readonly EndpointState[] = all;
    if (this.outlier || tried) {
      const now = performance.now();
      const healthy = all.filter((e) => !e.ejected(now) && !tried?.has(e.id));
      if (healthy.length > 0) candidates = healthy;
      else {
        const notEjected = all.filter((e) => !e.ejected(now));
        candidates = notEjected.length > 0 ? notEjected : all;
      }
    }
    return this.balancer.pick(candidates, req);
  }

  overflowing(ep: EndpointState): boolean {
    return ep.active >= this.overflowAt;
  }

  /** Feeds outlier detection with the result of one try. */
  record(ep: EndpointState, outcome: number): void {
    const o = this.outlier;
    if (!o) return;
    const gateway = outcome === CONNECT_FAILURE || outcome === RESET || outcome === 502 || outcome === 503 || outcome === 504;
    const fiveXx = gateway || outcome >= 500;
    if (!fiveXx) {
      ep.consecutive5xx = 0;
      ep.consecutiveGateway = 0;
      return;
    }
    ep.consecutive5xx++;
    if (gateway) ep.consecutiveGateway++;
    const trip = (o.consecutive5xxErrors > 0 && ep.consecutive5xx >= o.consecutive5xxErrors) || (o.consecutiveGatewayErrors > 0 && ep.consecutiveGateway >= o.consecutiveGatewayErrors);
    if (!trip) return;
    const now = performance.now();
    if (ep.ejected(now)) return;
    const ejectedNow = this.endpoints.filter((e) => e.ejected(now)).length;
    const allowed = Math.max(1, Math.floor((this.endpoints.length * o.maxEjectionPercent) / 100));
    if (ejectedNow >= allowed) return;
    ep.ejections++;
    ep.ejectedUntil = now + o.baseEjectionTime * ep.ejections;
    ep.consecutive5xx = 0;
    ep.consecutiveGateway = 0;
    onEjection?.(this.name, ep);
  }
}

let onEjection: ((cluster: string, ep: EndpointState) => void) | undefined;

/** Observer for ejections (metrics, logs). */
export function setEjectionObserver(fn: (cluster: string, ep: EndpointState) => void): void {
  onEjection = fn;
}
