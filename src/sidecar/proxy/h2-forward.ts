// The HTTP/2 data path (h2c with prior knowledge, what gRPC uses): one request stream in, one stream
// out to an endpoint over HTTP/2 connections pooled per endpoint address (H2Sessions). Headers, the body in both
// directions (streaming, with flow control) and trailers (gRPC's status) pass through unchanged; a
// "trailers-only" answer (headers that end the stream) stays one. Routing, balancing, outlier
// ejection, limits and metrics are the same as for HTTP/1.1 (proxy.ts decides, this module sends);
// a route's mirror copies the stream (h2-mirror.ts) from what the tap sees. A stream the upstream refused unprocessed is opened again
// on another session, up to UNPROCESSED_RESENDS times (RFC 9113 8.7); one that reached no app (a connect failure, a peer proxy's "not delivered" 503)
// goes to another endpoint, as HTTP/1.1's; and the route's retries (retryOn, perTryTimeout) apply
// while nothing was relayed and the body so far is in hand, as Envoy's for HTTP/2 and gRPC.
import http2 from 'node:http2';
import { REASON_HEADER, type MeshHeaderOps } from '../../lib/mesh-protocol.js';
import { applyHeaderOps, IDEMPOTENT, NOT_DELIVERED, PLATFORM_RETRIES, RETRY_BACKOFF_MS } from './forward.js';
import { resetWhenAnswered } from './h2-early-answer.js';
import { cutStream, flatHeaders, h2Headers, H2_STREAM_WINDOW, sendableStatus, widenConnectionWindow } from './h2-streams.js';
import { grpcReplyHeaders, httpToGrpcStatus, isGrpcCall, noteGrpcCall } from './grpc-replies.js';
import { CONNECT_FAILURE, RESET, type Cluster } from './cluster.js';
import type { EndpointState } from './endpoints.js';
import { retriesFailedTry, type RequestHead, type RouteRetries } from './routes.js';
import type { ExchangeTap } from './recorder.js';
import { EXTRA_LINE_HEADER, extraLineFields } from './request-headers.js';

// For the listener, which loads the HTTP/2 modules only once a client speaks HTTP/2.
export { noteGrpcCall } from './grpc-replies.js';
export { H2_STREAM_WINDOW, widenConnectionWindow } from './h2-streams.js';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** Request body bytes kept to send again on a stream opened after a refusal; a longer body is not retried. */
const REPLAY_LIMIT = 64 * 1024;

/**
 * Times a request's stream the upstream never processed (refused, or left out by a GOAWAY) is opened
 * again on another session. More than once: an app that sends GOAWAY after every few streams leaves
 * out most of a burst again on the next session (20 in flight, GOAWAY after every 5th: up to three
 * refusals for one stream). Bounded: an app that refuses everything is answered 503 upstream-refused.
 */
export const UNPROCESSED_RESENDS = 5;

/** Errors node:http2 fails a stream with before it was ever sent (its session was going away, or closed, first). */
const NEVER_SENT: ReadonlySet<string> = new Set(['ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_INVALID_SESSION']);

/** An upstream HTTP/2 connection and how many of its streams are open. */
interface PooledSession {
  readonly session: http2.ClientHttp2Session;
  /** The address (host:port) it goes to. */
  readonly key: string;
  open: number;
  /** The peer's SETTINGS arrived: its stream limit is known. */
  settled: boolean;
  /** The connection was made: a stream failing now may have reached the peer (not a connect failure). */
  connected: boolean;
  /** The peer sent GOAWAY: streams already open finish, new ones go elsewhere. */
  goaway: boolean;
  /** The GOAWAY's last-stream-id: streams above it were never processed. */
  lastStreamId?: number;
  /** The GOAWAY's error code (node gives it to every stream the session's end takes down). */
  goawayCode?: number;
}

/**
 * Streams opened on a session before its peer's SETTINGS arrive, when no other session to the
 * address knows the limit: 100, the least RFC 9113 (5.1.2) asks a peer to allow, and what nghttp2
 * itself allows until then (more would wait in its queue). Berth's own listener allows 128.
 */
const UNSETTLED_MAX_STREAMS = 100;

/**
 * HTTP/2 sessions per upstream address, as Envoy's HTTP/2 pool: a stream goes on the first session
 * with room under its peer's SETTINGS_MAX_CONCURRENT_STREAMS, and a new session opens when all are
 * full. (One session per address queued stream 129 behind 128 long-lived ones for ever.) Sessions
 * are closed when the address leaves the routing table.
 */
export class H2Sessions {
  private readonly pools = new Map<string, PooledSession[]>();
  private readonly sessionOf = new WeakMap<http2.ClientHttp2Stream, PooledSession>();
  /** Streams counted in their session's `open` (uncounted once: on 'close', or when given up, see release()). */
  private readonly counted = new WeakSet<http2.ClientHttp2Stream>();

  /**
   * Opens a stream to `ep`, not on the session of `avoid` (one that refused it); throws as
   * ClientHttp2Session#request does. With `maxConnections`, no more sessions than that are opened
   * to the address: a stream beyond their streams waits in the fullest-free one's queue (nghttp2's).
   */
  request(ep: { host: string; port: number }, headers: http2.OutgoingHttpHeaders, options: http2.ClientSessionRequestOptions, avoid?: http2.ClientHttp2Stream, maxConnections?: number): http2.ClientHttp2Stream {
    const key = `${ep.host}:${ep.port}`;
    const p = this.pick(key, avoid && this.sessionOf.get(avoid), maxConnections);
    const stream = p.session.request(headers, options);
    p.open++;
    this.sessionOf.set(stream, p);
    this.counted.add(stream);
    stream.once('close', () => this.release(stream));
    return stream;
  }

  /**
   * `stream` no longer takes a place on its session: it closed, or it was given up. (A stream still
   * waiting in nghttp2's queue for a slot under the peer's limit emits 'close' only once dequeued:
   * counted until then, a cancelled waiting call held its pool place for as long as the peer was full.)
   */
  release(stream: http2.ClientHttp2Stream): void {
    if (!this.counted.delete(stream)) return;
    const p = this.sessionOf.get(stream)!;
    this.ended(p.key, p);
  }

  /** Whether `stream`'s connection was ever made (a failure before that reached no peer: a connect failure). */
  connected(stream: http2.ClientHttp2Stream): boolean {
    return this.sessionOf.get(stream)?.connected ?? false;
  }

  /**
   * Whether the peer never processed `stream` (RFC 9113 8.7): refused with REFUSED_STREAM (nghttp2
   * also closes so the streams a GOAWAY left out), above its session's GOAWAY last-stream-id, or
   * never sent because the session was going away.
   */
  unprocessed(stream: http2.ClientHttp2Stream, err?: NodeJS.ErrnoException): boolean {
    const p = this.sessionOf.get(stream);
    const last = p?.lastStreamId;
    if (last !== undefined && stream.id !== undefined && stream.id > last) return true;
    if (err?.code !== undefined && NEVER_SENT.has(err.code)) return true;
    // A GOAWAY with the code REFUSED_STREAM gives that code to the streams at or below its
    // last-stream-id too (node destroys the session with it): those the app may have processed.
    return stream.rstCode === NGHTTP2_REFUSED_STREAM && !(last !== undefined && p?.goawayCode === NGHTTP2_REFUSED_STREAM);
  }

  retain(keep: Set<string>): void {
    for (const [key, list] of this.pools) {
      if (keep.has(key)) continue;
      this.pools.delete(key);
      for (const p of list) p.session.close();
    }
  }

  closeAll(): void {
    for (const list of this.pools.values()) for (const p of list) p.session.close();
    this.pools.clear();
  }

  /**
   * Whether a stream to `ep` would overflow its connection pool (Envoy's HTTP/2 pool and Istio's
   * connectionPool): `maxConnections` sessions all at their peers' stream limits and
   * `maxPendingRequests` streams already waiting beyond them. (Counting streams against
   * maxConnections + maxPendingRequests, as an HTTP/1.1 pool counts requests, refused a third
   * long-lived gRPC stream under Istio's circuit-breaker sample, one connection and one pending.)
   */
  overflowing(ep: { host: string; port: number }, pool: { maxConnections?: number; maxPendingRequests?: number }): boolean {
    if (pool.maxConnections === undefined || pool.maxPendingRequests === undefined) return false;
    const list = (this.pools.get(`${ep.host}:${ep.port}`) ?? []).filter((p) => !p.goaway && !p.session.closed && !p.session.destroyed);
    if (list.length < pool.maxConnections) return false;
    const assumed = assumedLimit(list);
    let waiting = 0;
    for (const p of list) {
      const limit = streamLimit(p, assumed);
      if (p.open < limit) return false; // a session has room: the stream would not wait
      waiting += p.open - limit;
    }
    return waiting >= pool.maxPendingRequests;
  }

  /** The first session to `key` (other than `avoid`) that takes another stream, or a new one (at most `max` sessions: then the least busy). */
  private pick(key: string, avoid?: PooledSession, max = Infinity): PooledSession {
    let list = this.pools.get(key);
    if (!list) this.pools.set(key, (list = []));
    const assumed = assumedLimit(list);
    const free = list.find((p) => p !== avoid && hasRoom(p, assumed));
    if (free) return free;
    // At the cap, the least busy live session takes it (waiting in its queue); the avoided one only if it is the last.
    const live = list.filter((p) => !p.goaway && !p.session.closed && !p.session.destroyed);
    if (live.length >= max) {
      const others = live.filter((p) => p !== avoid);
      return (others.length > 0 ? others : live).reduce((a, b) => (b.open - streamLimit(b, assumed) < a.open - streamLimit(a, assumed) ? b : a));
    }
    const p = this.open(key);
    list.push(p);
    return p;
  }

  private open(key: string): PooledSession {
    const session = http2.connect(`http://${key}`, { maxSessionMemory: 16, settings: { initialWindowSize: H2_STREAM_WINDOW } });
    const p: PooledSession = { session, key, open: 0, settled: false, connected: false, goaway: false };
    session.on('error', () => {}); // each stream reports its own failure
    session.once('connect', () => {
      p.connected = true;
      widenConnectionWindow(session);
    });
    session.once('remoteSettings', () => (p.settled = true));
    // The peer closes it (an idle connection, a draining proxy): new streams go to another connection.
    session.once('goaway', (code: number, lastStreamId: number) => {
      p.goaway = true;
      p.lastStreamId = lastStreamId;
      p.goawayCode = code;
      this.forget(key, p);
    });
    session.once('close', () => this.forget(key, p));
    session.unref();
    return p;
  }

  /** A stream on `p` ended. A session left empty while another serves the address is closed: a burst's extra connections do not stay open for good. */
  private ended(key: string, p: PooledSession): void {
    p.open--;
    if (p.open > 0) return;
    const list = this.pools.get(key);
    if (!list || list.length < 2 || !list.includes(p)) return;
    this.forget(key, p);
    p.session.close();
  }

  private forget(key: string, p: PooledSession): void {
    const list = this.pools.get(key);
    const i = list ? list.indexOf(p) : -1;
    if (i < 0) return;
    list!.splice(i, 1);
    if (list!.length === 0) this.pools.delete(key);
  }
}

/** The stream limit of a session whose peer's SETTINGS did not come yet: most likely what the settled sessions already heard. */
function assumedLimit(list: readonly PooledSession[]): number {
  return list.find((p) => p.settled)?.session.remoteSettings.maxConcurrentStreams ?? UNSETTLED_MAX_STREAMS;
}

/** The peer's limit of concurrent streams on `p` (`assumed` until its SETTINGS came). */
function streamLimit(p: PooledSession, assumed: number): number {
  return p.settled ? (p.session.remoteSettings.maxConcurrentStreams ?? assumed) : assumed;
}

/** Whether `p` takes a new stream: open, no GOAWAY, and below its peer's stream limit. */
function hasRoom(p: PooledSession, assumed: number): boolean {
  if (p.goaway || p.session.closed || p.session.destroyed) return false;
  return p.open < streamLimit(p, assumed);
}

/**
 * Puts every field `raw` ([name, value, …], as node:http2 got them) has more than once into `out` as
 * the list of its values: node's header object joins them with ", " (two WWW-Authenticate
 * challenges became one) or keeps the first, and respond() sends a list as a field per value
 * (h2Headers still keeps the first of the fields node allows once).
 */
export function keepRepeatedFields(out: http2.OutgoingHttpHeaders, raw: readonly string[]): void {
  const lists = new Map<string, string[]>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    if (name[0] === ':') continue;
    const list = lists.get(name);
    if (list) list.push(raw[i + 1]);
    else lists.set(name, [raw[i + 1]]);
  }
  for (const [name, list] of lists) if (list.length > 1) out[name] = list;
}

/** The routing view of an HTTP/2 request: path, method and headers (`host` from `:authority`). */
export function h2RequestHead(headers: http2.IncomingHttpHeaders): RequestHead {
  const plain: Record<string, string | string[] | undefined> = {};
  for (const [k, v] of Object.entries(headers)) if (k[0] !== ':') plain[k] = v;
  if (headers[':authority'] !== undefined) plain.host = headers[':authority'];
  return { url: headers[':path'] ?? '/', method: headers[':method'] ?? 'GET', headers: plain };
}

/**
 * The metrics label of a gRPC status: one of gRPC's codes 0–16, anything else UNKNOWN (2), as gRPC
 * clients read it. An app's raw value made one series per distinct value (20,000 calls, 20,000 series).
 */
export function grpcStatusLabel(value: string): string {
  return /^(?:[0-9]|1[0-6])$/.test(value) ? value : '2';
}

/**
 * Answers a stream from the proxy itself (no upstream), saying why in the reason header; a gRPC call
 * gets the gRPC status for `status` with `message`, trailers-only (grpc-replies.ts).
 */
export function h2Reply(stream: http2.ServerHttp2Stream, status: number, reason: string, message: string, extra: Record<string, string> = {}): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    cutStream(stream);
    return;
  }
  if (isGrpcCall(stream)) return void stream.respond({ ...grpcReplyHeaders(status, message), [REASON_HEADER]: reason, ...extra }, { endStream: true });
  stream.respond({ ':status': status, 'content-type': 'text/plain; charset=utf-8', [REASON_HEADER]: reason, ...extra });
  stream.end(`${message}\n`);
}

export interface H2ForwardOptions {
  sessions: H2Sessions;
  cluster: Cluster;
  head: RequestHead;
  /** The route's timeout in ms (504 when no response came in time), counted from the end of the request. */
  timeout?: number;
  /** The route's response header rewrites. */
  responseHeaders?: MeshHeaderOps;
  /** The route's retry policy (gRPC calls are POSTs: retried only with `nonIdempotent`). */
  retries?: RouteRetries;
  /**
   * A stream that reached no app (a connect failure, a peer proxy's "not delivered" 503) is sent again
   * to another endpoint, as HTTP/1.1 requests are (forward.ts, PLATFORM_RETRIES): off for an inbound
   * proxy's own app, whose 503 is the app's.
   */
  platformRetries?: boolean;
  /** The cluster of the same name in the routing table in force (a retry picks from it). */
  current?(cluster: Cluster): Cluster;
  /** The cluster is this instance's own app: a proxy reason header in its answers is removed (see ForwardOptions.app). */
  app?: boolean;
  /** Sees the request body as it arrives and the answer as it is relayed (a route's mirror copy and its shadow diff). */
  tap?: ExchangeTap;
  /** Called once with the final status (0: the client went away) when the exchange ends; for gRPC also its status (1, CANCELLED, when the client went away). */
  done?(status: number, ep: EndpointState | undefined, grpcStatus?: string): void;
}

/** Envoy's grpcToHttpStatus: the HTTP status outlier detection counts for a gRPC status (UNAVAILABLE: 503). */
const GRPC_TO_HTTP = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

/** Forwards one HTTP/2 stream to an endpoint of `opts.cluster`. */
export function forwardH2(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, opts: H2ForwardOptions): void {
  noteGrpcCall(stream, headers);
  // Labelled with a gRPC status (gRPC and gRPC-Web): the proxy's own answers' form is noteGrpcCall's.
  const ct = headers['content-type'];
  const grpc = typeof ct === 'string' && ct.startsWith('application/grpc');
  let { cluster } = opts;
  const first = cluster.pick(opts.head, undefined);
  if (!first) {
    h2Reply(stream, 503, 'no-healthy-upstream', `no ready endpoint for ${cluster.name}`);
    opts.done?.(503, undefined, grpc ? '14' : undefined);
    return;
  }
  if (opts.sessions.overflowing(first, cluster.pool)) {
    h2Reply(stream, 503, 'overflow', `connection pool of ${cluster.name} is full (maxConnections + maxPendingRequests)`);
    opts.done?.(503, first, grpc ? '14' : undefined);
    return;
  }
  let ep: EndpointState = first;
  ep.active++;
  let status = 0;
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  let grpcStatus: string | undefined;
  /** The grpc-status of a trailers-only answer (headers that end the stream). */
  let trailersOnlyStatus: string | undefined;
  /** The upstream's head went out to the client (after it, a failure is a cut answer, not a proxy's own). */
  let relayed = false;
  /** Endpoints a retry avoids, how many retries were made, and the back-off before the next. */
  let tried: Set<string> | undefined;
  let retries = 0;
  let backoff: NodeJS.Timeout | undefined;
  const policy = opts.retries;
  /** Retries the route asks for: for idempotent methods, or for any with `nonIdempotent`. */
  const routeAttempts = policy && (policy.nonIdempotent || IDEMPOTENT.has(String(headers[':method']))) ? policy.attempts : 0;
  /** The attempt's own deadline (the route's perTryTimeout), from the end of the request. */
  let tryTimer: NodeJS.Timeout | undefined;
  /** `outcome` undefined: the client went away before any answer, which says nothing about the endpoint. */
  const finish = (final: number, outcome: number | undefined): void => {
    if (finished) return;
    finished = true;
    if (timer) clearTimeout(timer);
    if (backoff) clearTimeout(backoff);
    if (tryTimer) clearTimeout(tryTimer);
    ep.active--;
    // A trailers-only gRPC error counts as its status's HTTP equivalent (Envoy: UNAVAILABLE is a 503).
    if (outcome !== undefined) cluster.record(ep, outcome === status && trailersOnlyStatus !== undefined ? (GRPC_TO_HTTP[Number(trailersOnlyStatus)] ?? 500) : outcome);
    // A gRPC call without a status of its own is labelled as its client reports it: CANCELLED when the
    // client left, INTERNAL when its answer was cut after the head (RST_STREAM INTERNAL_ERROR), and
    // an HTTP error status (the proxy's own answer, trailers-only, or an app's) as gRPC maps it.
    const cutAfterHead = relayed && (outcome === RESET || outcome === 504);
    opts.done?.(final, ep, grpc ? (grpcStatus ?? (final === 0 ? '1' : cutAfterHead ? '13' : final >= 400 ? String(httpToGrpcStatus(final)) : undefined)) : undefined);
    replay = undefined;
    // Answered while the client still sends (by the upstream, or by this proxy after a retry's back-off,
    // the client's stream paused for it): the rest of the body is read and dropped — paused, the client
    // waited on a flow-control window for ever — and the stream is reset with NO_ERROR once the answer
    // is out, as an early answer is.
    if (!requestEnded && stream.headersSent && !stream.destroyed && !stream.closed) {
      stream.resume();
      resetWhenAnswered(stream);
    }
  };

  const out: http2.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = v;
  // A second Authorization (a field node:http2 sends once) goes to a peer proxy in a field of the
  // mesh's own, which it takes off and writes to the app as a line; an h2c app cannot be sent it.
  const extraFields = opts.app ? undefined : extraLineFields(headers);
  if (extraFields) out[EXTRA_LINE_HEADER] = extraFields;
  /** The upstream stream of the attempt in force (none while a retry backs off after a failed open). */
  let up: http2.ClientHttp2Stream | undefined;
  /**
   * Cuts the upstream stream while its request body is unfinished: RST_STREAM(CANCEL) alone.
   * (node's close(code) sends END_STREAM first, which passes a cut body off as whole; a stream
   * destroyed through its abort signal is reset with CANCEL and nothing else.) One per attempt.
   */
  let cut = new AbortController();
  let cancelled = false;
  /** Ends upstream stream `s` (of abort controller `c`) before its answer is whole. */
  const abandon = (s: http2.ClientHttp2Stream, c: AbortController): void => {
    opts.sessions.release(s);
    if (requestEnded || stream.endAfterHeaders) {
      if (!s.closed) s.close(NGHTTP2_CANCEL);
      else if (!s.destroyed) s.destroy();
    } else c.abort();
  };
  const cancel = (): void => {
    cancelled = true;
    if (backoff) clearTimeout(backoff);
    if (up) abandon(up, cut);
  };
  let trailers: http2.IncomingHttpHeaders | undefined;
  let requestTrailers: http2.IncomingHttpHeaders | undefined;
  /** The upstream's response is complete: what the client still sends is not forwarded. */
  let answered = false;
  let requestEnded = false;
  /** The request body so far, while the stream can still be opened again (undefined: it cannot). */
  let replay: Buffer[] | undefined = [];
  let replayBytes = 0;
  /** Times the stream was opened again after the upstream left it unprocessed (see reopen()). */
  let reopens = 0;

  /** Opens the upstream stream (again, after a refusal: not on `avoid`); false when it could not (answered, or retried). */
  const open = (avoid?: http2.ClientHttp2Stream): boolean => {
    for (;;) {
      cut = new AbortController();
      try {
        // A request without a body stays one (an HTTP/1.1 hop further on must not see an empty chunked body).
        // waitForTrailers: the client's request trailers (if any) follow its body ('wantTrailers' below).
        up = opts.sessions.request(ep, out, { endStream: stream.endAfterHeaders, waitForTrailers: !stream.endAfterHeaders, signal: cut.signal }, avoid, cluster.pool.maxConnections);
        break;
      } catch (err) {
        up = undefined;
        // The session picked was going away (closed between its GOAWAY and the pool's hearing of it): nothing was sent, another one is tried.
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== undefined && NEVER_SENT.has(code) && reopens < UNPROCESSED_RESENDS) {
          reopens++;
          continue;
        }
        if (retry(undefined, CONNECT_FAILURE)) return false;
        h2Reply(stream, 503, 'upstream-connect-failure', `cannot open a stream to ${ep.id}: ${(err as Error).message}`);
        finish(503, CONNECT_FAILURE);
        return false;
      }
    }
    attach(up);
    armTryTimeout();
    return true;
  };

  /** Sends the body so far (and its end, if it came) on the stream just opened. */
  const resend = (chunks: Buffer[]): void => {
    for (const chunk of chunks) up!.write(chunk);
    if (requestEnded && !up!.writableEnded) up!.end();
  };

  /**
   * `s` was refused before any answer (RST_STREAM REFUSED_STREAM, above its session's GOAWAY
   * last-stream-id, or never sent because its session was going away): the upstream never processed
   * it (RFC 9113 8.7), so it is opened again on another session with the body so far — whatever its
   * method, while that body is all in hand (≤ REPLAY_LIMIT) — as Envoy's pool does; up to
   * UNPROCESSED_RESENDS times, within the route's deadline (its timer keeps running). Not an endpoint
   * failure and not one of the route's retries: nothing is recorded or counted. (Only once, it left
   * most of a burst to an app that sends GOAWAY after every few streams answered 502.)
   */
  const reopen = (s: http2.ClientHttp2Stream, err?: NodeJS.ErrnoException): boolean => {
    if (reopens >= UNPROCESSED_RESENDS || cancelled || finished || status !== 0 || replay === undefined || stream.destroyed || stream.closed) return false;
    if (!opts.sessions.unprocessed(s, err)) return false;
    reopens++;
    opts.sessions.release(s);
    if (!s.destroyed) s.destroy();
    if (open(s)) resend(replay);
    return true;
  };

  /** Whether `s` failed unprocessed before any answer (see reopen()): the app is not to blame. */
  const neverProcessed = (s: http2.ClientHttp2Stream, err?: NodeJS.ErrnoException): boolean => status === 0 && opts.sessions.unprocessed(s, err);

  /**
   * `s` was left unprocessed once more than reopen() sends it again, and no retry takes it: answered
   * 503 upstream-refused, counted against no endpoint (outlier detection: a refusal is no app failure).
   * (One whose body is no longer all in hand could not be sent again: a 502 upstream-reset, as before,
   * though not counted against the endpoint either; see blame().)
   */
  const refusedForGood = (s: http2.ClientHttp2Stream, err?: NodeJS.ErrnoException): boolean => {
    if (replay === undefined || !neverProcessed(s, err)) return false;
    h2Reply(stream, 503, 'upstream-refused', `upstream ${ep.id} refused the stream unprocessed (sent ${reopens + retries + 1} times)`);
    finish(503, undefined);
    return true;
  };

  /** What a failed `s` counts against its endpoint: a reset, or nothing when the upstream provably never processed it. */
  const blame = (s: http2.ClientHttp2Stream, err?: NodeJS.ErrnoException): number | undefined => (neverProcessed(s, err) ? undefined : RESET);

  /**
   * The request reached no app (`s` failed to connect, or a peer proxy answered a "not delivered"
   * 503): it is sent again, after a back-off, to an endpoint not tried yet, from the routing table in
   * force — while nothing was answered and the body so far is in hand (≤ REPLAY_LIMIT). A failure
   * (`outcome`; none for a refused stream) counts against the endpoint (outlier detection), as on
   * HTTP/1.1. Meanwhile the client's stream is paused: HTTP/2 flow control holds the rest of its body.
   * `byRoute`: a retry the route's policy asks for (within its attempts), not the platform's own.
   * False when it cannot be.
   */
  const retry = (s: http2.ClientHttp2Stream | undefined, outcome: number | undefined, byRoute = false): boolean => {
    const left = byRoute ? retries < routeAttempts : opts.platformRetries === true && retries < Math.max(PLATFORM_RETRIES, policy?.attempts ?? 0);
    if (!left || cancelled || finished || replay === undefined || stream.headersSent || stream.destroyed || stream.closed) return false;
    retries++;
    if (tryTimer) clearTimeout(tryTimer);
    tryTimer = undefined;
    if (outcome !== undefined) cluster.record(ep, outcome);
    (tried ??= new Set()).add(ep.id);
    if (s) abandon(s, cut);
    up = undefined;
    status = 0;
    stream.pause();
    backoff = setTimeout(() => {
      backoff = undefined;
      if (finished || cancelled || stream.destroyed || stream.closed) return;
      cluster = opts.current?.(cluster) ?? cluster;
      const next = cluster.pick(opts.head, tried);
      if (!next) {
        h2Reply(stream, 503, 'no-healthy-upstream', `no ready endpoint for ${cluster.name}`);
        return finish(503, undefined);
      }
      if (opts.sessions.overflowing(next, cluster.pool)) {
        h2Reply(stream, 503, 'overflow', `connection pool of ${cluster.name} is full (maxConnections + maxPendingRequests)`);
        return finish(503, undefined);
      }
      ep.active--;
      ep = next;
      ep.active++;
      // Not opened: answered, or backing off again (paused still).
      if (!open()) return;
      resend(replay!);
      stream.resume();
    }, Math.min(RETRY_BACKOFF_MS * 2 ** (retries - 1), 10 * RETRY_BACKOFF_MS));
    return true;
  };

  /** A stream refused unprocessed once more (reopen() opens only one): another endpoint, not counted against this one. */
  const refusedAgain = (s: http2.ClientHttp2Stream, err?: NodeJS.ErrnoException): boolean => status === 0 && opts.sessions.unprocessed(s, err) && retry(s, undefined);

  /** `s` failed before its answer's head (a reset, a dropped connection): sent again if the route retries on `reset`, `5xx` or `gateway-error`. */
  const resetRetry = (s: http2.ClientHttp2Stream, err?: NodeJS.ErrnoException): boolean => status === 0 && policy !== undefined && retriesFailedTry(policy) && retry(s, neverProcessed(s, err) ? undefined : RESET, true);

  /**
   * The outcome to count for an answer the route retries on (its status, or a trailers-only gRPC
   * status's HTTP equivalent), or undefined: relayed as it is.
   */
  const retriedAnswer = (st: number, h: http2.IncomingHttpHeaders, endsStream: boolean): number | undefined => {
    if (!policy || opts.app) return undefined;
    if ((policy.fiveXx && st >= 500) || (policy.gateway && st >= 502 && st <= 504)) return st;
    const g = h['grpc-status'];
    if (endsStream && typeof g === 'string' && policy.grpc.has(grpcStatusLabel(g))) return GRPC_TO_HTTP[Number(g)] ?? 500;
    return undefined;
  };

  /**
   * The route's perTryTimeout, armed when the attempt is open and the request has ended (Envoy's
   * per-try timeout starts with the request's end, as the route's timeout here). Before the answer's
   * head the attempt is given up and, if the route retries, sent again (counted a 504 against the
   * endpoint); after it, the answer is cut, as HTTP/1.1's.
   */
  function armTryTimeout(): void {
    if (policy?.perTryTimeout === undefined || !up || finished || tryTimer || !(requestEnded || stream.endAfterHeaders)) return;
    tryTimer = setTimeout(() => {
      tryTimer = undefined;
      // A stream opened again after a refusal is the same attempt: its deadline stays.
      const s = up;
      if (!s || finished) return;
      if (status === 0 && retriesFailedTry(policy) && retry(s, 504, true)) return;
      cancel();
      if (!stream.headersSent) h2Reply(stream, 504, 'upstream-timeout', 'upstream did not answer in time');
      else cutStream(stream);
      finish(stream.headersSent && status ? status : 504, 504);
    }, policy.perTryTimeout);
  }

  const attach = (s: http2.ClientHttp2Stream): void => {
    s.on('response', (h: http2.IncomingHttpHeaders, flags: number, raw?: string[]) => {
      if (s !== up) return;
      const st = Number(h[':status'] ?? 0);
      // A peer proxy's own answer: a 503, or to a gRPC call a trailers-only UNAVAILABLE.
      const endsStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
      const reason = st === 503 || (endsStream && h['grpc-status'] === '14') ? h[REASON_HEADER] : undefined;
      if (typeof reason === 'string' && NOT_DELIVERED.has(reason) && !opts.app && retry(s, 503)) return;
      const retriedAs = retriedAnswer(st, h, endsStream);
      if (retriedAs !== undefined && retry(s, retriedAs, true)) return;
      replay = undefined;
      status = st;
      if (typeof h['grpc-status'] === 'string') grpcStatus = grpcStatusLabel(h['grpc-status']);
      if (grpcStatus !== undefined && (flags & NGHTTP2_FLAG_END_STREAM) !== 0) trailersOnlyStatus = grpcStatus;
      if (stream.destroyed || stream.closed) return;
      // The answer as the upstream gave it (a shadow diff compares it with the mirror's, both unrewritten; HTTP/1.1's tap too).
      const tapped = opts.tap && flatHeaders(h);
      const resHeaders: http2.OutgoingHttpHeaders = {};
      let fields = 0;
      for (const [k, v] of Object.entries(h)) {
        if (v === undefined) continue;
        resHeaders[k] = v;
        fields++;
      }
      // node joined (or dropped) repeated fields: each line goes on as a field of its own.
      if (raw && raw.length !== 2 * fields) keepRepeatedFields(resHeaders, raw);
      // The app's own answer never passes for a proxy's (an app relaying a proxy's 503 would have a POST sent again).
      if (opts.app) delete resHeaders[REASON_HEADER];
      if (opts.responseHeaders) applyHeaderOps(resHeaders as Record<string, string | string[] | undefined>, opts.responseHeaders);
      // An answer node cannot send (a status outside 200–599) is the app's fault: a 502, never a throw.
      let refused = sendableStatus(status) ? undefined : `status ${status}`;
      if (!refused) {
        try {
          // Trailers-only (e.g. a gRPC error): the headers end the stream.
          if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) stream.respond(h2Headers(resHeaders), { endStream: true });
          else stream.respond(h2Headers(resHeaders), { waitForTrailers: true });
          relayed = true;
          if (tapped) opts.tap!.head(status, tapped);
        } catch (err) {
          refused = (err as Error).message;
        }
      }
      if (refused === undefined) return;
      cancel();
      h2Reply(stream, 502, 'upstream-bad-response', `upstream ${ep.id} answered what HTTP/2 cannot carry: ${refused}`);
      finish(502, 502);
    });
    // Interim answers (100 Continue to an Expect, 103 Early Hints) are passed on before the final one.
    s.on('headers', (h: http2.IncomingHttpHeaders) => {
      if (s !== up) return;
      replay = undefined; // processed: never opened again
      const interim = Number(h[':status']);
      if (interim < 100 || interim > 199 || stream.headersSent || stream.destroyed || stream.closed) return;
      try {
        stream.additionalHeaders(h2Headers({ ...h }));
      } catch {
        // Not sendable as it came (a malformed interim head): the final answer still is.
      }
    });
    /** The upstream's answer is whole (its END_STREAM came, or its NO_ERROR close after it): the client's stream ends. */
    const answeredWhole = (): void => {
      answered = true;
      if (!stream.destroyed && stream.headersSent && !stream.writableEnded) stream.end();
      finish(status, status);
    };
    s.on('trailers', (t: http2.IncomingHttpHeaders) => {
      if (s !== up) return;
      trailers = t;
      if (typeof t['grpc-status'] === 'string') grpcStatus = grpcStatusLabel(t['grpc-status']);
      opts.tap?.trailers?.(flatHeaders(t));
    });
    s.on('wantTrailers', () => {
      // The request body ended (up.end()): the client's trailers, or none (an empty DATA frame with END_STREAM).
      if (s !== up) return;
      const t: http2.OutgoingHttpHeaders = {};
      if (requestTrailers) for (const [k, v] of Object.entries(requestTrailers)) if (v !== undefined && k[0] !== ':') t[k] = v;
      if (!s.destroyed && !s.closed) s.sendTrailers(t);
    });
    /** Passes a piece of the answer on (and to the tap); false when the client's stream wants a pause. */
    const pass = (chunk: Buffer): boolean => {
      opts.tap?.data(chunk);
      return stream.write(chunk);
    };
    s.on('data', (chunk: Buffer) => {
      if (s !== up || stream.destroyed || stream.closed || stream.writableEnded) return;
      if (!pass(chunk)) {
        s.pause();
        stream.once('drain', () => s.resume());
      }
    });
    s.on('end', () => {
      if (s !== up) return;
      // node ends a stream whose connection dropped (or that was reset) too, with no END_STREAM from
      // the upstream: an answer cut short, passed on as a reset (or a 502 before its head), never as whole.
      // Reset with NO_ERROR before any answer is a reset too: nothing was answered (it passed for a whole
      // answer of status 0, and the client waited for a head that never came).
      if (s.rstCode !== NGHTTP2_NO_ERROR || status === 0) {
        if (reopen(s) || refusedAgain(s) || resetRetry(s) || refusedForGood(s)) return;
        if (!stream.headersSent) h2Reply(stream, 502, 'upstream-reset', `upstream ${ep.id} reset the stream (code ${s.rstCode})`);
        else cutStream(stream);
        finish(stream.headersSent && status ? status : 502, blame(s));
        return;
      }
      answeredWhole();
      if (requestEnded) return;
      // Answered before the request body ended (a 401 to an upload). The upstream stream is done with:
      // cancelled, or, when the upstream already reset it (RST_STREAM NO_ERROR after its answer),
      // destroyed, since node keeps such a stream open while writes toward it are pending — its 'close'
      // never came and the client's stream waited on the window behind it forever. (finish() has the
      // client's stream reset with NO_ERROR once the answer is out, as Envoy does, its body dropped.)
      cancel();
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      // Cut by this proxy (cancel()): whatever had to be answered was.
      if (s !== up || cancelled) return;
      // The request's end (its trailers, which node sends a turn after sendTrailers()) met a stream
      // the upstream had closed with NO_ERROR once its answer was out (RFC 9113 §8.1: an answer
      // complete before the request's END_STREAM, e.g. a sized body read whole): node fails the
      // stream before the answer's 'end'. The answer came whole before that close, so when none of it
      // waits unread it ends as whole — the client's stream was cut with INTERNAL_ERROR instead (1 in
      // ~3,000 exchanges of the h2c soak through a sidecar pair). What the client had not taken yet
      // (the stream paused for it) is still in the destroyed stream's buffer: read from it and passed on.
      if (err.code === 'ERR_HTTP2_ERROR' && s.rstCode === NGHTTP2_NO_ERROR && status !== 0) {
        for (let c = s.read() as Buffer | null; c !== null; c = s.read() as Buffer | null) {
          if (stream.destroyed || stream.closed || stream.writableEnded) break;
          pass(c);
        }
        return answeredWhole();
      }
      if (reopen(s, err) || refusedAgain(s, err)) return;
      const code = err.code ?? '';
      // Only a connection that was never made is a connect failure: an errno on a live one (a host
      // gone unreachable mid-call) may come after the app had the request, which is never sent again.
      const connect = !opts.sessions.connected(s) && (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'EADDRNOTAVAIL' || (code === 'ERR_HTTP2_STREAM_CANCEL' && status === 0));
      if (connect ? retry(s, CONNECT_FAILURE) : resetRetry(s, err) || refusedForGood(s, err)) return;
      if (!stream.headersSent) {
        if (connect) h2Reply(stream, 503, 'upstream-connect-failure', `cannot connect to ${ep.id}`);
        else h2Reply(stream, 502, 'upstream-reset', `upstream ${ep.id} failed: ${code || err.message}`);
      } else cutStream(stream);
      finish(stream.headersSent && status ? status : connect ? 503 : 502, connect ? CONNECT_FAILURE : blame(s, err));
    });
    s.on('close', () => {
      // A paused upload waiting on this stream's window goes on (to the stream opened again, or
      // dropped) — not while a retry backs off (paused on purpose: the body waits for the next stream).
      if (!backoff) stream.resume();
      // Reset by the upstream after its headers (RST_STREAM): pass the reset on.
      if (s !== up || finished) return;
      if (reopen(s) || refusedAgain(s) || resetRetry(s) || refusedForGood(s)) return;
      if (!stream.headersSent) h2Reply(stream, 502, 'upstream-reset', `upstream ${ep.id} closed the stream`);
      else cutStream(stream);
      finish(status || 502, status ? status : blame(s));
    });
  };
  stream.on('wantTrailers', () => {
    // No trailers: sendTrailers({}) ends the stream with an empty DATA frame flagged END_STREAM. (close()
    // here used to answer RST_STREAM instead, and clients that saw the whole body never saw its end.)
    const t: http2.OutgoingHttpHeaders = {};
    if (trailers) for (const [k, v] of Object.entries(trailers)) if (v !== undefined && k[0] !== ':') t[k] = v;
    stream.sendTrailers(t);
  });
  // Not opened (answered 503): nothing more to do; a retry under way goes on below like an open stream.
  if (!open() && finished) return;

  // Request body (and client streaming), with flow control both ways.
  stream.on('data', (chunk: Buffer) => {
    opts.tap?.requestBody(chunk);
    if (replay) {
      // Kept for a stream opened again; a body past the cap is not (a refusal is then a 502).
      replayBytes += chunk.length;
      if (replayBytes > REPLAY_LIMIT) replay = undefined;
      else replay.push(chunk);
    }
    // The upstream answered and closed its stream before the body ended (a 401 to an upload): the rest
    // is read and dropped, so the client's upload and stream can end (paused, it waited on a window
    // forever). With no stream (a retry backing off) the piece is in `replay`.
    if (answered || !up || up.closed || up.destroyed) return;
    const to = up;
    if (!to.write(chunk)) {
      stream.pause();
      to.once('drain', () => stream.resume());
    }
  });
  // Arrives before 'end'; sent upstream once the body is (see 'wantTrailers').
  stream.on('trailers', (t: http2.IncomingHttpHeaders) => (requestTrailers = t));
  stream.on('end', () => {
    // A client's reset (or a dropped connection) ends the stream too, after 'aborted': its body is
    // cut, and END_STREAM upstream would pass it off as whole ('close' cancels the upstream stream).
    if (stream.aborted) return;
    requestEnded = true;
    opts.tap?.requestEnd?.();
    armTimeout();
    armTryTimeout();
    // After an early answer the upstream stream was cancelled: no END_STREAM (the body was not all sent).
    if (!answered && up && !up.writableEnded && !up.destroyed) up.end();
  });
  stream.on('close', () => {
    // The client went away (or reset): cancel upstream.
    if (up && !up.closed && !up.destroyed) cancel();
    // Not a failure of the endpoint's (outlier detection): counted as one, a few client cancels ejected a healthy endpoint.
    if (!finished) finish(0, status || undefined);
  });

  /**
   * The route's timeout runs from the end of the request to the end of the answer, as Envoy's route
   * timeout: a client-streaming or bidi call is not cut while its client is still sending.
   */
  function armTimeout(): void {
    if (opts.timeout === undefined || timer || finished) return;
    timer = setTimeout(() => {
      if (finished) return;
      cancel();
      if (!stream.headersSent) h2Reply(stream, 504, 'upstream-timeout', 'upstream did not answer in time');
      else cutStream(stream);
      // With nothing in flight (a retry backing off) no endpoint is to blame.
      finish(504, up ? 504 : undefined);
    }, opts.timeout);
  }
  if (stream.endAfterHeaders) armTimeout();
}
