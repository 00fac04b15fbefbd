// Mirrored copies (Istio's route `mirror`): a copy of a request goes to another cluster with its Host
// suffixed "-shadow"; its answer goes to the shadow diff or is discarded — the client only ever gets
// the primary's. A request body is copied from what the primary sends (the exchange's tap), and the
// copy goes once the body has ended, with its length, as Envoy's shadow policy buffers the request
// before it shadows it: bodies up to MIRROR_BODY_LIMIT, and at most MIRROR_BUFFER_LIMIT held for all
// copies waiting at once. A body over either limit, or one that never ends (the client left, the
// primary failed), sends no copy and nothing is counted for it.
import type { Cluster } from './cluster.js';
import { applyHeaderOps, type Pools } from './forward.js';
import type { MeshHeaderOps } from '../../lib/mesh-protocol.js';
import { headersSayBody } from './http-syntax.js';
import type { ExchangeTap } from './recorder.js';
import type { RequestHead } from './routes.js';
import type { UpstreamHandlers } from './upstream-client.js';
import { performance } from 'node:perf_hooks';
import { propagateTrace, validTraceparent } from './trace.js';

/** How long a mirrored copy may take after its primary ended, when the route sets no timeout. */
export const MIRROR_TIMEOUT_MS = 15_000;
/** Copies sent and not answered at most (each may hold 2 × 256 KiB to compare); beyond, a request is not copied. */
export const MAX_MIRRORS_IN_FLIGHT = 64;
/** A request body larger than this is not copied (Envoy's default per-connection buffer limit). */
export const MIRROR_BODY_LIMIT = 1024 * 1024;
/** Body bytes held for all copies at once; a copy that would pass it is dropped. */
export const MIRROR_BUFFER_LIMIT = 16 * 1024 * 1024;

/** A copy's place in its trace: its own span, a child of the primary hop's (the span copySpan() read). */
export interface CopySpanIds {
  traceId: string;
  spanId: string;
  parentId: string;
  sampled: boolean;
}

/**
 * A sent copy is over (settled once): `status` is its answer's, or 502 / 504 (the copy's timeout)
 * when it failed without one; `start` is epoch milliseconds, `elapsedMs` from sending to the end.
 */
export type CopySettled = (span: CopySpanIds, status: number, start: number, elapsedMs: number) => void;

/**
 * A copy is a call of its own: it keeps the trace (id and flags) but gets a span id of its own, as
 * Envoy gives a shadow request a child span — with the primary's, the shadow's server span and the
 * primary upstream's would both claim one parent call. Returns the copy's span (undefined: the
 * request came with no valid `traceparent`), which the proxy records once the copy is over so that
 * the shadow's spans hang under the hop that copied them, not apart as a second root.
 */
export function copySpan(headers: Record<string, string | string[] | undefined>): CopySpanIds | undefined {
  const cur = headers.traceparent;
  if (typeof cur !== 'string') return undefined;
  propagateTrace(headers);
  const now = headers.traceparent as string;
  if (!validTraceparent(cur) || now.slice(3, 35) !== cur.slice(3, 35)) return undefined;
  return { traceId: now.slice(3, 35), spanId: now.slice(36, 52), parentId: cur.slice(36, 52), sampled: (parseInt(now.slice(53, 55), 16) & 1) === 1 };
}

/**
 * A copy's Host: "-shadow" after the host name, before any port, as Envoy does (`orders:8080` →
 * `orders-shadow:8080`; after the port, servers that parse the port refuse the request).
 */
export function shadowHost(host: string): string {
  const m = /^(\[[^\]]*\]|[^:]*)(:\d*)?$/.exec(host);
  return m ? `${m[1]}-shadow${m[2] ?? ''}` : `${host}-shadow`;
}

const DISCARD: UpstreamHandlers = { onHead: () => false, onData: () => true, onEnd: () => {}, onError: () => {} };

/**
 * Sends a copy with its body (null: none); its answer goes to `to`. Undefined when the mirror has no
 * endpoint to take it. HTTP/1.1 copies go through an upstream pool, HTTP/2 ones on a stream (h2-mirror.ts).
 */
export type MirrorSender = (body: Buffer | null, to: UpstreamHandlers) => { abort(): void } | undefined;

/** What a copy reports when it is over: its span (copySpan) to `settled`. */
export interface CopyReport {
  span: CopySpanIds | undefined;
  settled: CopySettled | undefined;
}

/** The mirrored copies one proxy sends, with their limits. */
export class Mirrors {
  private inFlight = 0;
  private buffered = 0;

  constructor(private readonly pools: Pools) {}

  /** Copies sent and not yet answered, and the body bytes copies still collecting hold. */
  get load(): { copies: number; bytes: number } {
    return { copies: this.inFlight, bytes: this.buffered };
  }

  /**
   * Begins a copy of the HTTP/1.1 request `req` to `cluster`: its headers as they are now, with the
   * route's request rewrites `ops` (the copy is the request the primary's upstream gets, as Envoy's
   * shadow). The copy's answer goes to `answerTo` (a shadow comparison) or is discarded; `timeoutMs`
   * is the route's timeout (none: the copy may run as long as the primary, then MIRROR_TIMEOUT_MS).
   * A bodiless request's copy is sent at once; otherwise the returned copy's tap collects the body
   * and sends on its end. `settled` hears of the copy's span when it is over. Undefined: no copy.
   */
  begin(
    cluster: Cluster,
    req: RequestHead,
    ops: MeshHeaderOps | undefined,
    answerTo: UpstreamHandlers | undefined,
    timeoutMs: number | undefined,
    settled?: CopySettled,
  ): MirrorCopy | undefined {
    // A content coding on the message itself (`gzip, chunked`) would reach the copy as a plain body.
    const te = req.headers['transfer-encoding'];
    if (te !== undefined && !/^[\t ]*chunked[\t ]*$/i.test(String(te))) return undefined;
    const headers = { ...req.headers };
    applyHeaderOps(headers, ops);
    headers.host = shadowHost(req.headers.host ?? cluster.name);
    delete headers.connection;
    const span = copySpan(headers);
    const head = { method: req.method ?? 'GET', path: req.url ?? '/', headers };
    const send: MirrorSender = (body, to) => {
      const ep = cluster.pick(head, undefined);
      // Its own pool: copies never wait for, or take, the connections real requests use.
      return ep && this.pools.get(ep, cluster.pool, true).request({ ...head, body }, to);
    };
    return this.start(headersSayBody(req.headers), Number(req.headers['content-length']), send, answerTo, timeoutMs, { span, settled });
  }

  /**
   * Begins a copy sent by `send` (an HTTP/2 stream's, h2-mirror.ts), as begin() does; `hasBody`:
   * the request has a body to collect, `declared` its length if it said one.
   */
  start(
    hasBody: boolean,
    declared: number,
    send: MirrorSender,
    answerTo: UpstreamHandlers | undefined,
    timeoutMs: number | undefined,
    report?: CopyReport,
  ): MirrorCopy | undefined {
    if (declared > MIRROR_BODY_LIMIT || declared > MIRROR_BUFFER_LIMIT - this.buffered) return undefined;
    const copy = new MirrorCopy(this, send, answerTo ?? DISCARD, timeoutMs, report);
    // Bodiless: sent now (undefined when it is not: no endpoint, or too many copies in flight).
    if (!hasBody) return copy.send(null) ? copy : undefined;
    return copy;
  }

  /** `n` more body bytes to hold; false (nothing reserved) when that passes the shared limit. */
  reserve(n: number): boolean {
    if (this.buffered + n > MIRROR_BUFFER_LIMIT) return false;
    this.buffered += n;
    return true;
  }

  unreserve(n: number): void {
    this.buffered -= n;
  }

  /**
   * A copy is to be sent: false when MAX_MIRRORS_IN_FLIGHT are out already (a shadow that stopped
   * answering must not pile up sockets and comparisons). Only sent copies count: copies still
   * collecting a body (a long gRPC stream's) never keep others from being sent.
   */
  takeSlot(): boolean {
    if (this.inFlight >= MAX_MIRRORS_IN_FLIGHT) return false;
    this.inFlight++;
    return true;
  }

  releaseSlot(): void {
    this.inFlight--;
  }
}

/**
 * The tap a mirrored exchange is forwarded with: the primary's body goes to `copy` (and to `rec`,
 * a recording, if any), its answer to `rec` and to `cmp` (the shadow comparison, if any).
 */
export function mirrorTap(rec: ExchangeTap | undefined, copy: MirrorCopy, cmp: ExchangeTap | undefined): ExchangeTap {
  return {
    requestBody: (c) => (rec?.requestBody(c), copy.requestBody(c)),
    requestEnd: () => (rec?.requestEnd?.(), copy.requestEnd()),
    head: (st, h) => (rec?.head(st, h), cmp?.head(st, h)),
    data: (c) => (rec?.data(c), cmp?.data(c)),
    trailers: (t) => (rec?.trailers?.(t), cmp?.trailers?.(t)),
  };
}

/** One copy: collects the request body from the primary's tap, then is sent and answered. */
export class MirrorCopy implements Pick<ExchangeTap, 'requestBody' | 'requestEnd'> {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Sent or dropped: nothing more is collected. */
  private closed = false;
  /** Sent and not answered yet. */
  private out = false;
  private primaryOver = false;
  private call: { abort(): void } | undefined;
  private deadline: NodeJS.Timeout | undefined;

  constructor(
    private readonly mirrors: Mirrors,
    private readonly sender: MirrorSender,
    private readonly to: UpstreamHandlers,
    /** The route's timeout; undefined: none (the copy may take as long as the primary, then MIRROR_TIMEOUT_MS). */
    private readonly timeoutMs: number | undefined,
    private readonly report?: CopyReport,
  ) {}

  /** A piece of the body as the primary sends it (a view of a reused buffer: copied). */
  requestBody(chunk: Buffer): void {
    if (this.closed || chunk.length === 0) return;
    if (this.size + chunk.length > MIRROR_BODY_LIMIT || !this.mirrors.reserve(chunk.length)) return this.drop();
    this.chunks.push(Buffer.from(chunk));
    this.size += chunk.length;
  }

  /** The body has ended: the copy goes with it. */
  requestEnd(): void {
    if (this.closed) return;
    this.send(this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks));
  }

  /**
   * The primary exchange is over: a copy still collecting its body will never have it whole; a
   * copy out without the route's timeout has MIRROR_TIMEOUT_MS more (Envoy gives a shadow the
   * route's timeout, and Istio's default is none: a long gRPC stream's copy is not cut at 15 s
   * while its primary still runs).
   */
  primaryDone(): void {
    this.primaryOver = true;
    if (!this.closed) return this.drop();
    if (this.out && !this.deadline) this.arm(MIRROR_TIMEOUT_MS);
  }

  /** Sends the copy; false when it is not (no endpoint in the mirror cluster, or too many copies out). */
  send(body: Buffer | null): boolean {
    this.closed = true;
    const held = this.size;
    this.chunks = [];
    this.size = 0;
    if (held) this.mirrors.unreserve(held);
    if (!this.mirrors.takeSlot()) return false;
    this.out = true;
    const sentAt = performance.now();
    let answered = 0;
    const over = (status: number): void => {
      if (!this.out) return;
      this.out = false;
      clearTimeout(this.deadline);
      this.mirrors.releaseSlot();
      const span = this.report?.span;
      if (span?.sampled) {
        const elapsed = performance.now() - sentAt;
        // Wall clock at the end minus the monotonic duration, as the proxy's own spans.
        this.report?.settled?.(span, status, Date.now() - elapsed, elapsed);
      }
    };
    const { to } = this;
    const call = this.sender(body, {
      onHead: (status, head) => ((answered = status), to.onHead(status, head)),
      onData: (chunk) => to.onData(chunk),
      onTrailers: (flat) => to.onTrailers?.(flat),
      onEnd: () => (over(answered), to.onEnd()),
      onError: (err) => (over(answered || (/TIMEOUT|ABORTED/.test(err.code) ? 504 : 502)), to.onError(err)),
    });
    if (!call) {
      // Never sent (no endpoint): no span either.
      this.out = false;
      this.mirrors.releaseSlot();
      return false;
    }
    this.call = call;
    // The route's timeout bounds the copy too (aborted, it counts as an error); without one, the copy
    // has MIRROR_TIMEOUT_MS once the primary is over.
    if (this.timeoutMs !== undefined) this.arm(this.timeoutMs);
    else if (this.primaryOver) this.arm(MIRROR_TIMEOUT_MS);
    return true;
  }

  private arm(ms: number): void {
    const call = this.call;
    if (call && this.out) this.deadline = setTimeout(() => call.abort(), ms);
  }

  private drop(): void {
    this.closed = true;
    if (this.size) this.mirrors.unreserve(this.size);
    this.chunks = [];
    this.size = 0;
  }
}
