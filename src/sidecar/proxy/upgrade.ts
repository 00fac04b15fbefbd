// HTTP/1.1 `Upgrade` requests (WebSocket, h2c upgrade): they are routed, throttled, rewritten,
// traced and counted like any request (proxy.ts runs them through the same steps); only the last
// step differs. The request goes to an endpoint on a connection of its own, and only a 101 answer
// makes a tunnel (bytes both ways, each side's end passed on after the bytes before it). Any other
// answer is forwarded as a normal response, hop-by-hop headers left out, and the connection stays
// HTTP: it goes back to the HTTP/1.1 server, so what the client sent behind the request is parsed,
// routed and limited like any request (it is closed instead when the answer's end is its close).
// Bytes behind the request reach the upstream unparsed only after a 101.
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { CONNECT_FAILURE, RESET } from './cluster.js';
import { ChunkedBodyDecoder } from './chunked.js';
import { REASON_HEADER } from '../../lib/mesh-protocol.js';
import { applyHeaderOps, NOT_DELIVERED, PLATFORM_RETRIES, reply, RETRY_BACKOFF_MS, type ForwardOptions } from './forward.js';
import { hasToken } from './http-syntax.js';
import type { ProxyRequest, ProxyResponse } from './listener.js';
import { scanHeaderLines, type ScannedHead } from './upstream-client.js';
import { extraLinesOf } from './request-headers.js';

/** Longest response head accepted from an upstream (as the HTTP/1.1 client's limit). */
const MAX_HEAD = 64 * 1024;
/** Bytes a client may send behind its request before the answer came (held, then sent or dropped). */
const MAX_EARLY = 64 * 1024;
/** Request headers that describe this connection; `upgrade` is re-added with `connection: upgrade`. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'expect', 'http2-settings']);
/**
 * How long a tunnel's socket may take to write out what is queued on it once its other side is gone
 * (BERTH_PROXY_TUNNEL_FLUSH_MS, for tests): a peer that stopped reading would otherwise hold it for ever.
 */
const FLUSH_MS = Number(process.env.BERTH_PROXY_TUNNEL_FLUSH_MS ?? 30_000) || 30_000;
/**
 * A tunnel with no byte either way for this long is closed (BERTH_PROXY_TUNNEL_IDLE_MS, for tests), as
 * Envoy's TCP proxy idle timeout (1 h): a peer gone without a FIN, or a side half-closed while the other
 * never ends, held both sockets and the app's connection for good.
 */
const TUNNEL_IDLE_MS = Number(process.env.BERTH_PROXY_TUNNEL_IDLE_MS ?? 3_600_000) || 3_600_000;

/**
 * Closes `s` (one side of a tunnel whose other side closed) once the bytes queued on it and its end
 * are written: destroyed while still writing, its peer would see a clean close with the tail missing.
 */
function closeAfterFlush(s: Duplex): void {
  if (s.destroyed) return;
  if (!s.writableEnded || s.writableFinished) return void s.destroy();
  const timer = setTimeout(() => s.destroy(), FLUSH_MS);
  s.once('finish', () => s.destroy());
  s.once('close', () => clearTimeout(timer));
}

/**
 * Once both directions of a tunnel ended, only flushing is left: both sockets close when their ends
 * are written (autoDestroy), or after FLUSH_MS if a peer stopped reading (no FIN-WAIT/CLOSE-WAIT for ever).
 */
function closeWhenBothEnded(a: Duplex, b: Duplex): void {
  let ended = 0;
  const onEnd = (): void => {
    if (++ended < 2) return;
    const timer = setTimeout(() => {
      a.destroy();
      b.destroy();
    }, FLUSH_MS);
    const onClose = (): void => {
      if (a.destroyed && b.destroyed) clearTimeout(timer);
    };
    a.once('close', onClose);
    b.once('close', onClose);
  };
  a.once('end', onEnd);
  if (b.readableEnded) onEnd();
  else b.once('end', onEnd);
}

/** The other side of a tunnel once `closed` closed: at once after a reset (error), else after its flush. */
function follow(closed: Duplex, other: Duplex): void {
  if (closed.errored) other.destroy();
  else closeAfterFlush(other);
}

/**
 * The response surface over the client's raw socket once node:http gave it up for an upgrade: for
 * answers the proxy makes itself (404, 403, 429, 503 …), always with `connection: close`.
 */
export class UpgradeResponse implements ProxyResponse {
  statusCode = 200;
  headersSent = false;
  writableFinished = false;
  private pending: Record<string, string> | undefined;
  private readonly onError = (): void => void this.socket.destroy();
  private readonly onFinish = (): void => void (this.writableFinished = true);
  /** Listeners the exchange put on the socket, taken off when it goes back to node:http. */
  private readonly added: [string, () => void][] = [];

  constructor(
    readonly socket: Duplex,
    /** Bytes the client sent after the request head (node:http's `head`). */
    readonly early: Buffer,
    /** Gives the connection back to the HTTP/1.1 server after a declined upgrade (absent: it closes). */
    readonly reuse?: (socket: Duplex, unread: Buffer) => void,
  ) {
    socket.on('error', this.onError);
    socket.once('finish', this.onFinish);
  }

  /** Runs `fn` when the socket closes, until release(). */
  onClose(fn: () => void): void {
    this.socket.once('close', fn);
    this.added.push(['close', fn]);
  }

  /**
   * Takes this exchange's listeners off the socket before it goes back to node:http (which handles
   * its errors from then on): each declined upgrade on a kept-alive connection left them, and their
   * closures (the request, the upstream socket), until the connection closed.
   */
  release(): void {
    this.socket.off('error', this.onError);
    this.socket.off('finish', this.onFinish);
    for (const [event, fn] of this.added) this.socket.off(event, fn);
    this.added.length = 0;
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  setHeader(name: string, value: string): this {
    (this.pending ??= {})[name.toLowerCase()] = value;
    return this;
  }

  writeHead(status: number, headers?: http.OutgoingHttpHeaders | string[]): this {
    if (this.headersSent) return this;
    this.statusCode = status;
    let head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    const all: [string, unknown][] = [...Object.entries(this.pending ?? {})];
    if (Array.isArray(headers)) for (let i = 0; i + 1 < headers.length; i += 2) all.push([headers[i], headers[i + 1]]);
    else if (headers) all.push(...Object.entries(headers));
    for (const [k, v] of all) {
      if (v === undefined || k.toLowerCase() === 'connection') continue;
      for (const x of Array.isArray(v) ? (v as unknown[]) : [v]) head += `${k}: ${String(x)}\r\n`;
    }
    if (!all.some(([k]) => k.toLowerCase() === 'date')) head += `date: ${new Date().toUTCString()}\r\n`;
    this.headersSent = true;
    if (this.socket.writable) this.socket.write(`${head}connection: close\r\n\r\n`, 'latin1');
    return this;
  }

  write(chunk: Buffer | string): boolean {
    if (!this.headersSent) this.writeHead(this.statusCode);
    return this.socket.writable ? this.socket.write(chunk) : true;
  }

  end(chunk?: Buffer | string): this {
    if (!this.headersSent) this.writeHead(this.statusCode);
    if (this.socket.writable) this.socket.end(chunk);
    return this;
  }

  destroy(): this {
    this.socket.destroy();
    return this;
  }

  once(event: 'close' | 'drain' | 'finish', fn: () => void): this {
    this.socket.once(event, fn);
    return this;
  }

  off(event: 'close' | 'drain' | 'finish', fn: () => void): this {
    this.socket.off(event, fn);
    return this;
  }
}

/** An answer head's x-berth-reason line (a proxy's own answer says why in it). */
const REASON_LINE = new RegExp(String.raw`\r\n${REASON_HEADER}:[ \t]*([^\r\n]*?)[ \t]*\r\n`, 'i');

/** The value of the x-berth-reason line in the head `buf[lineEnd, end)` ('' when it has none). */
function reasonIn(buf: Buffer, lineEnd: number, end: number): string {
  return REASON_LINE.exec(buf.toString('latin1', lineEnd, end + 2))?.[1] ?? '';
}

/** The request head sent upstream: end-to-end headers (after the route's rewrites) plus the upgrade itself. */
function requestHead(req: ProxyRequest): string {
  const h = req.headers;
  const named = new Set(HOP_BY_HOP);
  // Headers the client's Connection names are hop-by-hop too (RFC 9110 §7.6.1).
  for (const n of String(h.connection ?? '').split(',')) named.add(n.trim().toLowerCase());
  let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
  for (const name in h) {
    const v = h[name];
    if (v === undefined || named.has(name)) continue;
    for (const x of Array.isArray(v) ? v : [v]) head += `${name}: ${x}\r\n`;
  }
  // Further lines of a field node keeps once (two Authorization lines), while the field itself goes.
  const extra = extraLinesOf(h);
  if (extra) for (const [name, v] of extra) if (h[name] !== undefined && !named.has(name)) head += `${name}: ${v}\r\n`;
  if (typeof h.upgrade === 'string') head += `connection: upgrade\r\nupgrade: ${h.upgrade}\r\n`;
  return `${head}\r\n`;
}

/** Sends an upgrade request to an endpoint of `opts.cluster`: a tunnel on 101, a plain answer otherwise. */
export function forwardUpgrade(req: ProxyRequest, res: UpgradeResponse, opts: ForwardOptions): void {
  const { route } = opts;
  let cluster = opts.current?.(opts.cluster) ?? opts.cluster;
  const client = res.socket;
  if (req.headers['transfer-encoding'] !== undefined) {
    reply(res, 400, 'bad-request', 'an Upgrade request with a chunked body is not supported');
    opts.done?.(400, undefined);
    return;
  }
  applyHeaderOps(req.headers, route?.requestHeaders);
  let ep = cluster.pick(req, undefined);
  if (!ep) {
    reply(res, 503, 'no-healthy-upstream', `no ready endpoint for ${cluster.name}`);
    opts.done?.(503, undefined);
    return;
  }
  ep.active++;
  let finished = false;
  let status = 0;
  let timer: NodeJS.Timeout | undefined;
  /** A refused connection is tried again on another endpoint, as any request that reached no app. */
  let retries = 0;
  let backoff: NodeJS.Timeout | undefined;
  let tried: Set<string> | undefined;
  /** `outcome` undefined: the client went away, which says nothing about the endpoint (outlier detection). */
  const finish = (final: number, outcome: number | undefined): void => {
    if (finished) return;
    finished = true;
    client.off('end', onClientEnd);
    if (timer) clearTimeout(timer);
    if (backoff) clearTimeout(backoff);
    ep!.active--;
    if (outcome !== undefined) cluster.record(ep!, outcome);
    opts.done?.(final, ep);
  };

  // The request body (Content-Length only) goes up at once; what follows it waits for the answer.
  let need = Number(req.headers['content-length'] ?? 0) || 0;
  const bodyless = need === 0;
  const held: Buffer[] = [];
  let heldBytes = 0;
  // Half-open: an app that answers 101 and ends its side may still read the client's stream.
  let up = connectTo(ep);
  // Bytes that arrive before the upstream connection is up wait here (node:http stopped reading for
  // the socket's data at the upgrade: unread, they would be lost).
  let beforeConnect: Buffer[] | undefined = [res.early];
  const early = (c: Buffer): void => {
    if (beforeConnect) {
      beforeConnect.push(c);
      heldBytes += c.length;
      if (heldBytes >= MAX_EARLY) client.pause();
      return;
    }
    if (need > 0) {
      const n = Math.min(need, c.length);
      need -= n;
      // An app slow to read the body holds the client back (a body of any length was buffered here).
      if (!up.write(c.subarray(0, n))) {
        client.pause();
        resumeClient();
      }
      c = c.subarray(n);
    }
    if (c.length === 0) return;
    held.push(c);
    heldBytes += c.length;
    if (heldBytes >= MAX_EARLY) client.pause();
  };
  /** Reads the client again once neither the upstream's queue nor the held bytes stop it (before the answer). */
  const resumeClient = (): void => {
    if (status !== 0 || heldBytes >= MAX_EARLY) return;
    if (!up.writableNeedDrain) return void client.resume();
    if (up.listenerCount('drain') === 0) up.once('drain', resumeClient);
  };
  client.on('data', early);
  // node:http's sockets are half-open: a client's FIN before the answer would leave the endpoint's
  // connection and the request's concurrency slot held for ever. Nobody is left to answer.
  const onClientEnd = (): void => {
    if (status !== 0) return;
    up.destroy();
    finish(0, undefined);
    client.destroy();
  };
  client.once('end', onClientEnd);
  const onConnect = (): void => {
    up.write(requestHead(req), 'latin1');
    const pending = beforeConnect ?? [];
    beforeConnect = undefined;
    heldBytes = 0;
    for (const c of pending) early(c);
    resumeClient();
  };
  res.onClose(() => {
    // A tunnel's upload may still be flushing to the app; before that, nothing is owed upstream.
    if (status === 101) follow(client, up);
    else if (!up.destroyed) up.destroy();
    finish(status === 101 ? 101 : 0, status || undefined);
  });
  if (route?.timeout !== undefined) {
    timer = setTimeout(() => {
      if (status !== 0) return;
      up.destroy();
      reply(res, 504, 'upstream-timeout', 'upstream did not answer in time');
      finish(504, 504);
    }, route.timeout);
  }

  let buf: Buffer = Buffer.alloc(0);
  const onHead = (d: Buffer): void => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > MAX_HEAD) fail(502, 'upstream-bad-response', 'the upstream response head is too large');
        return;
      }
      const lineEnd = buf.indexOf('\r\n');
      const m = /^HTTP\/1\.([01]) (\d{3})/.exec(buf.toString('latin1', 0, lineEnd));
      if (!m) return fail(502, 'upstream-bad-response', 'the upstream answered with something other than HTTP/1.x');
      const code = Number(m[2]);
      if (code >= 100 && code < 200 && code !== 101) {
        // Interim answers (100 Continue) are this hop's business.
        buf = buf.subarray(end + 4);
        continue;
      }
      // Conflicting or unusable framing (two Content-Length values, Content-Length with Transfer-Encoding): as on the normal path.
      const scan = scanHeaderLines(buf, lineEnd + 2, end, m[1] === '0');
      if (scan.bad) return fail(502, 'upstream-bad-response', 'the upstream response has conflicting framing headers');
      // A peer proxy's own 503 saying the request never reached its app (not ready, draining, …): the
      // next endpoint is tried, as forward.ts does for plain requests — when no body went with it.
      if (code === 503 && !opts.app && bodyless && NOT_DELIVERED.has(reasonIn(buf, lineEnd, end)) && retryElsewhere(503)) {
        buf = Buffer.alloc(0);
        return;
      }
      status = code;
      if (timer) clearTimeout(timer);
      up.off('data', onHead);
      const rest = buf.subarray(end + 4);
      if (code === 101) return tunnel(buf, lineEnd, end, scan, rest);
      return plain(buf, lineEnd, scan, rest);
    }
  };
  const onUpError = (): void => {
    if (status === 0) {
      if (up.bytesWritten === 0) {
        if (!retryElsewhere(CONNECT_FAILURE)) fail(503, 'upstream-connect-failure', `cannot connect to ${ep!.id}`, CONNECT_FAILURE);
      } else fail(502, 'upstream-reset', `upstream ${ep!.id} failed`);
    } else client.destroy();
  };
  const closedEarly = (): void => {
    if (status === 0) fail(502, 'upstream-reset', `upstream ${ep!.id} closed the connection before answering`);
  };
  /** The upstream socket's listeners: the request goes on connect, then its answer is read. */
  const listenTo = (s: net.Socket): void => {
    s.once('connect', onConnect);
    s.on('data', onHead);
    s.on('error', onUpError);
    // Half-open, an upstream's end no longer closes its socket: an end before the answer is a failure.
    s.once('end', closedEarly);
    s.once('close', closedEarly);
  };
  listenTo(up);

  function connectTo(to: { port: number; host: string }): net.Socket {
    const s = net.connect({ port: to.port, host: to.host, allowHalfOpen: true });
    s.setNoDelay(true);
    return s;
  }

  /**
   * The connection was refused (nothing was sent), or a peer proxy said its app never got the
   * request (`outcome` 503): the next endpoint is tried after a back-off, up to the platform's
   * retries — an upgrade failed with 503 whenever it was given an endpoint that had just gone (a
   * rolling replacement) or was not ready yet, where every other request went on to another.
   */
  function retryElsewhere(outcome: number): boolean {
    if (finished || retries >= PLATFORM_RETRIES || client.destroyed) return false;
    const from = ep!;
    cluster.record(from, outcome);
    (tried ??= new Set()).add(from.id);
    // Each try picks from the table in force (an endpoint removed meanwhile is not tried).
    const now = opts.current?.(opts.cluster) ?? opts.cluster;
    const next = now.pick(req, tried);
    if (!next) return false;
    const failed = up;
    failed.off('connect', onConnect);
    failed.off('data', onHead);
    failed.off('end', closedEarly);
    failed.off('close', closedEarly);
    failed.destroy();
    from.active--;
    cluster = now;
    ep = next;
    ep.active++;
    backoff = setTimeout(
      () => {
        backoff = undefined;
        if (finished) return;
        up = connectTo(ep!);
        listenTo(up);
      },
      Math.min(RETRY_BACKOFF_MS * 2 ** retries++, 10 * RETRY_BACKOFF_MS),
    );
    return true;
  }

  function fail(code: number, reason: string, message: string, outcome = RESET): void {
    if (finished) return;
    up.destroy();
    reply(res, code, reason, message);
    finish(code, outcome);
  }

  /**
   * The header lines of an answer to forward: hop-by-hop ones and those its Connection names left
   * out (scanHeaderLines), the route's response rewrites applied.
   */
  function answerLines(scan: ScannedHead): string {
    let lines = scan.lines.toString('latin1');
    const ops = route?.responseHeaders;
    if (ops) {
      const obj: Record<string, string | string[] | undefined> = {};
      for (const line of lines.split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const k = line.slice(0, colon).toLowerCase();
        const v = line.slice(colon + 1).trim();
        const cur = obj[k];
        obj[k] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [cur, v];
      }
      applyHeaderOps(obj, ops);
      lines = '';
      for (const [k, v] of Object.entries(obj)) if (v !== undefined) for (const x of Array.isArray(v) ? v : [v]) lines += `${k}: ${x}\r\n`;
    }
    return lines;
  }

  /**
   * 101: the answer's end-to-end headers with the handshake made again for this hop (`connection:
   * upgrade` and the upstream's Upgrade value, as Envoy does): what the upstream's Connection named,
   * and Keep-Alive and the like, stay on its hop. Then bytes both ways.
   */
  function tunnel(buf: Buffer, lineEnd: number, end: number, scan: ScannedHead, rest: Buffer): void {
    client.off('data', early);
    const upgrade = /\r\nupgrade:[ \t]*([^\r\n]*?)[ \t]*\r\n/i.exec(buf.toString('latin1', lineEnd, end + 2));
    const handshake = `connection: upgrade\r\n${upgrade ? `upgrade: ${upgrade[1]}\r\n` : ''}`;
    client.write(`${buf.toString('latin1', 0, lineEnd + 2)}${answerLines(scan)}${handshake}\r\n`, 'latin1');
    if (rest.length > 0) client.write(rest);
    for (const c of held) up.write(c);
    held.length = 0;
    up.pipe(client);
    client.pipe(up);
    client.resume();
    closeWhenBothEnded(up, client);
    // Every byte of the tunnel, either way, goes through the upstream socket: its inactivity is the tunnel's.
    up.setTimeout(TUNNEL_IDLE_MS, () => {
      up.destroy();
      client.destroy();
    });
    // Each side's end reaches the other after the bytes before it (pipe ends it); a closed side
    // closes the other once that is written.
    up.once('close', () => follow(up, client));
  }

  /** Any other answer: a normal response (hop-by-hop headers out, the route's rewrites in), then the connection closes. */
  function plain(buf: Buffer, lineEnd: number, scan: ScannedHead, rest: Buffer): void {
    // What the client sent behind the request stays unread until the connection is HTTP again.
    client.off('data', early);
    client.pause();
    const lines = answerLines(scan);
    const noBody = req.method === 'HEAD' || status === 204 || status === 304;
    // A HEAD or 304 answer's framing describes the body it stands for (RFC 9110 §8.6); a 204 has none.
    const framing = status === 204 ? '' : scan.chunked ? 'transfer-encoding: chunked\r\n' : scan.length >= 0 ? `content-length: ${scan.length}\r\n` : '';
    const connection = req.headers.connection;
    const http10 = (req as { httpVersionMinor?: number }).httpVersionMinor === 0;
    // Kept open when the answer's end is known from its framing, the request's body went up whole
    // (the rest of an unread body would be parsed as requests: smuggling), and nobody asked to close.
    const keep = res.reuse !== undefined && !scan.close && need === 0 && (noBody || framing !== '') && (http10 ? hasToken(connection, 'keep-alive') : !hasToken(connection, 'close'));
    res.headersSent = true;
    res.statusCode = status;
    client.write(`${buf.toString('latin1', 0, lineEnd + 2)}${lines}${framing}${keep ? '' : 'connection: close\r\n'}\r\n`, 'latin1');
    const done = (): void => {
      up.destroy();
      client.off('drain', onDrain);
      finish(status, status);
      if (keep && !client.destroyed) {
        res.release();
        res.reuse!(client, held.length === 1 ? held[0] : Buffer.concat(held));
      } else client.end();
      held.length = 0;
    };
    const onDrain = (): void => void up.resume();
    if (noBody || (!scan.chunked && scan.length === 0)) return done();
    // The body is relayed as it came (same framing) up to its end.
    let left = scan.chunked ? Infinity : scan.length >= 0 ? scan.length : -1;
    const decoder = scan.chunked ? new ChunkedBodyDecoder() : undefined;
    const relay = (d: Buffer): void => {
      if (decoder) {
        const at = decoder.feed(d, () => {});
        if (at === 'error') {
          up.destroy();
          client.destroy();
          return finish(status, RESET);
        }
        if (at >= 0) {
          client.write(d.subarray(0, at));
          return done();
        }
        if (!client.write(d)) up.pause();
        return;
      }
      if (left >= 0 && d.length >= left) {
        client.write(d.subarray(0, left));
        return done();
      }
      if (left >= 0) left -= d.length;
      if (!client.write(d)) up.pause();
    };
    client.on('drain', onDrain);
    up.on('data', relay);
    // Close-delimited: the end of the body. Cut short: the client's connection is cut too.
    up.once('end', () => {
      if (decoder || left > 0) {
        client.destroy();
        finish(status, RESET);
      } else done();
    });
    if (rest.length > 0) relay(rest);
  }
}
