// The data path: sends one request to an upstream over a keep-alive pool (undici) and streams the
// response straight into the client's response (undici's stream API writes into it; no intermediate
// readable). Retries a request that never reached an app (connect failure, or a 503 carrying the
// Berth reason header from a peer proxy) on another endpoint when there is one.
import type http from 'node:http';
import { Writable } from 'node:stream';
import { Pool } from 'undici';
import { REASON_HEADER } from '../../lib/mesh-protocol.js';

/** Headers that describe one connection, not the message; never forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'expect'];
/** Request bodies up to this size are kept so the request can be retried; larger ones are streamed once. */
const RETRY_BODY_LIMIT = 64 * 1024;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export interface Upstream {
  id: string;
  host: string;
  port: number;
}

/** One keep-alive pool per upstream address, closed when the address leaves the routing table. */
export class Pools {
  private readonly pools = new Map<string, Pool>();

  get(u: Upstream): Pool {
    const key = `${u.host}:${u.port}`;
    let p = this.pools.get(key);
    if (!p) {
      p = new Pool(`http://${key}`, { pipelining: 1, keepAliveTimeout: 4000, keepAliveMaxTimeout: 60_000, headersTimeout: 15_000, bodyTimeout: 300_000, connectTimeout: 2000 });
      this.pools.set(key, p);
    }
    return p;
  }

  /** Closes (gracefully) the pools of addresses not in `keep`. */
  retain(keep: Set<string>): void {
    for (const [key, p] of this.pools) {
      if (keep.has(key)) continue;
      this.pools.delete(key);
      void p.close().catch(() => {});
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.close().catch(() => {})));
  }
}

export function reply(res: http.ServerResponse, status: number, reason: string, message?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = `${message ?? reason}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), [REASON_HEADER]: reason });
  res.end(text);
}

function hasBody(req: http.IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

/** Reads a small request body so it can be sent more than once; undefined when there is none, 'stream' when it is too big. */
async function bufferBody(req: http.IncomingMessage): Promise<Buffer | undefined | 'stream'> {
  if (!hasBody(req)) return undefined;
  const cl = Number(req.headers['content-length']);
  if (req.headers['transfer-encoding'] !== undefined || !(cl <= RETRY_BODY_LIMIT)) return 'stream';
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/** A writable that discards a response we are going to retry. */
function sink(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}

function isConnectFailure(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'EHOSTUNREACH' || code === 'ECONNRESET_BEFORE_CONNECT';
}

function isReset(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE';
}

export interface ForwardOptions {
  pools: Pools;
  /** Picks an endpoint, avoiding `tried` when another exists. */
  pick(tried: ReadonlySet<string> | undefined): Upstream | undefined;
  /** Extra tries for requests that never reached an app. */
  retries: number;
}

/** Status a request ended with, for logs and metrics (0 = the client went away). */
export type Outcome = number;

/** Forwards `req` to an endpoint chosen by `opts.pick`, streaming the response into `res`. */
export function forward(req: http.IncomingMessage, res: http.ServerResponse, opts: ForwardOptions): Promise<Outcome> {
  const headers = req.headers;
  for (const h of HOP_BY_HOP) if (headers[h] !== undefined) delete headers[h];
  const method = req.method ?? 'GET';
  const path = req.url ?? '/';
  const streamed = hasBody(req);
  if (!streamed) return attempt(req, res, opts, method, path, headers, null, undefined, 0);
  // Keep a small body for retries; bigger ones go through once.
  if (req.headers['content-length'] !== undefined && Number(req.headers['content-length']) <= RETRY_BODY_LIMIT && req.headers['transfer-encoding'] === undefined) {
    return bufferBody(req).then((b) => attempt(req, res, opts, method, path, headers, b === 'stream' ? req : (b ?? null), undefined, 0));
  }
  return attempt(req, res, opts, method, path, headers, req, undefined, opts.retries);
}

function attempt(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  opts: ForwardOptions,
  method: string,
  path: string,
  headers: http.IncomingHttpHeaders,
  body: Buffer | http.IncomingMessage | null,
  tried: Set<string> | undefined,
  n: number,
): Promise<Outcome> {
  const ep = opts.pick(tried);
  if (!ep) {
    reply(res, 503, 'no-healthy-upstream', 'no ready endpoint for this service');
    return Promise.resolve(503);
  }
  const canRetry = n < opts.retries && (body === null || Buffer.isBuffer(body));
  return new Promise<Outcome>((resolve) => {
    let status = 0;
    let retrying = false;
    opts.pools.get(ep).stream(
      { method: method as 'GET', path, headers, body, opaque: null },
      ({ statusCode, headers: upHeaders }) => {
        status = statusCode;
        if (statusCode === 503 && canRetry && upHeaders[REASON_HEADER] !== undefined) {
          retrying = true;
          return sink();
        }
        for (const h of HOP_BY_HOP) if (upHeaders[h] !== undefined) delete upHeaders[h];
        res.writeHead(statusCode, upHeaders as http.OutgoingHttpHeaders);
        return res;
      },
      (err) => {
        if (!err && !retrying) return resolve(status);
        const retryable = retrying || (canRetry && (isConnectFailure(err) || (status === 0 && isReset(err) && IDEMPOTENT.has(method))));
        if (retryable && !res.headersSent && !req.destroyed) {
          const t = tried ?? new Set<string>();
          t.add(ep.id);
          // Back off a little: a peer that just registered may be a few milliseconds behind on its snapshot.
          setTimeout(() => void attempt(req, res, opts, method, path, headers, body, t, n + 1).then(resolve), 10 * 2 ** n);
          return;
        }
        if (res.headersSent) {
          res.destroy();
          return resolve(status || 0);
        }
        const code = (err as { code?: string }).code;
        if (code === 'UND_ERR_HEADERS_TIMEOUT') reply(res, 504, 'upstream-timeout', 'upstream did not answer in time');
        else if (isConnectFailure(err)) reply(res, 503, 'upstream-connect-failure', `cannot connect to ${ep.id}`);
        else reply(res, 502, 'upstream-reset', `upstream ${ep.id} failed: ${code ?? (err as Error).message}`);
        resolve(res.statusCode);
      },
    );
  });
}
