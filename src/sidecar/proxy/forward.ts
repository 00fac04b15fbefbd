// The data path: sends one request to an endpoint of a cluster over a keep-alive pool of raw
// sockets (upstream-client.ts) and streams the response straight into the client's response.
// Retries what never reached an app (connect failure, or a 503 carrying the
// Berth reason header from a peer proxy) on another endpoint, plus what the route's `retries` asks
// for; applies the route's timeout and header rewrites; feeds outlier detection and least_request.
import type http from 'node:http';
import { REASON_HEADER, type MeshHeaderOps, type MeshPolicy } from '../../lib/mesh-protocol.js';
import { CONNECT_FAILURE, RESET, type Cluster } from './cluster.js';
import type { EndpointState } from './endpoints.js';
import { retriesFailedTry, type CompiledRoute } from './routes.js';
import type { ExchangeTap } from './recorder.js';
import { H2_BACKED_UP_READ_SIZES, H2_READ_SIZES, UpstreamPool, type UpstreamCall, type UpstreamError, type UpstreamHandlers, type UpstreamHead, type UpstreamRequest } from './upstream-client.js';
import { bodyStream, type ProxyRequest, type ProxyResponse } from './listener.js';
import { headersSayBody } from './http-syntax.js';
import { extraLinesOf, setExtraLines } from './request-headers.js';
import { LeanResponse } from './lean-server.js';
import { isViewOf } from './read-buffers.js';
import type { Readable } from 'node:stream';
// Imported, not the global: globalThis.performance is an accessor, read through a slow global load on every call.
import { performance } from 'node:perf_hooks';

/** Request bodies up to this size are kept so the request can be retried; larger ones are streamed once. */
const RETRY_BODY_LIMIT = 64 * 1024;
/**
 * Response bytes queued for a slow client before the upstream socket stops being read (nginx's
 * default proxy buffers are 8 × 4–8 KiB plus the kernel's socket buffers; more lets a fast upstream
 * run ahead of a client that reads in bursts). Above the socket's write high-water mark, so a
 * write that crosses it is answered by a 'drain'.
 */
const QUEUE_LIMIT = 256 * 1024;
/** Methods a route's retries send again without `nonIdempotent` (RFC 9110 9.2.2). */
export const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
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

  /** `shadow`: a pool of its own for mirrored copies, so shadow traffic never takes the slots real requests wait for. */
  get(u: Upstream, limits?: MeshPolicy['connectionPool'], shadow = false): UpstreamPool {
    const addr = shadow ? `${u.address}|shadow` : u.address;
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

/** Answers to service invocations (the building-block API), with the app ID invoked. */
const invocations = new WeakMap<ProxyResponse, string>();

/**
 * `res` answers a service invocation of `appId`: the proxy's own failures to reach or hear from the
 * callee (5xx but a route's fault abort) are answered as daprd answers them, 500 with
 * `ERR_DIRECT_INVOKE` in Dapr's JSON error body (x-berth-reason still says which) — a Dapr SDK reads
 * that body; throttling (429) and 4xx keep theirs.
 */
export function answersInvocation(res: ProxyResponse, appId: string): void {
  invocations.set(res, appId);
}

export function reply(res: ProxyResponse, status: number, reason: string, message?: string, extra?: http.OutgoingHttpHeaders): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const invoked = status >= 500 && reason !== 'fault-abort' ? invocations.get(res) : undefined;
  if (invoked !== undefined) {
    const body = JSON.stringify({ errorCode: 'ERR_DIRECT_INVOKE', message: `fail to invoke, id: ${invoked}, err: ${message ?? reason} (${status} ${reason})` });
    res.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), date: new Date().toUTCString(), [REASON_HEADER]: reason, ...extra });
    res.end(body);
    return;
  }
  const text = `${message ?? reason}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), date: new Date().toUTCString(), [REASON_HEADER]: reason, ...extra });
  res.end(text);
}

export function applyHeaderOps(headers: Record<string, string | string[] | undefined>, ops: MeshHeaderOps | undefined): void {
  if (!ops) return;
  for (const name of ops.remove ?? []) delete headers[name.toLowerCase()];
  for (const [name, value] of Object.entries(ops.set ?? {})) {
    const key = name.toLowerCase();
    // An HTTP/2 request's Host is its `:authority`: setting `host` rewrites that, as over HTTP/1.1
    // (Istio makes it Envoy's host_rewrite_literal). A `host` field beside the old `:authority` was
    // ignored by the next hop: the app got the client's authority over h2c and gRPC.
    if (key === 'host' && headers[':authority'] !== undefined) headers[':authority'] = value;
    else headers[key] = value;
  }
  // A removed or replaced field's further lines (request-headers.ts: extraLinesOf) go with it.
  const extra = extraLinesOf(headers);
  if (extra && (ops.remove || ops.set)) {
    const gone = new Set([...(ops.remove ?? []), ...Object.keys(ops.set ?? {})].map((n) => n.toLowerCase()));
    setExtraLines(headers, extra.filter(([n]) => !gone.has(n)));
  }
  for (const [name, value] of Object.entries(ops.add ?? {})) {
    const key = name.toLowerCase();
    const cur = headers[key];
    headers[key] = cur === undefined ? value : Array.isArray(cur) ? [...cur, value] : `${cur}, ${value}`;
  }
}

function hasBody(req: ProxyRequest): boolean {
  return headersSayBody(req.headers);
}

async function readBody(req: ProxyRequest): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of bodyStream(req)) chunks.push(c as Buffer);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

function classify(err: UpstreamError): number {
  if (err.code === 'CONNECT') return CONNECT_FAILURE;
  if (err.code === 'HEADERS_TIMEOUT' || err.code === 'SEND_TIMEOUT' || err.code === 'ABORTED') return 504;
  return RESET;
}

export interface ForwardOptions {
  pools: Pools;
  cluster: Cluster;
  /**
   * The cluster of the same name in the routing table now in force: each try picks from it, so a
   * snapshot that replaced the endpoints while the request waited (a fault delay, a back-off) or
   * between tries is obeyed — tries went to removed endpoints. Absent: `cluster` for every try.
   */
  current?(cluster: Cluster): Cluster;
  route?: CompiledRoute;
  /** Called with the final status (0: the client went away) once the exchange ends. */
  done?(status: number, ep: EndpointState | undefined): void;
  /** Recording: sees the request body, the response head and body as they are forwarded (absent: nothing is copied). */
  tap?: ExchangeTap;
  /**
   * The cluster is this instance's own app (the inbound side): its answers are the app's, never a
   * peer proxy's "not delivered", and a reason header in them (an app relaying a proxy's 503) is
   * removed, so no proxy before this one takes the app's answer for one of its own.
   */
  app?: boolean;
}

/**
 * A proxy's 503 reasons that say the request reached no app (a peer draining or not ready yet, its
 * app unreachable or its pool full): only these are sent again on the platform's own retries.
 */
export const NOT_DELIVERED: ReadonlySet<string> = new Set(['draining', 'app-not-ready', 'upstream-connect-failure', 'overflow', 'no-healthy-upstream']);

/** The first retry's back-off; each next one doubles it (Envoy's base_interval). */
export const RETRY_BACKOFF_MS = 25;

/** Forwards `req` to an endpoint of `opts.cluster`, streaming the response into `res`. */
export function forward(req: ProxyRequest, res: ProxyResponse, opts: ForwardOptions): void {
  // The client left while the request waited (a fault delay, a scaled-to-zero hold): nothing to send.
  if (res.destroyed) return opts.done?.(0, undefined);
  new Forwarding(req, res, opts).begin();
}

/** An answer's header lines as an object (names in lower case, repeated ones as arrays), to be rewritten. */
function headerObject(head: UpstreamHead): Record<string, string | string[] | undefined> {
  const obj: Record<string, string | string[] | undefined> = {};
  const headers = head.list();
  for (let i = 0; i < headers.length; i += 2) {
    const k = headers[i].toLowerCase();
    const cur = obj[k];
    obj[k] = cur === undefined ? headers[i + 1] : Array.isArray(cur) ? [...cur, headers[i + 1]] : [cur, headers[i + 1]];
  }
  return obj;
}

/**
 * One forwarded request, through its attempts (one at a time). It is itself the handler of the
 * upstream call in flight: one object per request instead of a closure per callback.
 */
class Forwarding implements UpstreamHandlers {
  private readonly method: string;
  private readonly path: string;
  private body: Buffer | Readable | null = null;
  /** A streamed body's declared length (it keeps its Content-Length upstream); undefined: chunked. */
  private bodyLength: number | undefined;
  private replayable = true;
  private tried: Set<string> | undefined;
  private deadline = Infinity;
  private timer: NodeJS.Timeout | undefined;
  private timedOut = false;
  private call: UpstreamCall | undefined;
  private upstreamRequest: UpstreamRequest | undefined;
  // The attempt in flight.
  private n = 0;
  private ep: EndpointState | undefined;
  private status = 0;
  private retrying = false;
  /** A peer proxy's own failure answered a service invocation: answered as daprd would, the peer's body dropped. */
  private answeredForPeer = false;
  private settled = true;
  private platformLeft = false;
  private userLeft = false;
  /** The lean response copies what it writes; node:http's keeps a reference, so chunks (views of a reused buffer) are copied for it. */
  private readonly lean: boolean;
  /** The response is an HTTP/2 stream's (ProxyResponse.writeRead). */
  private readonly windowed: boolean;
  /** The client went away before its answer was whole: nothing is retried for it. */
  private clientLeft = false;
  /** The next attempt, waiting out its back-off. */
  private backoff: NodeJS.Timeout | undefined;
  /** A try's own deadline once its head went to the client (Envoy's per-try timeout covers the whole answer). */
  private tryTimer: NodeJS.Timeout | undefined;
  /** When the try in flight started (read only with a per-try timeout). */
  private tryStarted = 0;
  /** `done` was called: the exchange is over, whatever still arrives. */
  private concluded = false;
  private readonly onResClose = (): void => {
    if (this.timer) clearTimeout(this.timer);
    if (this.res.writableFinished) return;
    this.clientLeft = true;
    // Between attempts (a back-off, the body still arriving) no call is in flight to abort.
    if (this.idle()) return this.conclude(0, this.ep);
    this.call?.abort();
  };
  private onDrain: (() => void) | undefined;
  /** The cluster the try in flight picked from. */
  private cluster: Cluster;
  /** onDrain waits on the response's 'drain'. */
  private drainWaiting = false;

  constructor(
    private readonly req: ProxyRequest,
    private readonly res: ProxyResponse,
    private readonly opts: ForwardOptions,
  ) {
    this.cluster = opts.cluster;
    this.method = req.method ?? 'GET';
    this.path = req.url ?? '/';
    this.lean = res instanceof LeanResponse;
    this.windowed = res.writeRead !== undefined;
  }

  /** No upstream call in flight: the body is still being read, or the next attempt waits its back-off. */
  private idle(): boolean {
    return this.settled;
  }

  /** The exchange is over: `done` once, whatever path got here first. */
  private conclude(status: number, ep: EndpointState | undefined): void {
    if (this.concluded) return;
    this.concluded = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.backoff) clearTimeout(this.backoff);
    if (this.tryTimer) clearTimeout(this.tryTimer);
    this.backoff = this.tryTimer = undefined;
    this.opts.done?.(status, ep);
  }

  begin(): void {
    const { req, res, opts } = this;
    // Hop-by-hop headers stay here (the body's framing is read from them below); the upstream client
    // leaves them out of what it sends and frames the body itself.
    applyHeaderOps(req.headers, opts.route?.requestHeaders);
    // The exchange is given up when the route's timeout fires (armDeadline) or the client goes away.
    res.once('close', this.onResClose);
    if (!hasBody(req)) {
      this.armDeadline();
      return this.attempt();
    }
    const cl = Number(req.headers['content-length']);
    if (req.headers['transfer-encoding'] === undefined && cl <= RETRY_BODY_LIMIT) {
      readBody(req).then(
        (b) => {
          this.body = b;
          opts.tap?.requestBody(b);
          opts.tap?.requestEnd?.();
          this.armDeadline();
          this.attempt();
        },
        () => {
          res.destroy();
          this.conclude(0, undefined);
        },
      );
      return;
    }
    // A big or chunked body is streamed through once: no retries. A sized one keeps its length.
    this.body = bodyStream(req);
    if (req.headers['transfer-encoding'] === undefined && Number.isSafeInteger(cl)) this.bodyLength = cl;
    this.replayable = false;
    const tap = opts.tap;
    this.upstreamRequest = {
      method: this.method,
      path: this.path,
      headers: req.headers,
      body: null,
      ...(tap ? { onBodyChunk: (c: Buffer) => tap.requestBody(c) } : {}),
      onBodyEnd: () => {
        tap?.requestEnd?.();
        this.armDeadline();
        // The per-try timeout too runs from the request's end (upstream-client arms its head wait then).
        if (this.tryStarted !== 0) this.tryStarted = performance.now();
      },
    };
    this.attempt();
  }

  /**
   * Starts the route's timeout once the whole request is in hand (or sent on, when streamed): Envoy's
   * route timeout runs from the request's end to the answer's end (as the HTTP/2 path's), so an
   * upload slower than the timeout is not answered 504 while its client still sends.
   */
  private armDeadline(): void {
    const timeout = this.opts.route?.timeout;
    if (timeout === undefined || this.timer !== undefined || this.concluded) return;
    this.deadline = performance.now() + timeout;
    this.timer = setTimeout(() => {
      this.timedOut = true;
      if (!this.idle()) return this.call?.abort();
      // A retry waiting its back-off: the deadline is the deadline (Envoy answers 504 then too).
      if (!this.res.headersSent) reply(this.res, 504, 'upstream-timeout', 'upstream did not answer in time');
      this.conclude(504, this.ep);
    }, timeout);
  }

  private attempt(): void {
    this.backoff = undefined;
    // Given up meanwhile (the client left, the route's deadline passed): nothing more is sent.
    if (this.concluded) return;
    const { req, res, opts } = this;
    const cluster = (this.cluster = opts.current?.(opts.cluster) ?? opts.cluster);
    const ep = cluster.pick(req, this.tried);
    if (!ep) {
      reply(res, 503, 'no-healthy-upstream', `no ready endpoint for ${cluster.name}`);
      this.conclude(503, undefined);
      return;
    }
    if (cluster.overflowing(ep)) {
      reply(res, 503, 'overflow', `connection pool of ${cluster.name} is full (maxConnections + maxPendingRequests)`);
      this.conclude(503, ep);
      return;
    }
    const retry = opts.route?.retries;
    const n = this.n;
    const idempotent = IDEMPOTENT.has(this.method) || retry?.nonIdempotent === true;
    this.platformLeft = this.replayable && n < Math.max(PLATFORM_RETRIES, retry?.attempts ?? 0);
    this.userLeft = this.replayable && retry !== undefined && n < retry.attempts && idempotent;
    let headersTimeout = retry?.perTryTimeout;
    if (this.deadline !== Infinity) headersTimeout = Math.max(1, Math.min(headersTimeout ?? Infinity, this.deadline - performance.now()));
    this.ep = ep;
    this.status = 0;
    this.retrying = false;
    this.settled = false;
    ep.active++;
    // One request object for all attempts (the previous attempt's call is over when the next starts).
    const up = (this.upstreamRequest ??= { method: this.method, path: this.path, headers: req.headers, body: null, smallReads: this.windowed });
    up.body = this.body;
    if (this.bodyLength !== undefined) up.bodyLength = this.bodyLength;
    up.headersTimeout = headersTimeout;
    this.tryStarted = retry?.perTryTimeout !== undefined ? performance.now() : 0;
    this.call = opts.pools.get(ep, cluster.pool).request(up, this);
  }

  onHead(statusCode: number, head: UpstreamHead): boolean {
    this.status = statusCode;
    const retry = this.opts.route?.retries;
    // Read on 5xx answers only (rare): a peer proxy's own answer says why in it; an app's own is
    // stripped of it below, so that the header always means a proxy said so.
    const reason = statusCode >= 500 ? head.get(REASON_HEADER) : undefined;
    const neverReachedApp = statusCode === 503 && reason !== undefined && !this.opts.app && NOT_DELIVERED.has(reason);
    if ((neverReachedApp && this.platformLeft) || (this.userLeft && retry && ((retry.fiveXx && statusCode >= 500) || (retry.gateway && statusCode >= 502 && statusCode <= 504)))) {
      this.retrying = true;
      return false;
    }
    const { res } = this;
    // The callee's proxy could not deliver a service invocation (its app down, not ready, …): the
    // caller gets daprd's answer (reply()'s invocation form), not the peer's text.
    if (reason !== undefined && !this.opts.app && invocations.has(res)) {
      this.answeredForPeer = true;
      this.status = 500;
      reply(res, statusCode, reason, `the callee's proxy answered ${statusCode}`);
      return true;
    }
    this.opts.tap?.head(statusCode, head.list());
    if (retry?.perTryTimeout !== undefined) {
      // The try's deadline goes on over the body: a stalled body is cut as a route timeout cuts it.
      this.tryTimer = setTimeout(() => {
        this.timedOut = true;
        this.call?.abort();
      }, Math.max(1, this.tryStarted + retry.perTryTimeout - performance.now()));
    }
    const ops = this.opts.route?.responseHeaders;
    const dropReason = reason !== undefined && this.opts.app === true;
    if (ops || dropReason) {
      const obj = headerObject(head);
      if (dropReason) delete obj[REASON_HEADER];
      applyHeaderOps(obj, ops);
      res.writeHead(statusCode, obj as http.OutgoingHttpHeaders);
    } else if (this.lean) (res as LeanResponse).writeHeadLines(statusCode, head, head.contentLength);
    else res.writeHead(statusCode, head.list());
    return true;
  }

  onData(chunk: Buffer): boolean {
    const { res } = this;
    if (res.destroyed || this.answeredForPeer) return true;
    this.opts.tap?.data(chunk);
    if (this.lean) {
      // Written uncopied: if the client's socket still holds it queued, the upstream socket reads
      // into a fresh buffer next; reading goes on until QUEUE_LIMIT bytes wait for the client.
      const queued = (res as LeanResponse).writeShared(chunk);
      if (queued <= 0) return true;
      this.call!.keep();
      if (queued < QUEUE_LIMIT) return true;
    } else if (this.windowed) {
      // An HTTP/2 stream holds what it is given until the client's window lets it out: it is handed
      // the read itself, not a copy beside the socket's own buffer, and gives the buffer back once
      // sent (the upstream socket reads into another next). A stream waiting on its window holds one
      // read of 256 KiB; copies of 1 MiB reads held 1 MiB each, and as much again as garbage.
      const call = this.call!;
      const own = call.hand();
      // Reads grow (to 512 KiB) while each finds at most a small read queued on the stream (where a
      // 'drain' resumes reading): the client takes the answer as fast as it comes. Once the queue
      // grows past that (the client's window is closing), they stay at 128 KiB. Grown only on an
      // empty queue, a fast download fell back to 128 KiB reads after each pause (+50 % CPU).
      call.readSizes = res.writableLength! <= H2_READ_SIZES[0] ? H2_READ_SIZES : H2_BACKED_UP_READ_SIZES;
      if (res.writeRead!(chunk, own !== undefined && isViewOf(chunk, own) ? own : undefined)) return true;
    } else if (res.write(Buffer.from(chunk))) return true;
    // Once per pause: a socket read carries many chunks, each refused while the client is slow.
    if (!this.drainWaiting) {
      this.drainWaiting = true;
      res.once('drain', (this.onDrain ??= () => {
        this.drainWaiting = false;
        this.call?.resume();
      }));
    }
    return false;
  }

  onEnd(): void {
    if (!this.retrying && !this.answeredForPeer) this.res.end();
    this.settle(undefined);
  }

  onError(err: UpstreamError): void {
    this.settle(err);
  }

  private settle(err: UpstreamError | undefined): void {
    if (this.settled) return;
    this.settled = true;
    const { res, opts, status } = this;
    const ep = this.ep!;
    const cluster = this.cluster;
    const retry = opts.route?.retries;
    ep.active--;
    const outcome = err && status === 0 ? classify(err) : status;
    // A client that went away says nothing about the endpoint (outlier detection); a timeout does.
    if (err?.code !== 'ABORTED' || this.timedOut) cluster.record(ep, outcome);
    if (this.tryTimer) clearTimeout(this.tryTimer);
    this.tryTimer = undefined;
    if (!err && !this.retrying) {
      this.conclude(status, ep);
      return;
    }
    const timedOut = this.timedOut || err?.code === 'HEADERS_TIMEOUT' || err?.code === 'SEND_TIMEOUT';
    if (err?.code === 'ABORTED' && !this.timedOut) {
      // The client went away: nothing to answer.
      this.conclude(0, ep);
      return;
    }
    let again = this.retrying;
    if (!again && err && !this.timedOut && status === 0) {
      if (outcome === CONNECT_FAILURE) again = this.platformLeft;
      // A malformed answer is the app's, and it would be the same again: the platform does not retry
      // it on its own (a route's `reset` retries still do, as Envoy counts protocol errors as resets).
      else if (outcome === RESET) again = (this.userLeft && retriesFailedTry(retry!)) || (this.platformLeft && IDEMPOTENT.has(this.method) && err.code !== 'BAD_RESPONSE');
      else if (outcome === 504) again = this.userLeft && retry!.perTryTimeout !== undefined && retriesFailedTry(retry!) && performance.now() < this.deadline;
    }
    // Not `req.destroyed`: a request is destroyed once its body has been read, which is when a body in hand is sent again.
    if (again && !res.headersSent && !this.clientLeft) {
      (this.tried ??= new Set()).add(ep.id);
      // Back off a little: a peer that just registered may be a few milliseconds behind on its snapshot.
      // Envoy's retry back-off base (25 ms, doubling, at most 250 ms), without its jitter.
      const n = this.n++;
      this.backoff = setTimeout(() => this.attempt(), Math.min(RETRY_BACKOFF_MS * 2 ** n, 10 * RETRY_BACKOFF_MS));
      return;
    }
    if (res.headersSent) {
      res.destroy();
      this.conclude(status, ep);
      return;
    }
    if (timedOut || outcome === 504) reply(res, 504, 'upstream-timeout', 'upstream did not answer in time');
    else if (outcome === CONNECT_FAILURE) reply(res, 503, 'upstream-connect-failure', `cannot connect to ${ep.id}`);
    else if (this.retrying) reply(res, 503, 'upstream-unavailable', `no endpoint of ${cluster.name} could take the request`);
    else if (err?.code === 'BAD_RESPONSE') reply(res, 502, 'upstream-bad-response', `upstream ${ep.id} answered with a malformed response: ${err.message}`);
    else reply(res, 502, 'upstream-reset', `upstream ${ep.id} failed: ${err?.message ?? 'reset'}`);
    this.conclude(res.statusCode, ep);
  }
}
