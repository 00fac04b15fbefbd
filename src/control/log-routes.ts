// HTTP routes of the embedded log store, mounted by api.ts:
//   POST /api/v1/logs  {records: LogRecord[]}  → { stored, duplicates } once committed (413 over 64 MiB;
//        503 + Retry-After while the ingest queue is full: the sender keeps the batch and retries)
//   GET  /api/v1/logs?service=a,b&instance=&process=&grep=&level=&since=&until=&after=&limit=
//        → NDJSON, one record per line (with its `seq`), in time order; streamed, so no row limit is needed
// Bodies are only received here: parsing and writing happen in the log writer thread (log-ingest.ts).
import type http from 'node:http';
import { LogWriterUnavailable, type LogIngest } from './log-ingest.js';
import type { LogQuery } from './log-store.js';

const MAX_INGEST_BYTES = 64 * 1024 * 1024;

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** The declared body size, when the request declares one. */
function contentLength(req: http.IncomingMessage): number | undefined {
  const v = req.headers['content-length'];
  const n = v === undefined ? NaN : Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * The body in memory of its own (so it can be moved to the writer thread without a copy), or
 * undefined past MAX_INGEST_BYTES.
 */
async function readRaw(req: http.IncomingMessage, declared: number | undefined): Promise<Uint8Array | undefined> {
  if (declared !== undefined) {
    const out = new Uint8Array(declared);
    let at = 0;
    for await (const c of req) {
      const chunk = c as Buffer;
      if (at + chunk.length > declared) return undefined; // cannot happen with a valid Content-Length
      out.set(chunk, at);
      at += chunk.length;
    }
    return at === declared ? out : out.subarray(0, at);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_INGEST_BYTES) return undefined;
    chunks.push(c as Buffer);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
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

/** Handles the request if it is a log route; false otherwise. */
export async function handleLogRoutes(req: http.IncomingMessage, res: http.ServerResponse, url: URL, store: () => LogIngest, scope?: LogScope): Promise<boolean> {
  if (url.pathname !== '/api/v1/logs') return false;
  if (scope && req.method !== 'POST') {
    sendJson(res, 403, { error: scope.forbid(`${req.method ?? 'GET'} /api/v1/logs (reading logs)`) });
    return true;
  }
  if (req.method === 'POST') {
    await ingestPost(req, res, store(), scope);
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
    let reader;
    try {
      reader = await store().reader();
    } catch (err) {
      sendJson(res, 503, { error: (err as Error).message }, { 'retry-after': '1' });
      return true;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    let buf = '';
    for (const r of reader.query(q)) {
      buf += JSON.stringify(r) + '\n';
      if (buf.length > 256 * 1024) {
        if (!res.write(buf)) await new Promise((r2) => res.once('drain', r2));
        // A long read gives the controllers a turn between pieces even when the client keeps up.
        else await new Promise((r2) => setImmediate(r2));
        buf = '';
      }
    }
    res.end(buf);
    return true;
  }
  return false;
}

/** A batch: admitted (or 503), received, handed to the writer thread, answered once committed. */
async function ingestPost(req: http.IncomingMessage, res: http.ServerResponse, ingest: LogIngest, scope: LogScope | undefined): Promise<void> {
  const tooLarge = (): void => sendJson(res, 413, { error: `batch larger than ${MAX_INGEST_BYTES} bytes: send smaller batches` });
  const declared = contentLength(req);
  if (declared !== undefined && declared > MAX_INGEST_BYTES) return tooLarge();
  const slot = ingest.admit(declared ?? MAX_INGEST_BYTES);
  if (!slot) {
    const { batches, bytes } = ingest.depth();
    const wait = ingest.retryAfterSeconds();
    return sendJson(res, 503, { error: `log ingest queue full (${batches} batches, ${Math.round(bytes / 1024)} KiB): keep the batch and retry in ${wait} s` }, { 'retry-after': String(wait) });
  }
  try {
    const raw = await readRaw(req, declared);
    if (!raw) return tooLarge();
    let verdict;
    try {
      verdict = await ingest.write(raw, scope?.service);
    } catch (err) {
      if (!(err instanceof LogWriterUnavailable)) throw err;
      return sendJson(res, 503, { error: err.message }, { 'retry-after': '1' });
    }
    if (verdict.status === 200) return sendJson(res, 200, { stored: verdict.stored, duplicates: verdict.duplicates });
    if (verdict.status === 403) return sendJson(res, 403, { error: scope ? scope.forbid(verdict.what) : verdict.what });
    if (verdict.status === 503) return sendJson(res, 503, { error: verdict.error }, { 'retry-after': '1' });
    return sendJson(res, 400, { error: verdict.error });
  } finally {
    slot.release();
  }
}
