// Traffic: a service's `routes` and `policy` as Istio VirtualService + DestinationRule (the same
// first-match routes, weights, timeouts, retries, faults, mirroring, header rewrites, balancer,
// outlier ejection and connection pool), or with --mesh gateway-api as a mesh HTTPRoute attached
// to the Service (GAMMA). What the chosen mesh cannot express is a warning naming the field.
import { appLabels, selectorLabels, VARIANT_LABEL } from './labels.js';
import type { Json, JsonObject, K8sObject, ServiceContext, ServiceRenderer } from './types.js';
import { appProtocolOf } from './services.js';

interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
  present?: boolean;
}
interface Match {
  path?: { exact?: string; prefix?: string; regex?: string };
  method?: string | string[];
  headers?: Record<string, StringMatch>;
  query?: Record<string, StringMatch>;
}
interface Dest {
  service: string;
  variant?: string;
  weight: number;
}
interface HeaderOps {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}
interface Route {
  name?: string;
  match?: Match;
  to?: string | Dest[];
  timeout?: number;
  retries?: { attempts: number; perTryTimeout?: number; retryOn: string[]; nonIdempotent: boolean };
  fault?: { delay?: { percent: number; fixedDelay: number }; abort?: { percent: number; status: number } };
  mirror?: { service: string; variant?: string; percent: number };
  headers?: { request?: HeaderOps; response?: HeaderOps };
}
interface Policy {
  balancer: string | { consistentHash: { header?: string; cookie?: string } };
  slowStart?: { window: number; minWeightPercent: number };
  outlierDetection?: { consecutive5xxErrors: number; consecutiveGatewayErrors: number; interval: number; baseEjectionTime: number; maxEjectionPercent: number };
  connectionPool?: { maxConnections?: number; maxPendingRequests?: number; maxRequestsPerConnection?: number };
}

const NON_IDEMPOTENT = ['POST', 'PATCH'];

/** Route and policy fields this module renders; any other field that is set gets a warning. */
const ROUTE_FIELDS = new Set(['name', 'match', 'to', 'timeout', 'retries', 'fault', 'mirror', 'headers']);
const POLICY_FIELDS = new Set(['balancer', 'outlierDetection', 'connectionPool', 'slowStart']);
const NOT_YET: Record<string, string> = {
  rateLimit: 'not rendered yet for Kubernetes: Istio has local rate limits only through an EnvoyFilter on the workload',
  concurrencyLimit: 'not rendered yet for Kubernetes: Istio has no per-proxy limit of requests in flight (connectionPool limits are per destination, from each caller)',
  variants: 'per-variant limits are not rendered yet for Kubernetes',
};

function unhandled(ctx: ServiceContext, path: string, value: object, handled: Set<string>): void {
  for (const [key, v] of Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (handled.has(key) || v === undefined) continue;
    ctx.warn(`${path}.${key}`, NOT_YET[key] ?? 'not rendered yet for Kubernetes (no renderer handles this field)');
  }
}

/** Milliseconds as a protobuf duration string ("2s", "250ms"). */
export function duration(ms: number): string {
  const whole = Math.max(1, Math.round(ms));
  return whole % 1000 === 0 ? `${whole / 1000}s` : `${whole}ms`;
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const sorted = <T>(rec: Record<string, T> | undefined): [string, T][] => Object.entries(rec ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

function read<T>(ctx: ServiceContext, key: string): T | undefined {
  const v = (ctx.spec as unknown as Record<string, unknown>)[key];
  return v === undefined || v === null ? undefined : (v as T);
}

function checkRegex(ctx: ServiceContext, path: string, pattern: string): void {
  if (/\(\?<?[=!]|\\[1-9]/.test(pattern)) ctx.warn(path, `\`${pattern}\` uses lookaround or back-references, which Envoy's RE2 does not support: the cluster will reject or misread it`);
}

function methods(m: Match | undefined): string[] | undefined {
  if (m?.method === undefined) return undefined;
  return (Array.isArray(m.method) ? m.method : [m.method]).map((x) => x.toUpperCase());
}

function portOf(ctx: ServiceContext, service: string): number | undefined {
  return ctx.app.services[service]?.port;
}

/** Weights normalised to a sum of 100 (largest remainder), as Istio expects. */
function percentWeights(weights: number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  if (total === 0) return weights.map(() => 0);
  const exact = weights.map((w) => (w * 100) / total);
  const floor = exact.map(Math.floor);
  let left = 100 - floor.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) if (left-- > 0) floor[i]++;
  return floor;
}

function destinations(ctx: ServiceContext, route: Route): Dest[] {
  if (route.to === undefined) return [{ service: ctx.name, weight: 100 }];
  if (typeof route.to === 'string') return [{ service: route.to, weight: 100 }];
  return route.to;
}

// --- Istio -------------------------------------------------------------------------------------

function istioString(ctx: ServiceContext, path: string, m: StringMatch, kind: 'header' | 'query'): JsonObject | undefined {
  if (m.exact !== undefined) return { exact: m.exact };
  if (m.prefix !== undefined) return kind === 'header' ? { prefix: m.prefix } : { regex: `${escapeRegex(m.prefix)}.*` };
  if (m.regex !== undefined) {
    checkRegex(ctx, path, m.regex);
    return { regex: m.regex };
  }
  if (m.present === true) return { regex: '.*' };
  return undefined;
}

function istioMatches(ctx: ServiceContext, m: Match | undefined, path: string, onlyMethods?: string[]): JsonObject[] | undefined {
  if (!m && !onlyMethods) return undefined;
  const out: JsonObject = {};
  const p = m?.path;
  if (p?.exact !== undefined) out.uri = { exact: p.exact };
  else if (p?.prefix !== undefined) out.uri = { prefix: p.prefix };
  else if (p?.regex !== undefined) {
    checkRegex(ctx, `${path}.match.path.regex`, p.regex);
    out.uri = { regex: p.regex };
  }
  const ms = onlyMethods ?? methods(m);
  if (ms) out.method = ms.length === 1 ? { exact: ms[0] } : { regex: `^(${ms.map(escapeRegex).join('|')})$` };
  const headers: JsonObject = {};
  const without: JsonObject = {};
  for (const [name, sm] of sorted(m?.headers)) {
    const key = name.toLowerCase();
    if (sm.present === false) without[key] = { regex: '.*' };
    else headers[key] = istioString(ctx, `${path}.match.headers.${name}`, sm, 'header') ?? {};
  }
  if (Object.keys(headers).length) out.headers = headers;
  if (Object.keys(without).length) out.withoutHeaders = without;
  const query: JsonObject = {};
  for (const [name, sm] of sorted(m?.query)) {
    if (sm.present === false) {
      ctx.warn(`${path}.match.query.${name}`, 'Istio cannot match an absent query parameter: condition not rendered');
      continue;
    }
    query[name] = istioString(ctx, `${path}.match.query.${name}`, sm, 'query') ?? {};
  }
  if (Object.keys(query).length) out.queryParams = query;
  return [out];
}

function headerOps(ops: HeaderOps | undefined): JsonObject | undefined {
  if (!ops) return undefined;
  const out: JsonObject = {};
  if (ops.set && Object.keys(ops.set).length) out.set = Object.fromEntries(sorted(ops.set));
  if (ops.add && Object.keys(ops.add).length) out.add = Object.fromEntries(sorted(ops.add));
  if (ops.remove?.length) out.remove = [...ops.remove];
  return Object.keys(out).length ? out : undefined;
}

function istioHttpRoutes(ctx: ServiceContext, route: Route, i: number): JsonObject[] {
  const path = `services.${ctx.name}.routes.${i}`;
  const dests = destinations(ctx, route);
  const weights = percentWeights(dests.map((d) => d.weight));
  const total = dests.reduce((a, d) => a + d.weight, 0);
  if (dests.length > 1 && dests.some((d, j) => Math.abs((d.weight * 100) / total - weights[j]) > 1e-9)) {
    ctx.warn(`${path}.to`, `Istio takes weights as whole percentages: ${dests.map((d) => d.weight).join(':')} is rendered as ${weights.join(':')}`);
  }
  const base: JsonObject = {
    route: dests.map((d, j): JsonObject => {
      const dest: JsonObject = { host: d.service };
      if (d.variant !== undefined) dest.subset = d.variant;
      const port = portOf(ctx, d.service);
      if (port !== undefined) dest.port = { number: port };
      return dests.length > 1 ? { destination: dest, weight: weights[j] } : { destination: dest };
    }),
  };
  if (route.name !== undefined) base.name = route.name;
  if (route.timeout !== undefined) base.timeout = duration(route.timeout);
  if (route.fault) {
    const fault: JsonObject = {};
    if (route.fault.delay) fault.delay = { percentage: { value: route.fault.delay.percent }, fixedDelay: duration(route.fault.delay.fixedDelay) };
    if (route.fault.abort) fault.abort = { percentage: { value: route.fault.abort.percent }, httpStatus: route.fault.abort.status };
    base.fault = fault;
  }
  if (route.mirror) {
    base.mirror = {
      host: route.mirror.service,
      ...(route.mirror.variant !== undefined ? { subset: route.mirror.variant } : {}),
      ...(portOf(ctx, route.mirror.service) !== undefined ? { port: { number: portOf(ctx, route.mirror.service)! } } : {}),
    };
    base.mirrorPercentage = { value: route.mirror.percent };
  }
  const req = headerOps(route.headers?.request);
  const res = headerOps(route.headers?.response);
  if (req || res) base.headers = { ...(req ? { request: req } : {}), ...(res ? { response: res } : {}) };

  if (!route.retries) {
    const matches = istioMatches(ctx, route.match, path);
    return [matches ? { ...base, match: matches } : base];
  }
  const r = route.retries;
  const retries: JsonObject = { attempts: r.attempts, retryOn: r.retryOn.join(',') };
  if (r.perTryTimeout !== undefined) retries.perTryTimeout = duration(r.perTryTimeout);
  if (r.nonIdempotent) return [{ ...base, ...withMatch(istioMatches(ctx, route.match, path)), retries }];
  // Locally POST and PATCH are retried only when asked; Istio retries every method, so they get a
  // copy of the route without retries, placed first.
  const asked = methods(route.match);
  const risky = (asked ?? NON_IDEMPOTENT).filter((m) => NON_IDEMPOTENT.includes(m));
  const safe = asked?.filter((m) => !NON_IDEMPOTENT.includes(m));
  const out: JsonObject[] = [];
  if (risky.length) out.push({ ...base, ...(base.name !== undefined ? { name: `${base.name}-no-retry` } : {}), match: istioMatches(ctx, route.match, path, risky)!, retries: { attempts: 0 } });
  if (safe === undefined) out.push({ ...base, ...withMatch(istioMatches(ctx, route.match, path)), retries });
  else if (safe.length) out.push({ ...base, match: istioMatches(ctx, route.match, path, safe)!, retries });
  return out;
}

function withMatch(matches: JsonObject[] | undefined): JsonObject {
  return matches ? { match: matches } : {};
}

/** Istio subsets: one per variant of the service (`default` for its own instances), selected by the variant label. */
function subsets(ctx: ServiceContext): JsonObject[] | undefined {
  const names = Object.keys(ctx.spec.variants ?? {}).sort();
  if (!names.length) return undefined;
  return ['default', ...names].map((v) => ({ name: v, labels: { [VARIANT_LABEL]: v } }));
}

function destinationRule(ctx: ServiceContext, policy: Policy | undefined): K8sObject {
  const spec: JsonObject = { host: ctx.name };
  const subs = subsets(ctx);
  if (subs) spec.subsets = subs;
  if (policy) spec.trafficPolicy = trafficPolicy(ctx, policy);
  return { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: ctx.name, labels: ctx.labels }, spec };
}

function trafficPolicy(ctx: ServiceContext, policy: Policy): JsonObject {
  const tp: JsonObject = {};
  const b = policy.balancer;
  if (typeof b === 'string') tp.loadBalancer = { simple: b.toUpperCase() };
  else if (b.consistentHash.header !== undefined) tp.loadBalancer = { consistentHash: { httpHeaderName: b.consistentHash.header } };
  else tp.loadBalancer = { consistentHash: { httpCookie: { name: b.consistentHash.cookie!, ttl: '0s' } } };
  if (policy.slowStart) {
    const simple = typeof b === 'string' ? b : undefined;
    if (simple === 'round_robin' || simple === 'least_request') {
      // Envoy slow start: linear ramp (aggression 1) from minWeightPercent over the window.
      (tp.loadBalancer as JsonObject).warmup = { duration: duration(policy.slowStart.window), minimumPercent: policy.slowStart.minWeightPercent, aggression: 1 };
    } else {
      ctx.warn(`services.${ctx.name}.policy.slowStart`, 'Envoy applies slow start only with round_robin or least_request: not rendered with this balancer');
    }
  }
  const o = policy.outlierDetection;
  if (o) {
    tp.outlierDetection = {
      consecutive5xxErrors: o.consecutive5xxErrors,
      consecutiveGatewayErrors: o.consecutiveGatewayErrors,
      interval: duration(o.interval),
      baseEjectionTime: duration(o.baseEjectionTime),
      maxEjectionPercent: o.maxEjectionPercent,
    };
  }
  const c = policy.connectionPool;
  if (c) {
    const pool: JsonObject = {};
    if (c.maxConnections !== undefined) pool.tcp = { maxConnections: c.maxConnections };
    const http: JsonObject = {};
    if (c.maxPendingRequests !== undefined) http.http1MaxPendingRequests = c.maxPendingRequests;
    if (c.maxRequestsPerConnection !== undefined) http.maxRequestsPerConnection = c.maxRequestsPerConnection;
    if (Object.keys(http).length) pool.http = http;
    if (Object.keys(pool).length) tp.connectionPool = pool;
    ctx.warn(`services.${ctx.name}.policy.connectionPool`, 'Envoy answers an overflow with 503 but without Berth\'s x-berth-reason header');
  }
  return tp;
}

function renderIstio(ctx: ServiceContext, routes: Route[] | undefined, policy: Policy | undefined): K8sObject[] {
  const out: K8sObject[] = [];
  if (routes?.length) {
    const http = routes.flatMap((r, i) => istioHttpRoutes(ctx, r, i));
    out.push({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: ctx.name, labels: ctx.labels }, spec: { hosts: [ctx.name], http } });
  }
  if (policy || subsets(ctx)) out.push(destinationRule(ctx, policy));
  return out;
}

// --- Gateway API (GAMMA: an HTTPRoute whose parent is the Service) -------------------------------

function gwString(ctx: ServiceContext, path: string, name: string, m: StringMatch): JsonObject | undefined {
  if (m.exact !== undefined) return { type: 'Exact', name, value: m.exact };
  if (m.prefix !== undefined) return { type: 'RegularExpression', name, value: `^${escapeRegex(m.prefix)}.*` };
  if (m.regex !== undefined) {
    checkRegex(ctx, path, m.regex);
    return { type: 'RegularExpression', name, value: m.regex };
  }
  if (m.present === true) return { type: 'RegularExpression', name, value: '.*' };
  ctx.warn(path, 'Gateway API cannot match an absent header or query parameter: condition not rendered');
  return undefined;
}

function gwMatches(ctx: ServiceContext, m: Match | undefined, path: string): JsonObject[] | undefined {
  if (!m) return undefined;
  const one: JsonObject = {};
  const p = m.path;
  if (p?.exact !== undefined) one.path = { type: 'Exact', value: p.exact };
  else if (p?.prefix !== undefined) {
    one.path = { type: 'PathPrefix', value: p.prefix.length > 1 ? p.prefix.replace(/\/+$/, '') || '/' : p.prefix };
    if (p.prefix !== '/') ctx.warn(`${path}.match.path.prefix`, `Gateway API PathPrefix matches whole path segments: \`${p.prefix}\` does not match ${p.prefix.replace(/\/+$/, '')}x… (locally a plain string prefix)`);
  } else if (p?.regex !== undefined) {
    checkRegex(ctx, `${path}.match.path.regex`, p.regex);
    one.path = { type: 'RegularExpression', value: p.regex };
  }
  const headers = sorted(m.headers).map(([n, sm]) => gwString(ctx, `${path}.match.headers.${n}`, n, sm)).filter((x): x is JsonObject => !!x);
  if (headers.length) one.headers = headers;
  const query = sorted(m.query).map(([n, sm]) => gwString(ctx, `${path}.match.query.${n}`, n, sm)).filter((x): x is JsonObject => !!x);
  if (query.length) one.queryParams = query;
  const ms = methods(m);
  return ms ? ms.map((method) => ({ ...one, method })) : [one];
}

function gwHeaderFilter(type: 'RequestHeaderModifier' | 'ResponseHeaderModifier', ops: HeaderOps | undefined): JsonObject | undefined {
  if (!ops) return undefined;
  const mod: JsonObject = {};
  if (ops.set && Object.keys(ops.set).length) mod.set = sorted(ops.set).map(([name, value]) => ({ name, value }));
  if (ops.add && Object.keys(ops.add).length) mod.add = sorted(ops.add).map(([name, value]) => ({ name, value }));
  if (ops.remove?.length) mod.remove = [...ops.remove];
  if (!Object.keys(mod).length) return undefined;
  return type === 'RequestHeaderModifier' ? { type, requestHeaderModifier: mod } : { type, responseHeaderModifier: mod };
}

/** Gateway API has no subsets: a variant is reached through a Service of its own, `<service>-<variant>`. */
export function variantServiceName(service: string, variant: string): string {
  return `${service}-${variant}`;
}

function backendName(d: { service: string; variant?: string }, used: Set<string>): string {
  if (d.variant === undefined) return d.service;
  used.add(`${d.service}\u0000${d.variant}`);
  return variantServiceName(d.service, d.variant);
}

function variantServices(ctx: ServiceContext, used: Set<string>): K8sObject[] {
  return [...used].sort().flatMap((key): K8sObject[] => {
    const [service, variant] = key.split('\u0000');
    const port = portOf(ctx, service);
    const name = variantServiceName(service, variant);
    if (ctx.app.services[name]) {
      ctx.warn(`services.${ctx.name}.routes`, `the Service for variant ${variant} of ${service} would be named \`${name}\`, which is already a service: not rendered`);
      return [];
    }
    if (port === undefined) return [];
    const selector = { ...selectorLabels(ctx.app.app, service), [VARIANT_LABEL]: variant };
    return [{ apiVersion: 'v1', kind: 'Service', metadata: { name, labels: { ...appLabels(ctx.app.app), [VARIANT_LABEL]: variant } }, spec: { type: 'ClusterIP', selector, ports: [{ name: 'http', port, targetPort: 'http', protocol: 'TCP', appProtocol: appProtocolOf(ctx.app.services[service]?.protocol) }] } }];
  });
}

function renderGatewayApi(ctx: ServiceContext, routes: Route[] | undefined, policy: Policy | undefined): K8sObject[] {
  const used = new Set<string>();
  if (policy) ctx.warn(`services.${ctx.name}.policy`, 'Gateway API has no destination policy (balancer, outlier ejection, connection pool): not rendered; use --mesh istio');
  if (!routes?.length) return [];
  if (routes.length > 1) ctx.warn(`services.${ctx.name}.routes`, 'Gateway API orders rules by how specific their matches are, not by position: where matches overlap, a later route may win (locally the first match wins)');
  const port = ctx.spec.port;
  const rules: Json[] = routes.map((route, i) => {
    const path = `services.${ctx.name}.routes.${i}`;
    const dests = destinations(ctx, route);
    const rule: JsonObject = {
      backendRefs: dests.map((d): JsonObject => ({ name: backendName(d, used), ...(portOf(ctx, d.service) !== undefined ? { port: portOf(ctx, d.service)! } : {}), weight: d.weight })),
    };
    if (route.name !== undefined) rule.name = route.name.toLowerCase().replace(/[^a-z0-9-]/g, '-');
    const matches = gwMatches(ctx, route.match, path);
    if (matches) rule.matches = matches;
    if (route.timeout !== undefined) rule.timeouts = { request: duration(route.timeout) };
    if (route.retries) ctx.warn(`${path}.retries`, 'Gateway API v1 has no stable retry policy: not rendered; use --mesh istio');
    if (route.fault) ctx.warn(`${path}.fault`, 'Gateway API has no fault injection: not rendered; use --mesh istio');
    const filters: JsonObject[] = [];
    const req = gwHeaderFilter('RequestHeaderModifier', route.headers?.request);
    const res = gwHeaderFilter('ResponseHeaderModifier', route.headers?.response);
    if (req) filters.push(req);
    if (res) filters.push(res);
    if (route.mirror) {
      filters.push({ type: 'RequestMirror', requestMirror: { backendRef: { name: backendName(route.mirror, used), ...(portOf(ctx, route.mirror.service) !== undefined ? { port: portOf(ctx, route.mirror.service)! } : {}) } } });
      if (route.mirror.percent !== 100) ctx.warn(`${path}.mirror.percent`, 'Gateway API v1 mirrors every request: the percentage is not rendered');
    }
    if (filters.length) rule.filters = filters;
    return rule;
  });
  return [
    ...variantServices(ctx, used),
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: ctx.name, labels: ctx.labels },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: ctx.name, ...(port !== undefined ? { port } : {}) }], rules },
    },
  ];
}

function render(ctx: ServiceContext): K8sObject[] {
  const routes = read<Route[]>(ctx, 'routes');
  const policy = read<Policy>(ctx, 'policy');
  routes?.forEach((r, i) => unhandled(ctx, `services.${ctx.name}.routes.${i}`, r, ROUTE_FIELDS));
  if (policy) unhandled(ctx, `services.${ctx.name}.policy`, policy, POLICY_FIELDS);
  if (!routes?.length && !policy && !(ctx.mesh === 'istio' && subsets(ctx))) return [];
  if (routes?.length && (ctx.app as unknown as { ingress?: { routes?: { to: string }[] } }).ingress?.routes?.some((r) => r.to === ctx.name)) {
    ctx.warn(`services.${ctx.name}.routes`, 'on the cluster these routes apply to traffic inside the mesh; requests from the ingress Gateway reach the service directly (locally they apply to both)');
  }
  return ctx.mesh === 'istio' ? renderIstio(ctx, routes, policy) : renderGatewayApi(ctx, routes, policy);
}

export const trafficRenderer: ServiceRenderer = { family: 'traffic', scope: 'service', handles: ['routes', 'policy'], render };
