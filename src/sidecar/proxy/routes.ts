// A service's routes compiled once per snapshot into a matcher: the first route whose conditions
// all hold wins (Istio HTTPRoute). Each condition is a small closure built here, so a request runs
// only the checks its routes need (the query string is parsed only when a route looks at it).
import type http from 'node:http';
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';
import type { MeshHeaderOps, MeshRoute, MeshStringMatch } from '../../lib/mesh-protocol.js';
import type { Cluster } from './cluster.js';
import type { Throttle, ThrottleRegistry } from './throttle.js';
import { weightedDeck } from './weighted-deck.js';

export interface CompiledRoute {
  name: string;
  /** Picks the destination cluster (weighted). */
  destination(): Cluster;
  timeout?: number;
  retries: RouteRetries | undefined;
  fault?: MeshRoute['fault'];
  /** `service` and `variant` name the copy's destination in its span (variant '-': any). */
  mirror?: { cluster: Cluster; percent: number; key?: string; service: string; variant: string };
  requestHeaders?: MeshHeaderOps;
  responseHeaders?: MeshHeaderOps;
  throttle?: Throttle;
}

/** A route's retry policy, its retryOn conditions as flags. */
export interface RouteRetries {
  attempts: number;
  perTryTimeout?: number;
  fiveXx: boolean;
  gateway: boolean;
  connect: boolean;
  reset: boolean;
  nonIdempotent: boolean;
  /** The gRPC statuses (as their numbers' text) retried when a call's answer carries one in its headers (trailers-only). */
  grpc: ReadonlySet<string>;
}

/**
 * The route retries a try that failed before its answer (its connection reset, a malformed answer,
 * its per-try timeout): under `reset`, and under `5xx` and `gateway-error` as well, as Envoy, which
 * counts an upstream reset as a 5xx (router retry_on); `connect-failure` alone does not.
 */
export function retriesFailedTry(r: RouteRetries): boolean {
  return r.reset || r.fiveXx || r.gateway;
}

/** retryOn's gRPC status names and their codes. */
const GRPC_RETRY_ON: Readonly<Record<string, string>> = { cancelled: '1', 'deadline-exceeded': '4', 'resource-exhausted': '8', internal: '13', unavailable: '14' };

/** What routing and balancing look at: an HTTP/1.1 request, or an HTTP/2 stream's head (h2c, gRPC). */
export type RequestHead = Pick<http.IncomingMessage, 'url' | 'method' | 'headers'>;

/** Per-request view the predicates share: path without query, parsed query on demand. */
interface RequestView {
  req: RequestHead;
  path: string;
  query: URLSearchParams | undefined;
  rawQuery: string;
}

type Predicate = (v: RequestView) => boolean;

function stringPredicate(m: MeshStringMatch): (value: string | undefined) => boolean {
  if (m.present !== undefined) return (v) => (v !== undefined) === m.present;
  if (m.exact !== undefined) return (v) => v === m.exact;
  if (m.prefix !== undefined) return (v) => v !== undefined && v.startsWith(m.prefix!);
  const full = fullMatch(m.regex!);
  return (v) => v !== undefined && full(v);
}

/**
 * A whole-string matcher on RE2 (linear time in the input, as Envoy and Istio): a spec regex can
 * never stall the proxy (a backtracking engine takes seconds on `/(a+)+$` against a long path).
 * The contract refuses what RE2 cannot compile; should such a pattern still arrive (a snapshot
 * from an older control plane), it matches nothing rather than failing the whole routing table.
 */
function fullMatch(pattern: string): (value: string) => boolean {
  let re: RE2JS;
  try {
    re = regexEngine().compile(pattern);
  } catch {
    // Safe to ignore: validation refuses such a pattern; a route that cannot match is the fail-safe.
    return () => false;
  }
  return (value) => re.matches(value);
}

let engine: typeof RE2JS | undefined;

/**
 * RE2JS, loaded the first time a route has a regex: most sidecars have none, and the engine's
 * source and tables cost each of them ~1 MB of heap (bench/proxy's RSS is at its 60 MB goal). The
 * CommonJS build is the same package, loaded synchronously, as a snapshot is compiled in one go.
 */
function regexEngine(): typeof RE2JS {
  return (engine ??= (createRequire(import.meta.url)('re2js') as typeof import('re2js')).RE2JS);
}

function compileMatch(match: MeshRoute['match']): Predicate[] {
  const preds: Predicate[] = [];
  if (!match) return preds;
  const p = match.path;
  if (p?.exact !== undefined) preds.push((v) => v.path === p.exact);
  else if (p?.prefix !== undefined) preds.push((v) => v.path.startsWith(p.prefix!));
  else if (p?.regex !== undefined) {
    const full = fullMatch(p.regex);
    preds.push((v) => full(v.path));
  }
  if (match.method !== undefined) {
    const methods = new Set((Array.isArray(match.method) ? match.method : [match.method]).map((m) => m.toUpperCase()));
    preds.push((v) => methods.has(v.req.method ?? 'GET'));
  }
  for (const [name, m] of Object.entries(match.headers ?? {})) {
    const key = name.toLowerCase();
    const test = stringPredicate(m);
    preds.push((v) => {
      const h = v.req.headers[key];
      return test(Array.isArray(h) ? h.join(',') : h);
    });
  }
  for (const [name, m] of Object.entries(match.query ?? {})) {
    const test = stringPredicate(m);
    preds.push((v) => {
      v.query ??= new URLSearchParams(v.rawQuery);
      return test(v.query.get(name) ?? undefined);
    });
  }
  return preds;
}

export type ClusterLookup = (service: string, variant: string | undefined) => Cluster;

function compileDestination(route: MeshRoute, self: string, lookup: ClusterLookup): () => Cluster {
  const to = route.to ?? self;
  if (typeof to === 'string') {
    const c = lookup(to, undefined);
    return () => c;
  }
  const weighted = to.filter((d) => d.weight > 0).map((d) => ({ cluster: lookup(d.service, d.variant), weight: d.weight }));
  if (weighted.length === 0) {
    const c = lookup(to[0].service, to[0].variant);
    return () => c;
  }
  if (weighted.length === 1) return () => weighted[0].cluster;
  const deal = weightedDeck(weighted.map((d) => d.weight));
  return () => weighted[deal()].cluster;
}

export type RouteMatcher = (req: RequestHead) => CompiledRoute | undefined;

/** Compiles the routes of service `self`; with no routes, every request goes to the service itself. */
export function compileRoutes(self: string, routes: MeshRoute[] | undefined, lookup: ClusterLookup, throttles: ThrottleRegistry): RouteMatcher {
  if (!routes || routes.length === 0) {
    const only: CompiledRoute = { name: 'default', destination: compileDestination({}, self, lookup), retries: undefined };
    return () => only;
  }
  const compiled = routes.map((r, i) => {
    const retryOn = new Set(r.retries?.retryOn ?? []);
    const route: CompiledRoute = {
      name: r.name ?? `route-${i}`,
      destination: compileDestination(r, self, lookup),
      timeout: r.timeout,
      retries: r.retries
        ? {
            attempts: r.retries.attempts,
            perTryTimeout: r.retries.perTryTimeout,
            fiveXx: retryOn.has('5xx'),
            gateway: retryOn.has('gateway-error'),
            connect: retryOn.has('connect-failure'),
            reset: retryOn.has('reset'),
            nonIdempotent: r.retries.nonIdempotent,
            grpc: new Set([...retryOn].flatMap((on) => (GRPC_RETRY_ON[on] ? [GRPC_RETRY_ON[on]] : []))),
          }
        : undefined,
      fault: r.fault,
      mirror: r.mirror
        ? { cluster: lookup(r.mirror.service, r.mirror.variant), percent: r.mirror.percent, key: r.mirror.key, service: r.mirror.service, variant: r.mirror.variant ?? '-' }
        : undefined,
      requestHeaders: r.headers?.request,
      responseHeaders: r.headers?.response,
      throttle: throttles.get(`route:${self}:${r.name ?? i}`, r),
    };
    return { preds: compileMatch(r.match), route };
  });
  return (req) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const view: RequestView = { req, path: q < 0 ? url : url.slice(0, q), rawQuery: q < 0 ? '' : url.slice(q + 1), query: undefined };
    outer: for (const c of compiled) {
      for (const p of c.preds) if (!p(view)) continue outer;
      return c.route;
    }
    return undefined;
  };
}

/** Whether a request matches any of `matches` (a route match each; none given: every request). Used by recording. */
export function compileMatches(matches: MeshRoute['match'][] | undefined): (req: RequestHead) => boolean {
  if (!matches || matches.length === 0) return () => true;
  const all = matches.map(compileMatch);
  return (req) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const view: RequestView = { req, path: q < 0 ? url : url.slice(0, q), rawQuery: q < 0 ? '' : url.slice(q + 1), query: undefined };
    return all.some((preds) => preds.every((p) => p(view)));
  };
}
