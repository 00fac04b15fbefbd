// The data path: sends one request to an endpoint of a cluster over a keep-alive pool of raw
// sockets (upstream-client.ts) and streams the response straight into the client's response.
// Retries what never reached an app (connect failure, or a 503 carrying the
// Berth reason header from a peer proxy) on another endpoint, plus what the route's `retries` asks
// for; applies the route's timeout and header rewrites; feeds outlier detection and least_request.
import type http from 'node:http';
import { REASON_HEADER, type MeshHeaderOps, type MeshPolicy } from '../../lib/mesh-protocol.js';
import { CONNECT_FAILURE, RESET, type Cluster } from './cluster.js';
import type { EndpointState } from './endpoints.js';
import type { CompiledRoute } from './routes.js';
import { UpstreamPool, type UpstreamError } from './upstream-client.js';
import { bodyStream, type ProxyRequest, type ProxyResponse } from './listener.js';
import { LeanResponse } from './lean-server.js';
import type { Readable } from 'node:stream';

/** Request bodies up to this size are kept so the request can be retried; larger ones are streamed once. */
const RETRY_BODY_LIMIT = 64 * 1024;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
/** Retries for requests that never reached an app (Istio retries connect failures twice by default). */
export const PLATFORM_RETRIES = 3;

export interface Upstream {
  id: string;
  host: string;
  port: number;
  /** `host:port` */
  address: string;
}

/** One keep-alive pool per upstream address (and pool limits), closed when the address leaves the routing table. */
export class Pools {
  private readonly pools = new Map<string, UpstreamPool>();

  get(u: Upstream, limits?: MeshPolicy['connectionPool']): UpstreamPool {
    const addr = u.address;
    const key = limits && (limits.maxConnections !== undefined || limits.maxRequestsPerConnection !== undefined) ? `${addr}|${limits.maxConnections}|${limits.maxRequestsPerConnection}` : addr;
    let p = this.pools.get(key);
    if (!p) {
      p = new UpstreamPool(u.host, u.port, { maxConnections: limits?.maxConnections, maxRequestsPerConnection: limits?.maxRequestsPerConnection });
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
      p.close();
    }
  }

  closeAll(): void {
    for (const p of this.pools.values()) p.close();
    this.pools.clear();
  }
}

export function reply(res: ProxyResponse, status: number, reason: string, message?: string, extra?: http.OutgoingHttpHeaders): void {
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

function hasBody(req: ProxyRequest): boolean {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (typeof cl === 'string' && Number(cl) > 0);
}

async function readBody(req: ProxyRequest): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of bodyStream(req)) chunks.push(c as Buffer);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

function classify(err: UpstreamError): number {
  if (err.code === 'CONNECT') return CONNECT_FAILURE;
  if (err.code === 'HEADERS_TIMEOUT' || err.code === 'ABORTED') return 504;
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
  req: ProxyRequest;
  res: ProxyResponse;
  opts: ForwardOptions;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer | Readable | null;
  replayable: boolean;
  tried: Set<string> | undefined;
  deadline: number;
  /** Gives up on the attempt in flight. */
  cancel: (() => void) | undefined;
  /** True once the route's timeout fired (an abort without it means the client went away). */
  timedOut(): boolean;
}

/** Forwards `req` to an endpoint of `opts.cluster`, streaming the response into `res`. */
export function forward(req: ProxyRequest, res: ProxyResponse, opts: ForwardOptions): void {
  // Hop-by-hop headers stay here (the body's framing is read from them below); the upstream client
  // leaves them out of what it sends and frames the body itself.
  const headers = req.headers;
  applyHeaderOps(headers, opts.route?.requestHeaders);
  const route = opts.route;
  // The exchange is given up when the route's timeout fires or the client goes away.
  let deadline = Infinity;
  let timedOut = false;
  let t: NodeJS.Timeout | undefined;
  const ex: Exchange = { req, res, opts, method: req.method ?? 'GET', path: req.url ?? '/', headers, body: null, replayable: true, tried: undefined, deadline, cancel: undefined, timedOut: () => timedOut };
  if (route?.timeout !== undefined) {
    ex.deadline = deadline = performance.now() + route.timeout;
    t = setTimeout(() => {
      timedOut = true;
      ex.cancel?.();
    }, route.timeout);
  }
  res.once('close', () => {
    if (t) clearTimeout(t);
    if (!res.writableFinished) ex.cancel?.();
  });
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
  ex.body = bodyStream(req);
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
  let done = false;
  const settle = (err: UpstreamError | undefined): void => {
    if (done) return;
    done = true;
    ep.active--;
    const outcome = err && status === 0 ? classify(err) : status;
    cluster.record(ep, outcome);
    if (!err && !retrying) {
      opts.done?.(status, ep);
      return;
    }
    const timedOut = ex.timedOut() || err?.code === 'HEADERS_TIMEOUT';
    if (err?.code === 'ABORTED' && !ex.timedOut()) {
      // The client went away: nothing to answer.
      opts.done?.(0, ep);
      return;
    }
    let again = retrying;
    if (!again && err && !ex.timedOut() && status === 0) {
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
    else reply(res, 502, 'upstream-reset', `upstream ${ep.id} failed: ${err?.message ?? 'reset'}`);
    opts.done?.(res.statusCode, ep);
  };
  const handle = opts.pools.get(ep, cluster.pool).request(
    { method: ex.method, path: ex.path, headers: ex.headers, body: ex.body, ...(headersTimeout !== undefined ? { headersTimeout } : {}) },
    {
      onHead: (statusCode, headers) => {
        status = statusCode;
        let reason = false;
        for (let i = 0; i < headers.length; i += 2) if (headers[i].length === REASON_HEADER.length && headers[i].toLowerCase() === REASON_HEADER) reason = true;
        const neverReachedApp = statusCode === 503 && reason;
        if ((neverReachedApp && platformLeft) || (userLeft && ((retry.fiveXx && statusCode >= 500) || (retry.gateway && statusCode >= 502 && statusCode <= 504)))) {
          retrying = true;
          return false;
        }
        const ops = ex.opts.route?.responseHeaders;
        if (ops) {
          const obj: Record<string, string | string[] | undefined> = {};
          for (let i = 0; i < headers.length; i += 2) {
            const k = headers[i].toLowerCase();
            const cur = obj[k];
            obj[k] = cur === undefined ? headers[i + 1] : Array.isArray(cur) ? [...cur, headers[i + 1]] : [cur, headers[i + 1]];
          }
          applyHeaderOps(obj, ops);
          res.writeHead(statusCode, obj as http.OutgoingHttpHeaders);
        } else res.writeHead(statusCode, headers);
        return true;
      },
      onData: (chunk, resume) => {
        if (res.destroyed) return true;
        // The chunk is a view of the client's reused read buffer: node:http keeps what it cannot write at once, the lean response copies.
        if (res.write(res instanceof LeanResponse ? chunk : Buffer.from(chunk))) return true;
        res.once('drain', resume);
        return false;
      },
      onEnd: () => {
        if (!retrying) res.end();
        settle(undefined);
      },
      onError: (err) => settle(err),
    },
  );
  ex.cancel = handle.abort;

}
