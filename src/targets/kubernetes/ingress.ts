// Ingress: the spec's `ingress:` (a gateway with ordered routes) as a Gateway API `Gateway` (one
// HTTP listener on the ingress port) and an `HTTPRoute` sending each path to its service. Gateway
// API and the local gateway do not match paths the same way, and the differences are warnings:
// Gateway API's PathPrefix matches whole path segments (locally a plain string prefix, as Istio's
// uri.prefix), and it picks the most specific match where the local gateway takes the first route
// that matches.
import { appLabels } from './labels.js';
import type { AppContext, AppRenderer, JsonObject, K8sObject } from './types.js';

interface RouteFields {
  match?: { path?: { prefix?: string; exact?: string } };
  to: string;
}
interface IngressFields {
  port: number;
  routes: RouteFields[];
}

function readIngress(ctx: AppContext): IngressFields | undefined {
  const raw = (ctx.app as unknown as Record<string, unknown>).ingress;
  if (!raw || typeof raw !== 'object') return undefined;
  const { port, routes, ...rest } = raw as Record<string, unknown>;
  for (const key of Object.keys(rest).sort()) ctx.warn(`ingress.${key}`, 'not rendered yet for Kubernetes (no renderer handles this field)');
  if (typeof port !== 'number' || !Array.isArray(routes)) return undefined;
  return { port, routes: routes as RouteFields[] };
}

/** Does route `a` (earlier) match every request route `b` (later) matches? Then `b` never wins locally. */
function covers(a: RouteFields, b: RouteFields): boolean {
  const pa = a.match?.path;
  const pb = b.match?.path;
  if (!pa) return true;
  if (!pb) return false;
  if (pa.prefix !== undefined) return (pb.prefix ?? pb.exact ?? '').startsWith(pa.prefix);
  return pb.exact !== undefined && pb.exact === pa.exact;
}

export function gatewayName(app: string): string {
  return `${app}-ingress`;
}

function render(ctx: AppContext): K8sObject[] {
  const ingress = readIngress(ctx);
  if (!ingress) return [];
  const name = gatewayName(ctx.app.app);
  const labels = appLabels(ctx.app.app);
  const rules: JsonObject[] = [];
  ingress.routes.forEach((route, i) => {
    const path = route.match?.path;
    const port = ctx.app.services[route.to]?.port;
    if (port === undefined) return void ctx.warn(`ingress.routes.${i}.to`, `service \`${route.to}\` has no port: route not rendered`);
    let match: JsonObject;
    if (path?.exact !== undefined) match = { path: { type: 'Exact', value: path.exact } };
    else {
      const prefix = path?.prefix ?? '/';
      match = { path: { type: 'PathPrefix', value: prefix.length > 1 ? prefix.replace(/\/+$/, '') || '/' : prefix } };
      if (prefix !== '/') {
        ctx.warn(
          `ingress.routes.${i}.match.path.prefix`,
          `Gateway API PathPrefix matches whole path segments: \`${prefix}\` matches ${prefix.replace(/\/+$/, '')} and ${prefix.replace(/\/+$/, '')}/… but not ${prefix.replace(/\/+$/, '')}x… (locally a plain string prefix)`,
        );
      }
    }
    for (let j = 0; j < i; j++) {
      if (covers(ingress.routes[j], route)) {
        ctx.warn(`ingress.routes.${i}`, `locally route ${j} comes first and takes every request this route matches; Gateway API picks the most specific match, so on the cluster this route receives them`);
        break;
      }
    }
    rules.push({ matches: [match], backendRefs: [{ name: route.to, port }] });
  });
  const gateway: K8sObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name, labels },
    spec: {
      gatewayClassName: ctx.gatewayClass,
      listeners: [{ name: 'http', protocol: 'HTTP', port: ingress.port, allowedRoutes: { namespaces: { from: 'Same' } } }],
    },
  };
  const route: K8sObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name, labels },
    spec: { parentRefs: [{ name, sectionName: 'http' }], rules },
  };
  return [gateway, route];
}

export const ingressRenderer: AppRenderer = { family: 'ingress', handles: ['ingress'], render };
