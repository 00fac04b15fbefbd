// API request metrics: counts by route and status, durations by route. A route is its template
// (`/api/v1/nodes/:name/drain`), never the raw path, so ids and stray paths cannot grow the series.
import type http from 'node:http';
import { controlMetrics, type MetricsRegistry } from './metrics.js';

const FIXED = new Set([
  '/metrics',
  '/api/v1/metrics',
  '/api/v1/healthz',
  '/api/v1/instances',
  '/api/v1/status',
  '/api/v1/events',
  '/api/v1/watch',
  '/api/v1/apply',
  '/api/v1/restart-generations',
  '/api/v1/scale',
  '/api/v1/restart',
  '/api/v1/stop',
  '/api/v1/start',
  '/api/v1/down',
  '/api/v1/logs',
  '/api/v1/sidecars/restart',
  '/api/v1/nodes',
  '/api/v1/mesh/watch',
  '/api/v1/mesh/top',
  '/api/v1/mesh/status',
  '/api/v1/mesh/activate',
  '/api/v1/mesh/ack',
  '/api/v1/dashboard/overview',
  '/api/v1/dashboard/metrics',
  '/api/v1/dashboard/stream',
]);
const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']);

/** The route template of a request path; `other` for anything the API does not serve. */
export function routeOf(path: string): string {
  if (FIXED.has(path)) return path;
  if (/^\/api\/v1\/instances\/[^/]+$/.test(path)) return '/api/v1/instances/:id';
  if (/^\/api\/v1\/history\/[^/]+$/.test(path)) return '/api/v1/history/:service';
  const node = /^\/api\/v1\/nodes\/[^/]+\/(heartbeat|cordon|uncordon|drain|kill)$/.exec(path);
  if (node) return `/api/v1/nodes/:name/${node[1]}`;
  return 'other';
}

/** Watch streams last as long as their client: their duration says nothing about the API's speed. */
const STREAMING = new Set(['/api/v1/watch', '/api/v1/mesh/watch', '/api/v1/dashboard/stream']);

export function apiRequestMetrics(reg: MetricsRegistry = controlMetrics): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const requests = reg.counter('berth_api_requests_total', 'API requests by method, route and status code.', ['method', 'route', 'code']);
  const duration = reg.histogram('berth_api_request_duration_seconds', 'Time from an API request to the end of its answer (watch streams excluded).', ['method', 'route']);
  return (req, res) => {
    const started = performance.now();
    const method = METHODS.has(req.method ?? '') ? req.method! : 'other';
    const route = routeOf(new URL(req.url ?? '/', 'http://localhost').pathname);
    let counted = false;
    const done = () => {
      if (counted) return;
      counted = true;
      // A client gone before any answer is counted as nginx does: 499.
      const code = res.headersSent ? String(res.statusCode) : '499';
      requests.inc({ method, route, code });
      if (!STREAMING.has(route)) duration.observe({ method, route }, (performance.now() - started) / 1000);
    };
    res.once('finish', done);
    res.once('close', done);
  };
}
