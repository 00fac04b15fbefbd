// HTTP routes of the embedded log store, mounted by api.ts:
//   POST /api/v1/logs  {records: LogRecord[]}  → { stored, duplicates } once committed (413 over 64 MiB)
//   GET  /api/v1/logs?service=a,b&instance=&process=&grep=&level=&since=&until=&after=&limit=
//        → NDJSON, one record per line (with its `seq`), in time order; streamed, so no row limit is needed
import type http from 'node:http';
import type { LogQuery, LogStore } from './log-store.js';

const MAX_INGEST_BYTES = 64 * 1024 * 1024;

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readRaw(req: http.IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_INGEST_BYTES) return undefined;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseQuery(url: URL): LogQuery {
  const p = url.searchParams;
  const num = (k: string): number | undefined => {
    const v = p.get(k);
    if (v === null || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${k} must be a whole number ≥ 0`);
    return n;
  };
  const time = (k: string): string | undefined => {
    const v = p.get(k);
    if (!v) return undefined;
    if (Number.isNaN(Date.parse(v))) throw new Error(`${k} must be an RFC 3339 time`);
    return v;
  };
  const services = (p.get('service') ?? '').split(',').filter(Boolean);
  return {
    ...(services.length ? { services } : {}),
    instance: p.get('instance') || undefined,
    process: p.get('process') || undefined,
    grep: p.get('grep') || undefined,
    level: p.get('level') || undefined,
    since: time('since'),
    until: time('until'),
    after: num('after'),
    limit: num('limit'),
  };
}

/** A caller limited to one deployment's records (a sidecar credential): other records get 403 with `forbid(what)`. */
export interface LogScope {
  service: string;
  forbid: (what: string) => string;
}

/** `orders.v2` → orders: a variant's records may carry either name. */
const baseService = (s: string): string => s.split('.')[0];

/** Handles the request if it is a log route; false otherwise. */
export async function handleLogRoutes(req: http.IncomingMessage, res: http.ServerResponse, url: URL, store: () => LogStore, scope?: LogScope): Promise<boolean> {
  if (url.pathname !== '/api/v1/logs') return false;
  if (scope && req.method !== 'POST') {
    sendJson(res, 403, { error: scope.forbid(`${req.method ?? 'GET'} /api/v1/logs (reading logs)`) });
    return true;
  }
  if (req.method === 'POST') {
    const raw = await readRaw(req);
    if (!raw) {
      sendJson(res, 413, { error: `batch larger than ${MAX_INGEST_BYTES} bytes: send smaller batches` });
      return true;
    }
    let records: unknown;
    try {
      records = (JSON.parse(raw.toString('utf8')) as { records?: unknown }).records;
    } catch (err) {
      sendJson(res, 400, { error: `invalid JSON: ${(err as Error).message}` });
      return true;
    }
    if (!Array.isArray(records)) {
      sendJson(res, 400, { error: 'expected {"records": [...]}' });
      return true;
    }
    if (scope) {
      const other = records.find((r) => !r || typeof r !== 'object' || baseService(String((r as { service?: unknown }).service)) !== baseService(scope.service));
      if (other !== undefined) {
        sendJson(res, 403, { error: scope.forbid(`log records of service ${JSON.stringify((other as { service?: unknown } | null)?.service ?? null)}`) });
        return true;
      }
    }
    try {
      sendJson(res, 200, store().ingest(records));
    } catch (err) {
      sendJson(res, 400, { error: (err as Error).message });
    }
    return true;
  }
  if (req.method === 'GET') {
    let q: LogQuery;
    try {
      q = parseQuery(url);
      if (q.level && !['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(q.level)) throw new Error('level must be one of trace, debug, info, warn, error, fatal');
    } catch (err) {
      sendJson(res, 400, { error: (err as Error).message });
      return true;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    let buf = '';
    for (const r of store().query(q)) {
      buf += JSON.stringify(r) + '\n';
      if (buf.length > 256 * 1024) {
        if (!res.write(buf)) await new Promise((r2) => res.once('drain', r2));
        buf = '';
      }
    }
    res.end(buf);
    return true;
  }
  return false;
}
