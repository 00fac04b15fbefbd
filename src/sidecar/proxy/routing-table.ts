// The routing state compiled from one MeshSnapshot: per service its registered endpoints and a
// round-robin cursor, plus the ingress route matcher. Rebuilt once per snapshot, read per request.
import type { MeshSnapshot } from '../../lib/mesh-protocol.js';
import type { Upstream } from './forward.js';

export interface ServiceRoute {
  name: string;
  port: number;
  endpoints: Upstream[];
  /** Picks the next endpoint round-robin, skipping `tried` when another endpoint exists. */
  pick(tried: ReadonlySet<string> | undefined): Upstream | undefined;
}

function serviceRoute(name: string, port: number, endpoints: Upstream[]): ServiceRoute {
  let next = 0;
  return {
    name,
    port,
    endpoints,
    pick(tried) {
      const n = endpoints.length;
      if (n === 0) return undefined;
      for (let i = 0; i < n; i++) {
        const ep = endpoints[next];
        next = next + 1 === n ? 0 : next + 1;
        if (!tried || !tried.has(ep.id)) return ep;
      }
      const ep = endpoints[next];
      next = next + 1 === n ? 0 : next + 1;
      return ep;
    },
  };
}

/** Ingress matcher: path → service name, first match wins; compiled to a closure per snapshot. */
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
  readonly services = new Map<string, ServiceRoute>();
  readonly byPort = new Map<number, ServiceRoute>();
  readonly ingress: IngressMatcher | undefined;
  readonly ingressPort: number | undefined;
  readonly accessLog: boolean;
  /** host:port of every endpoint (pools of others are closed). */
  readonly addresses = new Set<string>();

  constructor(readonly snapshot: MeshSnapshot) {
    this.version = snapshot.version;
    for (const s of snapshot.services) {
      const eps = s.endpoints.map((e) => ({ id: e.id, host: e.host, port: e.port }));
      for (const e of eps) this.addresses.add(`${e.host}:${e.port}`);
      const route = serviceRoute(s.name, s.port, eps);
      this.services.set(s.name, route);
      this.byPort.set(s.port, route);
    }
    this.ingress = compileIngress(snapshot);
    this.ingressPort = snapshot.config.ingress?.port;
    this.accessLog = snapshot.config.accessLog;
  }

  /** True when `instance` is a registered endpoint of `service`. */
  registered(service: string, instance: string): boolean {
    return this.services.get(service)?.endpoints.some((e) => e.id === instance) ?? false;
  }
}
