// The data path: sends one request to an endpoint of a cluster over a keep-alive pool (undici) and
// streams the response straight into the client's response (undici's stream API writes into it; no
// intermediate readable). Retries what never reached an app (connect failure, or a 503 carrying the
// Berth reason header from a peer proxy) on another endpoint, plus what the route's `retries` asks
// for; applies the route's timeout and header rewrites; feeds outlier detection and least_request.
import type http from 'node:http';
import { Writable } from 'node:stream';
import type { Pool } from 'undici';
import { REASON_HEADER, type MeshHeaderOps, type MeshPolicy } from '../../lib/mesh-protocol.js';
import { CONNECT_FAILURE, RESET, type Cluster } from './cluster.js';
import type { EndpointState } from './endpoints.js';
import type { CompiledRoute } from './routes.js';

/** Headers that describe one connection, not the message; never forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'expect'];
/** Request bodies up to this size are kept so the request can be retried; larger ones are streamed once. */
const RETRY_BODY_LIMIT = 64 * 1024;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** Retries for requests that never reached an app (Istio retries connect failures twice by default). */
export const PLATFORM_RETRIES = 3;

export interface Upstream {
  id: string;
  host: string;
  port: number;
}

/**
 * undici is most of the proxy's start-up time (its import takes longer than everything else put
 * together), and the proxy's listening is what an instance's readiness waits for. So the listeners
 * bind first and undici loads right after; requests arriving before it is there wait for it.
 */
let PoolImpl: typeof Pool | undefined;
let loading: Promise<void> | undefined;

export function loadUpstreamClient(): Promise<void> {
  loading ??= import('undici').then((m) => {
    PoolImpl = m.Pool;
  });
  return loading;
}

/** True once the upstream client is loaded (forward() may be called). */
export function upstreamClientLoaded(): boolean {
  return PoolImpl !== undefined;
}

/** One keep-alive pool per upstream address (and pool limits), closed when the address leaves the routing table. */
export class Pools {
  private readonly pools = new Map<string, Pool>();

  get(u: Upstream, limits?: MeshPolicy['connectionPool']): Pool {
    const addr = `${u.host}:${u.port}`;
    const key = limits && (limits.maxConnections !== undefined || limits.maxRequestsPerConnection !== undefined) ? `${addr}|${limits.maxConnections}|${limits.maxRequestsPerConnection}` : addr;
    let p = this.pools.get(key);
    if (!p) {
      if (!PoolImpl) throw new Error('the upstream client is not loaded yet (call loadUpstreamClient first)');
      p = new PoolImpl(`http://${addr}`, {
        pipelining: 1,
        keepAliveTimeout: 4000,
        keepAliveMaxTimeout: 60_000,
        headersTimeout: 15_000,
        bodyTimeout: 300_000,
        connectTimeout: 2000,
        ...(limits?.maxConnections !== undefined ? { connections: limits.maxConnections } : {}),
        ...(limits?.maxRequestsPerConnection !== undefined ? { maxRequestsPerClient: limits.maxRequestsPerConnection } : {}),
      });
      this.pools.set(key, p);
    }
    return p;
  }

  /** Closes (gracefully) the pools of addresses not in `keep`. */
  retain(keep: Set<string>): void {
    for (const [key, p] of this.pools) {
      const addr = key.split('|')[0];
      if (keep.has(addr)) continue;
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

export function reply(res: http.ServerResponse, status: number, reason: string, message?: string, extra?: http.OutgoingHttpHeaders): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = `${message ?? reason}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), [REASON_HEADER]: reason, ...extra });
  res.end(text);
}

export function applyHeaderOps(headers: Record<string, string | string[] | undefined>, ops: MeshHeaderOps | undefined): void {
  if (!ops) return;
  for (const name of ops.remove ?? []) delete headers[name.toLowerCase()];
  for (const [name, value] of Object.entries(ops.set ?? {})) headers[name.toLowerCase()] = value;
  for (const [name, value] of Object.entries(ops.add ?? {})) {
    const key = name.toLowerCase();
    const cur = headers[key];
    headers[key] = cur === undefined ? value : Array.isArray(cur) ? [...cur, value] : `${cur}, ${value}`;
  }
}

function hasBody(req: http.IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/** A writable that discards a response we are going to retry. */
function sink(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}

function classify(err: unknown): number {
  const code = (err as { code?: string }).code;
  if (code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'EHOSTUNREACH' || code === 'EADDRNOTAVAIL') return CONNECT_FAILURE;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_ABORTED' || (err as Error).name === 'AbortError') return 504;
  return RESET;
}

export interface ForwardOptions {
  pools: Pools;
  cluster: Cluster;
  route?: CompiledRoute;
  /** Called with the final status (0: the client went away) once the exchange ends. */
  done?(status: number, ep: EndpointState | undefined): void;
}

interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  opts: ForwardOptions;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer | http.IncomingMessage | null;
  replayable: boolean;
  tried: Set<string> | undefined;
  deadline: number;
  signal: AbortSignal | undefined;
}

/** Forwards `req` to an endpoint of `opts.cluster`, streaming the response into `res`. */
export function forward(req: http.IncomingMessage, res: http.ServerResponse, opts: ForwardOptions): void {
  const headers = req.headers;
  for (const h of HOP_BY_HOP) if (headers[h] !== undefined) delete headers[h];
  applyHeaderOps(headers, opts.route?.requestHeaders);
  const route = opts.route;
  let signal: AbortSignal | undefined;
  let deadline = Infinity;
  if (route?.timeout !== undefined) {
    deadline = performance.now() + route.timeout;
    const ac = new AbortController();
    signal = ac.signal;
    const t = setTimeout(() => ac.abort(), route.timeout);
    res.once('close', () => clearTimeout(t));
  }
  const ex: Exchange = { req, res, opts, method: req.method ?? 'GET', path: req.url ?? '/', headers, body: null, replayable: true, tried: undefined, deadline, signal };
  if (!hasBody(req)) return attempt(ex, 0);
  const cl = Number(req.headers['content-length']);
  if (req.headers['transfer-encoding'] === undefined && cl <= RETRY_BODY_LIMIT) {
    readBody(req).then(
      (b) => {
        ex.body = b;
        attempt(ex, 0);
      },
      () => {
        res.destroy();
        opts.done?.(0, undefined);
      },
    );
    return;
  }
  // A big or chunked body is streamed through once: no retries.
  ex.body = req;
  ex.replayable = false;
  attempt(ex, 0);
}

function attempt(ex: Exchange, n: number): void {
  const { req, res, opts } = ex;
  const cluster = opts.cluster;
  const ep = cluster.pick(req, ex.tried);
  if (!ep) {
    reply(res, 503, 'no-healthy-upstream', `no ready endpoint for ${cluster.name}`);
    opts.done?.(503, undefined);
    return;
  }
  if (cluster.overflowing(ep)) {
    reply(res, 503, 'overflow', `connection pool of ${cluster.name} is full (maxConnections + maxPendingRequests)`);
    opts.done?.(503, ep);
    return;
  }
  const retry = ex.opts.route?.retries;
  const idempotent = IDEMPOTENT.has(ex.method) || retry?.nonIdempotent === true;
  const platformLeft = ex.replayable && n < Math.max(PLATFORM_RETRIES, retry?.attempts ?? 0);
  const userLeft = ex.replayable && retry !== undefined && n < retry.attempts && idempotent;
  let headersTimeout = retry?.perTryTimeout;
  if (ex.deadline !== Infinity) headersTimeout = Math.max(1, Math.min(headersTimeout ?? Infinity, ex.deadline - performance.now()));
  let status = 0;
  let retrying = false;
  ep.active++;
  opts.pools.get(ep, cluster.pool).stream(
    { method: ex.method as 'GET', path: ex.path, headers: ex.headers, body: ex.body, opaque: null, signal: ex.signal, ...(headersTimeout !== undefined ? { headersTimeout } : {}) },
    ({ statusCode, headers }) => {
      status = statusCode;
      const neverReachedApp = statusCode === 503 && headers[REASON_HEADER] !== undefined;
      if ((neverReachedApp && platformLeft) || (userLeft && ((retry.fiveXx && statusCode >= 500) || (retry.gateway && statusCode >= 502 && statusCode <= 504)))) {
        retrying = true;
        return sink();
      }
      for (const h of HOP_BY_HOP) if (headers[h] !== undefined) delete headers[h];
      applyHeaderOps(headers, ex.opts.route?.responseHeaders);
      res.writeHead(statusCode, headers as http.OutgoingHttpHeaders);
      return res;
    },
    (err) => {
      ep.active--;
      const outcome = err && status === 0 ? classify(err) : status;
      cluster.record(ep, outcome);
      if (!err && !retrying) {
        opts.done?.(status, ep);
        return;
      }
      const timedOut = ex.signal?.aborted === true;
      let again = retrying;
      if (!again && err && !timedOut && status === 0) {
        if (outcome === CONNECT_FAILURE) again = platformLeft;
        else if (outcome === RESET) again = (userLeft && retry.reset) || (platformLeft && IDEMPOTENT.has(ex.method));
        else if (outcome === 504) again = userLeft && retry.perTryTimeout !== undefined && performance.now() < ex.deadline;
      }
      if (again && !res.headersSent && !req.destroyed) {
        (ex.tried ??= new Set()).add(ep.id);
        // Back off a little: a peer that just registered may be a few milliseconds behind on its snapshot.
        setTimeout(() => attempt(ex, n + 1), 10 * 2 ** n);
        return;
      }
      if (res.headersSent) {
        res.destroy();
        opts.done?.(status, ep);
        return;
      }
      if (timedOut || outcome === 504) reply(res, 504, 'upstream-timeout', 'upstream did not answer in time');
      else if (outcome === CONNECT_FAILURE) reply(res, 503, 'upstream-connect-failure', `cannot connect to ${ep.id}`);
      else if (retrying) reply(res, 503, 'upstream-unavailable', `no endpoint of ${cluster.name} could take the request`);
      else reply(res, 502, 'upstream-reset', `upstream ${ep.id} failed: ${(err as { code?: string })?.code ?? (err as Error)?.message}`);
      opts.done?.(res.statusCode, ep);
    },
  );
}
