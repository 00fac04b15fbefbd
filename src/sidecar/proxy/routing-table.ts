// The routing state compiled from one MeshSnapshot: a cluster per service (and per variant asked
// for by a route), each service's route matcher, and the ingress matcher. Rebuilt once per
// snapshot, read per request; endpoint state (ejections, in-flight counts) lives in the registry.
import type { MeshSnapshot } from '../../lib/mesh-protocol.js';
import { Cluster } from './cluster.js';
import type { EndpointRegistry } from './endpoints.js';
import { compileRoutes, type RouteMatcher } from './routes.js';
import type { ThrottleRegistry } from './throttle.js';

export interface ServiceEntry {
  name: string;
  port: number;
  cluster: Cluster;
  route: RouteMatcher;
  /** Set when the service scales to zero: requests finding no endpoint are held up to timeoutMs. */
  activation?: { timeoutMs: number };
}

/** Ingress matcher: path → service name, first match wins. */
export type IngressMatcher = (path: string) => string | undefined;

function compileIngress(snapshot: MeshSnapshot): IngressMatcher | undefined {
  const ingress = snapshot.config.ingress;
  if (!ingress) return undefined;
  const rules = ingress.routes.map((r) => ({ exact: r.match?.path?.exact, prefix: r.match?.path?.prefix, to: r.to }));
  return (rawPath) => {
    const q = rawPath.indexOf('?');
    const path = q < 0 ? rawPath : rawPath.slice(0, q);
    for (const r of rules) {
      if (r.exact !== undefined) {
        if (path === r.exact) return r.to;
      } else if (r.prefix !== undefined) {
        if (path.startsWith(r.prefix)) return r.to;
      } else return r.to;
    }
    return undefined;
  };
}

export class RoutingTable {
  readonly version: number;
  /** `version` as the x-berth-snapshot header value, made once per snapshot rather than per request. */
  readonly versionHeader: string;
  readonly services = new Map<string, ServiceEntry>();
  readonly byPort = new Map<number, ServiceEntry>();
  readonly ingress: IngressMatcher | undefined;
  readonly ingressPort: number | undefined;
  readonly accessLog: boolean;
  /** Every cluster by name (`service` or `service/variant`): a request's tries pick from the table in force. */
  readonly clusters = new Map<string, Cluster>();
  /** host:port of every endpoint (pools of others are closed). */
  readonly addresses = new Set<string>();
  private readonly ids = new Set<string>();

  constructor(
    readonly snapshot: MeshSnapshot,
    registry: EndpointRegistry,
    throttles: ThrottleRegistry,
  ) {
    this.version = snapshot.version;
    this.versionHeader = String(snapshot.version);
    const perService = snapshot.config.services ?? {};
    const clusters = this.clusters;
    const views = new Map(snapshot.services.map((s) => [s.name, s]));
    const lookup = (service: string, variant: string | undefined): Cluster => {
      const key = variant === undefined ? service : `${service}/${variant}`;
      let c = clusters.get(key);
      if (!c) {
        const all = (views.get(service)?.endpoints ?? []).map((e) => registry.get(e));
        const eps = variant === undefined ? all : all.filter((e) => e.variant === variant);
        const policy = perService[service]?.policy;
        const own = variant === undefined ? policy : policy?.variants?.[variant];
        c = new Cluster(key, eps, policy, throttles.get(`cluster:${key}`, own), all, registry.cursor(key));
        clusters.set(key, c);
        const spill = variant !== undefined ? policy?.variants?.[variant]?.overflowTo : undefined;
        if (spill !== undefined && spill !== variant) c.spill = lookup(service, spill);
        if (variant !== undefined) {
          const whole = lookup(service, undefined);
          if (whole.throttle) c.whole = whole;
        }
      }
      return c;
    };
    for (const s of snapshot.services) {
      for (const e of s.endpoints) {
        this.addresses.add(`${e.host}:${e.port}`);
        this.ids.add(e.id);
      }
      const entry: ServiceEntry = { name: s.name, port: s.port, cluster: lookup(s.name, undefined), route: compileRoutes(s.name, perService[s.name]?.routes, lookup, throttles), ...(s.activation ? { activation: s.activation } : {}) };
      this.services.set(s.name, entry);
      this.byPort.set(s.port, entry);
    }
    registry.retain(this.ids);
    registry.settle();
    this.ingress = compileIngress(snapshot);
    this.ingressPort = snapshot.config.ingress?.port;
    this.accessLog = snapshot.config.accessLog;
  }

  /** True when `instance` is a registered endpoint (of any service). */
  registered(instance: string): boolean {
    return this.ids.has(instance);
  }

  /** True when `instance` is withdrawn but still running while the proxies drop it (it still serves). */
  leaving(instance: string): boolean {
    return this.snapshot.leaving?.includes(instance) ?? false;
  }
}
