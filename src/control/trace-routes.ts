// The trace API: proxies POST their span batches (sidecar credential: its own proxy's only); the CLI
// and the dashboard read them.
//   POST /api/v1/traces {proxy, spans}     → { stored }
//   GET  /api/v1/traces?service=&status=error|ok|<code>&minMs=&limit= → { traces: TraceSummary[], limit } (newest first)
//   GET  /api/v1/traces/:traceId           → { trace, spans } (earliest first) or 404
import type http from 'node:http';
import type { TraceBatch } from '../lib/mesh-protocol.js';
import { spanProblem, type TraceStore } from './trace-store.js';

type Send = (res: http.ServerResponse, status: number, body: unknown) => void;

export async function handleTraceRoutes(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  store: () => TraceStore,
  send: Send,
  readBody: () => Promise<Record<string, unknown>>,
  sidecar: { proxy: string; forbid(what: string): string } | undefined,
): Promise<boolean> {
  const path = url.pathname;
  if (req.method === 'POST' && path === '/api/v1/traces') {
    let body: Record<string, unknown>;
    try {
      body = await readBody();
    } catch (err) {
      send(res, 400, { error: (err as Error).message });
      return true;
    }
    const batch = body as Partial<TraceBatch>;
    if (typeof batch.proxy !== 'string' || !Array.isArray(batch.spans)) {
      send(res, 400, { error: 'a span batch is { proxy: string, spans: TraceSpan[] }' });
      return true;
    }
    if (sidecar && batch.proxy !== sidecar.proxy) {
      send(res, 403, { error: sidecar.forbid(`sending spans as proxy ${batch.proxy}`) });
      return true;
    }
    for (const [i, s] of batch.spans.entries()) {
      const why = spanProblem(s);
      if (why) {
        send(res, 400, { error: `spans[${i}]: ${why}` });
        return true;
      }
    }
    send(res, 200, { stored: store().add(batch.spans) });
    return true;
  }
  if (req.method !== 'GET') return false;
  if (path === '/api/v1/traces') {
    const p = url.searchParams;
    const minMs = p.get('minMs');
    const limit = p.get('limit');
    if ((minMs !== null && !Number.isFinite(Number(minMs))) || (limit !== null && !(Number(limit) > 0))) {
      send(res, 400, { error: 'minMs must be a number of milliseconds and limit a positive number' });
      return true;
    }
    const status = p.get('status') ?? undefined;
    if (status !== undefined && status !== '' && status !== 'error' && status !== 'ok' && !/^\d{3}$/.test(status)) {
      send(res, 400, { error: 'status must be error, ok or an HTTP status code' });
      return true;
    }
    const s = store();
    send(res, 200, {
      traces: s.list({ service: p.get('service') || undefined, status, ...(minMs !== null ? { minMs: Number(minMs) } : {}), ...(limit !== null ? { limit: Number(limit) } : {}) }),
      limit: s.maxTraces,
    });
    return true;
  }
  if (path.startsWith('/api/v1/traces/')) {
    const id = path.slice('/api/v1/traces/'.length);
    const t = store().get(id);
    if (t) send(res, 200, t);
    else send(res, 404, { error: `no trace ${id} (not sampled, or dropped beyond the trace limit)` });
    return true;
  }
  return false;
}
