// A cluster: the endpoints one destination (a service, or one variant of it) has, with its
// destination policy: the balancer, outlier ejection (Envoy's consecutive_5xx / consecutive
// gateway errors; an ejected endpoint returns after baseEjectionTime × its multiplier, which grows
// with each ejection and falls by one per healthy interval, capped at max(300 s, base); at most
// maxEjectionPercent of the service's endpoints, but at least one, are out at once) and connection-pool limits.
import type { RequestHead } from './routes.js';
import type { MeshPolicy } from '../../lib/mesh-protocol.js';
import { createBalancer, type Balancer } from './balancers.js';
import type { EndpointState } from './endpoints.js';
import type { Throttle } from './throttle.js';
// Imported, not the global: globalThis.performance is an accessor, read through a slow global load on every call.
import { performance } from 'node:perf_hooks';

/** What one try ended with: an HTTP status, or CONNECT_FAILURE / RESET. */
export const CONNECT_FAILURE = -1;
export const RESET = -2;
/** Envoy's default max_ejection_time, in ms. */
const MAX_EJECTION_TIME = 300_000;

export class Cluster {
  private readonly balancer: Balancer;
  private readonly outlier: MeshPolicy['outlierDetection'];
  readonly pool: NonNullable<MeshPolicy['connectionPool']>;
  /** Limit on requests in flight per endpoint before new ones get 503 (maxConnections + maxPendingRequests). */
  private readonly overflowAt: number;

  private readonly slowStart: MeshPolicy['slowStart'];
  /** Where a request over this destination's own limits goes instead of being refused (a canary's overflow to stable). */
  spill: Cluster | undefined;
  /**
   * The service's own cluster, when this is one of its variants and the service has limits of its
   * own: a route split into variants (every canary release) must not escape them.
   */
  whole: Cluster | undefined;

  constructor(
    readonly name: string,
    readonly endpoints: EndpointState[],
    policy: MeshPolicy | undefined,
    /** Rate/concurrency limits of this destination (the service's, or its variant's). */
    readonly throttle?: Throttle,
    /**
     * All endpoints of the service (a variant cluster holds only some). An ejection takes the endpoint
     * out of every cluster it is in, so maxEjectionPercent is counted over these, not per variant.
     */
    private readonly serviceEndpoints: readonly EndpointState[] = endpoints,
    /** The round-robin position of the cluster of this name, kept across snapshots (EndpointRegistry.cursor). */
    cursor?: { next: number },
  ) {
    this.slowStart = policy?.slowStart;
    this.balancer = createBalancer(policy?.balancer, cursor);
    this.outlier = policy?.outlierDetection;
    this.pool = policy?.connectionPool ?? {};
    this.overflowAt = this.pool.maxConnections !== undefined && this.pool.maxPendingRequests !== undefined ? this.pool.maxConnections + this.pool.maxPendingRequests : Infinity;
  }

  /** Picks a healthy endpoint, avoiding `tried` when another is available. */
  pick(req: RequestHead, tried: ReadonlySet<string> | undefined): EndpointState | undefined {
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
    // The balancer picks with the warm-up weights itself (a separate weighted pick ignored in-flight
    // counts and moved every consistent-hash key); one without pickWeighted does not ramp.
    if (this.slowStart && this.balancer.pickWeighted) {
      const weights = this.slowStartWeights(candidates);
      if (weights) return this.balancer.pickWeighted(candidates, weights);
    }
    return this.balancer.pick(candidates, req);
  }

  /** Envoy slow start: while an endpoint is younger than the window, the weights (min% ramping linearly to 100%). */
  private slowStartWeights(candidates: readonly EndpointState[]): number[] | undefined {
    const { window, minWeightPercent } = this.slowStart!;
    const now = performance.now();
    if (!candidates.some((e) => now - e.firstSeen < window)) return undefined;
    return candidates.map((e) => Math.max(minWeightPercent / 100, Math.min(1, (now - e.firstSeen) / window)));
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
    // Envoy: any other 5xx (a 500) breaks a run of gateway errors, as a success does.
    ep.consecutiveGateway = gateway ? ep.consecutiveGateway + 1 : 0;
    const trip = (o.consecutive5xxErrors > 0 && ep.consecutive5xx >= o.consecutive5xxErrors) || (o.consecutiveGatewayErrors > 0 && ep.consecutiveGateway >= o.consecutiveGatewayErrors);
    if (!trip) return;
    const now = performance.now();
    if (ep.ejected(now)) return;
    const all = this.serviceEndpoints;
    const ejectedNow = all.filter((e) => e.ejected(now)).length;
    const allowed = Math.max(1, Math.floor((all.length * o.maxEjectionPercent) / 100));
    if (ejectedNow >= allowed) return;
    // Envoy: the multiplier comes down by one for each `interval` the endpoint stayed in since its last
    // ejection ended, and stops growing once the ejection time reaches max_ejection_time (its default:
    // 300 s, or baseEjectionTime when longer; Istio has no field for it) — else it grew for ever.
    const cap = Math.max(o.baseEjectionTime, MAX_EJECTION_TIME);
    if (ep.ejections > 0 && o.interval > 0) ep.ejections = Math.max(0, ep.ejections - Math.floor((now - ep.ejectedUntil) / o.interval));
    if (o.baseEjectionTime * ep.ejections < cap) ep.ejections++;
    ep.ejectedUntil = now + Math.min(o.baseEjectionTime * ep.ejections, cap);
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
