// Mirrored copies (Istio's route `mirror`): a copy of a request goes to another cluster with its Host
// suffixed "-shadow"; its answer goes to the shadow diff or is discarded — the client only ever gets
// the primary's. A request body is copied from what the primary sends (the exchange's tap), and the
// copy goes once the body has ended, with its length, as Envoy's shadow policy buffers the request
// before it shadows it: bodies up to MIRROR_BODY_LIMIT, and at most MIRROR_BUFFER_LIMIT held for all
// copies waiting at once. A body over either limit, or one that never ends (the client left, the
// primary failed), sends no copy and nothing is counted for it.
import type { Cluster } from './cluster.js';
import type { Pools } from './forward.js';
import { headersSayBody } from './http-syntax.js';
import type { ExchangeTap } from './recorder.js';
import type { RequestHead } from './routes.js';
import type { UpstreamHandlers } from './upstream-client.js';

/** How long a mirrored copy may take when its route sets no timeout (Envoy's default route timeout). */
export const MIRROR_TIMEOUT_MS = 15_000;
/** Copies in flight or collecting their body at most (each may hold 2 × 256 KiB to compare); beyond, a request is not copied. */
export const MAX_MIRRORS_IN_FLIGHT = 64;
/** A request body larger than this is not copied (Envoy's default per-connection buffer limit). */
export const MIRROR_BODY_LIMIT = 1024 * 1024;
/** Body bytes held for all copies at once; a copy that would pass it is dropped. */
export const MIRROR_BUFFER_LIMIT = 16 * 1024 * 1024;

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

/** The mirrored copies one proxy sends, with their limits. */
export class Mirrors {
  private inFlight = 0;
  private buffered = 0;

  constructor(private readonly pools: Pools) {}

  /** Copies in flight or collecting their body, and the body bytes they hold. */
  get load(): { copies: number; bytes: number } {
    return { copies: this.inFlight, bytes: this.buffered };
  }

  /**
   * Begins a copy of the HTTP/1.1 request `req` (its headers as they are now) to `cluster`; the
   * copy's answer goes to `answerTo` (a shadow comparison) or is discarded. A bodiless request's copy
   * is sent at once; otherwise the returned copy's tap collects the body and sends on its end.
   * Undefined: no copy.
   */
  begin(cluster: Cluster, req: RequestHead, answerTo: UpstreamHandlers | undefined, timeoutMs: number): MirrorCopy | undefined {
    const headers = { ...req.headers, host: shadowHost(req.headers.host ?? cluster.name) };
    delete headers.connection;
    const head = { method: req.method ?? 'GET', path: req.url ?? '/', headers };
    const send: MirrorSender = (body, to) => {
      const ep = cluster.pick(head, undefined);
      // Its own pool: copies never wait for, or take, the connections real requests use.
      return ep && this.pools.get(ep, cluster.pool, true).request({ ...head, body }, to);
    };
    return this.start(headersSayBody(req.headers), Number(req.headers['content-length']), send, answerTo, timeoutMs);
  }

  /**
   * Begins a copy sent by `send` (an HTTP/2 stream's, h2-mirror.ts), as begin() does; `hasBody`:
   * the request has a body to collect, `declared` its length if it said one.
   */
  start(hasBody: boolean, declared: number, send: MirrorSender, answerTo: UpstreamHandlers | undefined, timeoutMs: number): MirrorCopy | undefined {
    // A shadow that stopped answering must not pile up copies (sockets, comparisons) without end.
    if (this.inFlight >= MAX_MIRRORS_IN_FLIGHT) return undefined;
    if (declared > MIRROR_BODY_LIMIT || declared > MIRROR_BUFFER_LIMIT - this.buffered) return undefined;
    this.inFlight++;
    const copy = new MirrorCopy(this, send, answerTo ?? DISCARD, timeoutMs);
    // Bodiless: sent now (undefined when the mirror has no endpoint to take it).
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

  over(): void {
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
  /** Sent, dropped or over: nothing more is collected. */
  private closed = false;
  private deadline: NodeJS.Timeout | undefined;

  constructor(
    private readonly mirrors: Mirrors,
    private readonly sender: MirrorSender,
    private readonly to: UpstreamHandlers,
    private readonly timeoutMs: number,
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

  /** The primary exchange is over: a copy still collecting its body will never have it whole. */
  primaryDone(): void {
    if (!this.closed) this.drop();
  }

  /** Sends the copy; false when the mirror cluster has no endpoint (nothing will answer). */
  send(body: Buffer | null): boolean {
    this.closed = true;
    const held = this.size;
    this.chunks = [];
    const over = (): void => {
      if (held) this.mirrors.unreserve(held);
      this.size = 0;
      clearTimeout(this.deadline);
      this.mirrors.over();
    };
    const { to } = this;
    const call = this.sender(body, {
      onHead: (status, head) => to.onHead(status, head),
      onData: (chunk) => to.onData(chunk),
      onTrailers: (flat) => to.onTrailers?.(flat),
      onEnd: () => (over(), to.onEnd()),
      onError: (err) => (over(), to.onError(err)),
    });
    if (!call) {
      over();
      return false;
    }
    // The route's timeout (or Envoy's default 15 s) bounds the copy too: aborted, it counts as an error.
    this.deadline = setTimeout(() => call.abort(), this.timeoutMs);
    return true;
  }

  private drop(): void {
    this.closed = true;
    if (this.size) this.mirrors.unreserve(this.size);
    this.chunks = [];
    this.size = 0;
    this.mirrors.over();
  }
}
