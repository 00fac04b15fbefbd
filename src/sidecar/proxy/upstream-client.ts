// The proxy's HTTP/1.1 client: raw keep-alive sockets per upstream address, a request head written
// in one piece, and a response parsed only as far as forwarding needs (status line, headers,
// framing). Measured on the 2-core machine, a proxy pair using it moved about 3 × the requests of
// the same pair on undici's Pool.stream, at a lower RSS: the client side was the proxy's cost, not
// node:http's server side. Handles: content-length, chunked (decoded; node:http re-frames) and
// close-delimited bodies; HEAD/204/304 without body; interim 1xx answers skipped; a kept socket the
// server closed meanwhile retried once on a fresh one; pool limits (connections, requests per
// connection, waiting requests queued). Each socket reads into a buffer of its own (net's `onread`)
// and hands the bytes to the exchange they belong to: no buffer allocated and no stream machinery
// run per read. The buffer is reused for the next read, so a consumer either copies what it keeps
// beyond the onData call or says it kept the bytes (`keep()`: a write still queued on the client's
// socket): the socket then reads into a fresh buffer. Large bodies are so relayed without a copy.
// A connection goes back to the pool only when both the request and the response are complete (an
// early answer to an unfinished upload closes it); a kept connection that dies before any response
// byte is retried only for an idempotent request whose body is in hand (as undici does). Header
// bytes go out as they came in (latin1), headers named in `Connection` stay on this hop both ways,
// and a response with conflicting framing is refused (502 upstream), not guessed at.
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Readable } from 'node:stream';
import { ChunkedBodyDecoder } from './chunked.js';
import { skipPlainWords, TCHAR, tokenList } from './http-syntax.js';
import { connectionNamed, extraLinesOf } from './request-headers.js';
import { isPassThroughBody } from './client-reads.js';
import { readDirectly } from './direct-read.js';
import { probeClose } from './close-probe.js';
import { writeNow } from './direct-write.js';
import { blankLineFrom, copyBytes, GatheredBytes, giveBackReadBuffer, nextReadSize, readView, takeReadBuffer, wordsOver, type WordsCache } from './read-buffers.js';
import { NameTable } from './name-table.js';
import { BODY_TIMEOUT_MS } from './lean-server.js';

/** Headers never forwarded, either way: they describe one connection, not the message (RFC 9110 §7.6.1); `expect` is answered by this hop. */
/** Methods retried after a kept connection died before any response byte (undici's list). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const CRLF = Buffer.from('\r\n');
const STATUS_PREFIX = Buffer.from('HTTP/1.');
const EMPTY = Buffer.alloc(0);

const MAX_HEAD_BYTES = 64 * 1024;

/** statusLineEnd(): the status line is malformed. */
export const STATUS_LINE_BAD = -2;

/**
 * Where the status line at the start of `buf` (its first `n` bytes) ends: the index of its CR;
 * -1 when more bytes are needed; STATUS_LINE_BAD when it is malformed. As llhttp (the oracle test
 * checks it), and stricter where nginx is: `HTTP/1.0` or `HTTP/1.1`, SP, exactly three digits of
 * which the first is 1–9, then SP or the line's end (`2004`, `200x`, `200<TAB>` are no 200); no bare
 * CR or LF in the reason phrase.
 */
export function statusLineEnd(buf: Uint8Array, n: number): number {
  // "HTTP/1.x NNN" and the byte after it.
  if (n < 13) {
    // Too short to judge: a head that already ended here has no room for a status line.
    for (let i = 0; i + 3 < n; i++) if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return STATUS_LINE_BAD;
    return -1;
  }
  for (let i = 0; i < 7; i++) if (buf[i] !== STATUS_PREFIX[i]) return STATUS_LINE_BAD;
  const d0 = buf[9] - 48;
  const d1 = buf[10] - 48;
  const d2 = buf[11] - 48;
  if ((buf[7] !== 48 && buf[7] !== 49) || buf[8] !== 32 || !(d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9) || (buf[12] !== 32 && buf[12] !== 13)) return STATUS_LINE_BAD;
  // The line's end: its first CR, which must be followed by LF (a loop, not a native call).
  let at = 12;
  while (at < n && buf[at] !== 13 && buf[at] !== 10) at++;
  if (at >= n) return at > MAX_HEAD_BYTES ? STATUS_LINE_BAD : -1;
  if (buf[at] === 10) return STATUS_LINE_BAD;
  if (at + 1 >= n) return -1;
  return buf[at + 1] === 10 ? at : STATUS_LINE_BAD;
}
/** Idle kept connections are closed after 2 to 4 s, before a typical server's keep-alive timeout (Node: 5 s). */
const IDLE_CHECK_MS = 2000;
const CONNECT_TIMEOUT_MS = 2000;
/**
 * The sizes of a socket's read buffer: 256 KiB, 1 MiB while reads fill it (a large answer; see
 * nextReadSize). Allocated unzeroed: a socket that only ever carries small answers touches (and
 * makes resident) only the first pages of it.
 */
const READ_SIZES = [256 * 1024, 1024 * 1024] as const;
const READ_SIZE = READ_SIZES[0];
const READ_LARGEST = READ_SIZES[READ_SIZES.length - 1];
/**
 * The read sizes for an answer to an HTTP/2 stream (UpstreamRequest.smallReads), which holds each
 * read until the client's window lets it out: 128 KiB, and 512 KiB while reads fill it and the
 * stream keeps up (UpstreamCall.readSizes: each read found at most 128 KiB queued on the stream).
 * Fewer, larger reads cost less CPU per byte: one 64 MiB download (curl) took 110 ms in 1 MiB
 * reads, 115–123 ms growing to 512 KiB, 140–176 ms growing to 256 KiB, ~260 ms in 128 KiB only.
 */
export const H2_READ_SIZES: readonly number[] = [128 * 1024, 512 * 1024];
/** An HTTP/2 stream's answer whose stream has a queue (its client's window is closing): reads stay small. */
export const H2_BACKED_UP_READ_SIZES: readonly number[] = [128 * 1024];
/** Request body bytes queued on an upstream socket before the body stream is paused. */
const STREAM_QUEUE_LIMIT = 256 * 1024;
/**
 * How long a streamed request body may wait on an upstream that takes none of it (nginx's
 * proxy_send_timeout, 60 s; BERTH_PROXY_SEND_TIMEOUT_MS, else the client side's body timeout): an
 * app that stopped reading an upload and never answered held the client, the connection and the
 * request's slots for good — the client's body timeout does not run while the app holds it back.
 */
const SEND_TIMEOUT_MS = Number(process.env.BERTH_PROXY_SEND_TIMEOUT_MS) || BODY_TIMEOUT_MS;

export interface UpstreamLimits {
  maxConnections?: number;
  maxRequestsPerConnection?: number;
}

export interface UpstreamRequest {
  method: string;
  path: string;
  /** Request headers (lower-case names), hop-by-hop ones already removed. */
  headers: Record<string, string | string[] | undefined>;
  /** A body in hand (replayable), a stream (sent once), or none. */
  body: Buffer | Readable | null;
  /** A streamed body's length when the client declared one: sent with Content-Length, its bytes as they are; otherwise chunked. */
  bodyLength?: number;
  /** Time to wait for the response head, ms, from the request's end (a streamed body's end: Envoy's per-try timeout). */
  headersTimeout?: number;
  /** Sees each piece of a streamed body as it is sent (recording); valid only during the call. */
  onBodyChunk?: (chunk: Buffer) => void;
  /** A streamed body has ended, whole (a mirror's copy goes then). */
  onBodyEnd?: () => void;
  /**
   * The answer is read in H2_READ_SIZES, never 1 MiB at a time: an answer for an HTTP/2 stream,
   * which holds each read until the client's window lets it out.
   */
  smallReads?: boolean;
}

export interface UpstreamHandlers {
  /** The response head. Return false to discard the body (a retry follows). */
  onHead(status: number, head: UpstreamHead): boolean;
  /** A piece of the (decoded) body, valid only during this call (copy it to keep it); return false to pause until the call's `resume()`. */
  onData(chunk: Buffer): boolean;
  /** The answer's trailers, [name, value, …] (HTTP/2: a gRPC status); before onEnd. */
  onTrailers?(flat: string[]): void;
  onEnd(): void;
  /** Connection failure (nothing was sent), reset, timeout or abort. `phase` says whether a response head had arrived. */
  onError(err: UpstreamError): void;
}

/**
 * A request under way: `abort()` gives up on it (onError with ABORTED); `resume()` after onData
 * returned false; `keep()` during onData: the chunk's bytes are still referenced (a queued write),
 * so the socket must not read into them again.
 */
export interface UpstreamCall {
  abort(): void;
  resume(): void;
  keep(): void;
  /**
   * keep(), and the socket's read buffer (which the chunk in onData is a view of) is the caller's:
   * the socket never reads into it again, and the caller gives it back (giveBackReadBuffer) once
   * nothing holds a view of it. Undefined when there is none.
   */
  hand(): Buffer | undefined;
  /** The sizes the socket's next reads take (nextReadSize), when the answer is read for an HTTP/2 stream (smallReads). */
  readSizes: readonly number[];
}

/**
 * The header lines of a response to forward, as the bytes they came in ("Name: value\r\n" each;
 * hop-by-hop and malformed lines left out). Forwarding copies these bytes; the lines are only parsed
 * into strings when someone asks (header rewrites, node:http responses, the Berth reason header).
 */
export class UpstreamHead {
  private flat: string[] | undefined;
  /** Set by whoever wrote the lines out (LeanResponse): keepLines() has nothing left to keep then. */
  consumed = false;

  constructor(
    private headerLines: Buffer,
    /** The body's length as the upstream declared it (not in `lines`); -1 for none (chunked or close-delimited). */
    readonly contentLength: number,
    /** `headerLines` is a view of the read it came in (valid until the socket reads again): see keepLines(). */
    private view = false,
  ) {}

  /** The header lines to forward, "Name: value\r\n" each. */
  get lines(): Buffer {
    return this.headerLines;
  }

  /**
   * Called once the read the head came in is handled: lines still to be written are copied out of
   * the read buffer, which the socket's next read overwrites. Most answers are written within that
   * read (a small body comes with its head), so most heads are never copied.
   */
  keepLines(): void {
    if (!this.view || this.consumed) return;
    this.headerLines = Buffer.from(this.headerLines);
    this.view = false;
  }

  /** [name, value, …] as received (names keep their case). */
  list(): string[] {
    if (this.flat) return this.flat;
    const flat: string[] = [];
    const text = this.lines.toString('latin1');
    let pos = 0;
    while (pos < text.length) {
      const next = text.indexOf('\r\n', pos);
      const colon = text.indexOf(':', pos);
      // Only SP and HTAB surround a value (llhttp); a NBSP is part of it.
      let vs = colon + 1;
      let ve = next;
      while (vs < ve && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++;
      while (ve > vs && (text.charCodeAt(ve - 1) === 32 || text.charCodeAt(ve - 1) === 9)) ve--;
      flat.push(text.slice(pos, colon), text.slice(vs, ve));
      pos = next + 2;
    }
    if (this.contentLength >= 0) flat.push('content-length', String(this.contentLength));
    return (this.flat = flat);
  }

  /** Whether the header `lower` (a lower-case name) is there. */
  has(lower: string): boolean {
    return this.get(lower) !== undefined;
  }

  /** The first value of the header `lower` (a lower-case name), or undefined. */
  get(lower: string): string | undefined {
    const l = this.list();
    for (let i = 0; i < l.length; i += 2) if (l[i].length === lower.length && l[i].toLowerCase() === lower) return l[i + 1];
    return undefined;
  }
}

export class UpstreamError extends Error {
  constructor(
    readonly code: 'CONNECT' | 'RESET' | 'HEADERS_TIMEOUT' | 'SEND_TIMEOUT' | 'ABORTED' | 'BAD_RESPONSE',
    message: string,
    readonly afterHead: boolean,
  ) {
    super(message);
  }
}

/** A pooled socket's read buffer, whether an exchange kept it, and the read being received (during its call only). */
interface SocketReads extends WordsCache {
  buf: Buffer;
  kept: boolean;
  view: Buffer | undefined;
}

interface PooledSocket extends net.Socket {
  uses?: number;
  /** Set on each release; the idle check closes a socket that stayed idle (no timer re-armed per request). */
  usedSinceCheck?: boolean;
  idleTimer?: NodeJS.Timeout;
  idle?: boolean;
  /** The exchange the socket carries now; bytes arriving with none are out of step and close the socket. */
  exchange?: Exchange;
  /** Where the next read goes (replaced when a consumer kept the last one's bytes). */
  reads?: SocketReads;
  /** A write failed and net's destroy was held back (see keepReadingAfterWriteError). */
  writeBroken?: boolean;
  /** That first failed write's error code (EPIPE: the app's reset came after its FIN). */
  writeError?: string;
  /** The read side reached its end (EOF or a read error) before any write failed. */
  readEnded?: boolean;
}

/** How long a socket whose write failed may go without a read (while it is read) before it is closed anyway. */
const WRITE_FAILED_GRACE_MS = 1000;

/** The error a socket whose write failed is closed with, whatever ends it (see keepReadingAfterWriteError). */
function resetAfterWriteError(n?: number): Error {
  const name = n === undefined ? 'no answer after a failed write' : getSystemErrorName(n);
  return Object.assign(new Error(`read ${name}`), { code: 'ECONNRESET', syscall: 'read' });
}

/** A body delimited by the close ended with the app's reset (see close-probe.ts). */
function resetAtClose(): Error {
  return Object.assign(new Error('read ECONNRESET (the body delimited by the close ended with a reset)'), { code: 'ECONNRESET', syscall: 'read' });
}

/**
 * An upstream that answers before the request body is in (a 413 or 401 to an upload) and closes
 * with unread data resets the connection; the proxy, still writing the body, then gets EPIPE or
 * ECONNRESET on a write, and net destroys the socket on it — unread, though the answer sent before
 * the reset is in the kernel's receive buffer (a client talking to the app directly gets it). So a
 * write error does not destroy the socket while its exchange waits for an answer: the exchange stops
 * sending and the socket is read on to its end (EOF or a read error: closed then, see readDirectly's
 * onEnd), or for WRITE_FAILED_GRACE_MS at most. Envoy's codec likewise reads what arrived before a
 * connection's reset.
 */
function keepReadingAfterWriteError(s: PooledSocket): void {
  const destroy = s.destroy.bind(s);
  s.destroy = (err?: Error): PooledSocket => {
    if (err !== undefined && (err as NodeJS.ErrnoException).syscall === 'write' && !s.destroyed) {
      // The writes queued behind the failed one fail too: held back alike.
      if (s.writeBroken) return s;
      // The read side already ended: libuv reports a reset that arrives with data as an EOF (POLLHUP
      // after a partial read), and the write's error is the only sign of it — the socket goes now, with
      // the error, so a body delimited by the close is not taken for whole.
      if (!s.readEnded && s.exchange?.writeFailed(() => destroy(resetAfterWriteError()))) {
        s.writeBroken = true;
        s.writeError = (err as NodeJS.ErrnoException).code;
        return s;
      }
    }
    return destroy(err);
  };
}

/** Kept connections to one upstream address. */
export class UpstreamPool {
  private readonly idle: PooledSocket[] = [];
  /** Connected sockets (idle or busy) and connections being opened: what maxConnections counts. */
  private readonly sockets = new Set<PooledSocket>();
  private connecting = 0;
  private readonly waiting: Exchange[] = [];
  private closed = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly limits: UpstreamLimits = {},
  ) {}

  /** Sends one request; the handlers get the response. */
  request(req: UpstreamRequest, h: UpstreamHandlers): UpstreamCall {
    const x = new Exchange(this, req, h);
    x.awaitSocket();
    return x;
  }

  /** Closes idle connections now and the others when their exchange ends. */
  close(): void {
    this.closed = true;
    for (const s of this.idle.splice(0)) s.destroy();
    for (const x of this.waiting.splice(0)) x.attach(new Error('pool closed'), true);
  }

  private get open(): number {
    return this.sockets.size + this.connecting;
  }

  /** Gives `x` a kept socket, a new one, or a place in the queue (maxConnections). */
  acquire(x: Exchange): void {
    while (this.idle.length > 0) {
      const s = this.idle.pop()!;
      s.idle = false;
      if (!s.destroyed && s.writable) return x.attach(s, false);
    }
    if (this.closed) return x.attach(new Error('pool closed'), true);
    if (this.limits.maxConnections !== undefined && this.open >= this.limits.maxConnections) {
      this.waiting.push(x);
      return;
    }
    this.connect(x);
  }

  /** Takes `x` out of the queue for a connection (it was given up); false when it was not queued. */
  cancel(x: Exchange): boolean {
    const i = this.waiting.indexOf(x);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  private connect(x: Exchange): void {
    this.connecting++;
    // net asks for the buffer of the next read after each read's callback: a kept one is replaced by then.
    const reads: SocketReads = { buf: takeReadBuffer(READ_SIZE), kept: false, view: undefined };
    const nextBuffer = (): Buffer => reads.buf;
    const onRead = (n: number, buf: Uint8Array): boolean => {
      const current = s.exchange;
      let sizes: readonly number[] = READ_SIZES;
      if (current) {
        sizes = current.readSizes;
        const view = readView(reads.buf, buf, n);
        // The buffer net read into is the one the socket asked for: a DataView over it reads this view.
        reads.view = buf === reads.buf ? view : undefined;
        current.data(view);
        reads.view = undefined;
      } else s.destroy();
      // An answer for an HTTP/2 stream (smallReads) is read in smaller sizes: each read is held until
      // the client's window lets it out, so 128 paused streams held 128 reads of 1 MiB (and as many
      // read buffers). A buffer of a size not among the answer's sizes: the next read takes the first.
      const size = sizes === READ_SIZES ? (reads.buf.length === READ_SIZE || reads.buf.length === READ_LARGEST ? nextReadSize(READ_SIZES, reads.buf.length, n) : READ_SIZE) : sizes.includes(reads.buf.length) ? nextReadSize(sizes, reads.buf.length, n) : sizes[0];
      if (reads.kept || size !== reads.buf.length) {
        if (!reads.kept) giveBackReadBuffer(reads.buf);
        reads.kept = false;
        reads.buf = takeReadBuffer(size);
      }
      return true;
    };
    const s: PooledSocket = net.connect({ host: this.host, port: this.port, noDelay: true, onread: { buffer: nextBuffer, callback: onRead } });
    // After a held-back write error (keepReadingAfterWriteError) the end of the stream closes the
    // socket: net's Readable, errored by the write, would not emit its end.
    readDirectly(s, onRead, nextBuffer, (n) => {
      if (s.destroyed) return false;
      if (!s.writeBroken) {
        s.readEnded = true;
        const x = s.exchange;
        // A body delimited by the close: whole only if this EOF was the app's FIN, not its reset.
        const end = x && getSystemErrorName(n) === 'EOF' ? x.closeDelimitedEnd() : undefined;
        const verdict = end === 'probe' ? probeClose(s) : end === 'whole' ? 'fin' : undefined;
        if (verdict === 'fin') {
          x!.endAtClose();
          return true;
        }
        if (verdict === 'reset') {
          s.destroy(resetAtClose());
          return true;
        }
        // net ends the socket as it does (see keepReadingAfterWriteError for a write failing after this).
        return false;
      }
      // Even an EOF is the reset's here: the failed write took the connection's error, so a read
      // after it says EOF — a body delimited by the close is cut, never whole. Unless that write said
      // EPIPE: Linux gives a reset EPIPE when it comes after the peer's FIN (tcp_reset in CLOSE_WAIT;
      // before any FIN it is ECONNRESET), so the answer up to that FIN is whole — an app that answered
      // early, closed, and reset the upload's rest (its answer was cut whenever a write failed first).
      const x = s.exchange;
      if (s.writeError === 'EPIPE' && getSystemErrorName(n) === 'EOF' && x?.closeDelimitedEnd() !== undefined) {
        x.endAtClose();
        return true;
      }
      s.destroy(resetAfterWriteError(n));
      return true;
    });
    keepReadingAfterWriteError(s);
    s.reads = reads;
    s.uses = 0;
    const timer = setTimeout(() => s.destroy(Object.assign(new Error(`connect timeout after ${CONNECT_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })), CONNECT_TIMEOUT_MS);
    const onError = (err: Error): void => {
      clearTimeout(timer);
      this.connecting--;
      x.attach(err, true);
      this.next();
    };
    s.once('error', onError);
    s.once('connect', () => {
      clearTimeout(timer);
      this.connecting--;
      this.sockets.add(s);
      s.off('error', onError);
      s.on('error', () => {}); // reported through the exchange using it, or the socket just leaves the pool
      s.once('close', (hadError: boolean) => {
        this.forget(s);
        s.exchange?.closed(hadError);
        // Nothing reads into it now, and what an exchange kept of it made the socket take another.
        giveBackReadBuffer(reads.buf);
      });
      s.idleTimer = setInterval(() => this.idleCheck(s), IDLE_CHECK_MS);
      s.idleTimer.unref();
      x.attach(s, true);
    });
  }

  /** Closes a socket that sat idle since the last check (so after IDLE_CHECK_MS to 2 × IDLE_CHECK_MS idle). */
  private idleCheck(s: PooledSocket): void {
    if (s.idle && !s.usedSinceCheck) s.destroy();
    s.usedSinceCheck = false;
  }

  private forget(s: PooledSocket): void {
    clearInterval(s.idleTimer);
    this.sockets.delete(s);
    if (s.idle) {
      s.idle = false;
      const i = this.idle.indexOf(s);
      if (i >= 0) this.idle.splice(i, 1);
    }
    this.next();
  }

  /** An exchange is over: keep the socket for the next request, or close it. */
  release(s: PooledSocket, reusable: boolean): void {
    s.uses = (s.uses ?? 0) + 1;
    const max = this.limits.maxRequestsPerConnection;
    if (!reusable || this.closed || s.destroyed || (max !== undefined && s.uses >= max)) {
      s.destroy(); // 'close' → forget() → the next waiting request gets a new connection
      return;
    }
    s.usedSinceCheck = true;
    const w = this.waiting.shift();
    if (w) return w.attach(s, false);
    s.idle = true;
    this.idle.push(s);
  }

  private next(): void {
    if (this.waiting.length === 0) return;
    if (this.limits.maxConnections !== undefined && this.open >= this.limits.maxConnections) return;
    this.connect(this.waiting.shift()!);
  }
}

/**
 * Whether a request header stays on this hop: the hop-by-hop ones (connection, keep-alive,
 * proxy-connection, transfer-encoding, upgrade, te, trailer, expect) and content-length
 * (the framing is the proxy's). By length and then name: the names are nearly always the parser's
 * interned constants, so a comparison is one pointer check, where a Set lookup per header cost ~100
 * instructions.
 */
function staysOnHop(name: string): boolean {
  switch (name.length) {
    case 2:
      return name === 'te';
    case 6:
      return name === 'expect';
    case 7:
      return name === 'upgrade' || name === 'trailer';
    case 10:
      return name === 'connection' || name === 'keep-alive';
    case 14:
      return name === 'content-length';
    case 16:
      return name === 'proxy-connection';
    case 17:
      return name === 'transfer-encoding';
    default:
      return false;
  }
}

/**
 * The request head, to be written as latin1 (each character one byte, as it was read). The pool's
 * `host:port` is put as Host when the request has none (HTTP/1.0), as Envoy's
 * default_host_for_http_10 does.
 */
function serializeHead(req: UpstreamRequest, bodyLength: number | 'chunked', pool: UpstreamPool): string {
  let head = `${req.method} ${req.path} HTTP/1.1\r\n`;
  // The listeners clear what a client's Connection names on arrival (dropConnectionNamed) and leave
  // Connection naming none; this is for requests made here otherwise. Host always goes.
  const named = connectionNamed(req.headers.connection);
  for (const name in req.headers) {
    const v = req.headers[name];
    if (v === undefined || staysOnHop(name) || (named?.includes(name) && name !== 'host')) continue;
    if (typeof v === 'string') head += `${name}: ${v}\r\n`;
    else for (const x of v) head += `${name}: ${x}\r\n`;
  }
  // Further lines of a field node keeps once (two Authorization lines), after the others, while the
  // field itself goes (a route's or Connection's removal of it took them too).
  const extra = extraLinesOf(req.headers);
  if (extra) for (const [name, v] of extra) if (req.headers[name] !== undefined && !staysOnHop(name) && !named?.includes(name)) head += `${name}: ${v}\r\n`;
  if (req.headers.host === undefined) head += `host: ${pool.host}:${pool.port}\r\n`;
  if (bodyLength === 'chunked') {
    // Codings applied before chunked (`gzip, chunked`) belong to the message: they go on to the app.
    const te = tokenList(req.headers['transfer-encoding']).filter((t) => t !== 'chunked');
    head += te.length > 0 ? `transfer-encoding: ${te.join(', ')}, chunked\r\n` : 'transfer-encoding: chunked\r\n';
  } else if (bodyLength > 0 || (req.headers['content-length'] !== undefined && bodyLength === 0)) head += `content-length: ${bodyLength}\r\n`;
  return `${head}\r\n`;
}

export interface ScannedHead {
  /** The header lines to forward, "Name: value\r\n" each: a copy, or a view of the scanned buffer (linesView). */
  lines: Buffer;
  linesView: boolean;
  /** Content-Length as declared (-1: none; NaN: unusable). */
  length: number;
  chunked: boolean;
  /** The connection closes after this answer (Connection: close, or HTTP/1.0 without keep-alive). */
  close: boolean;
  /** Conflicting or unusable framing (two Content-Length headers, Content-Length with Transfer-Encoding, a bad length): refused as llhttp does. */
  bad: boolean;
  /** Where the CRLF before the head's blank line starts (the head's bytes end 4 later); -1: the head is not whole yet. */
  end: number;
}

/**
 * Reads the header lines of a response head, bytes [from, end) of `buf` (end: where the blank line
 * starts): framing and connection headers, and a copy of the lines to forward — hop-by-hop ones,
 * those named in Connection, and content-length (framing is the proxy's) left out. Whatever llhttp
 * refuses (a malformed line: no token name, obs-fold, a control byte, a bare CR or LF; conflicting
 * framing) sets `bad`.
 */
export function scanHeaderLines(buf: Buffer, from: number, end: number, http10: boolean): ScannedHead {
  return scanHead(buf, from, end + 4, http10);
}

/** The answer for a head whose blank line has not come yet. */
const INCOMPLETE: ScannedHead = { lines: EMPTY, linesView: false, length: -1, chunked: false, close: false, bad: false, end: -1 };

/**
 * scanHeaderLines walking the lines from `from` until the blank line that ends the head, within
 * [from, limit): the head's end is found by the same pass that reads its lines (a separate search
 * for the blank line cost ~1,400 instructions per answer). `end` in the answer is where that blank
 * line's preceding CRLF starts (as headEnd gives it); -1 when no blank line came before `limit`
 * (the head is not whole yet: INCOMPLETE, nothing else in it is meaningful).
 */
export function scanHead(buf: Buffer, from: number, limit: number, http10: boolean, words?: DataView): ScannedHead {
  let length = -1;
  let chunked = false;
  let te = false;
  let bad = false;
  let sawClose = false;
  let sawKeepAlive = false;
  let named: string[] | undefined;
  // Header lines kept for forwarding: runs of consecutive lines, noted as [start, end) pairs and copied out once at the end.
  let runCount = 0;
  const dv = words ?? new DataView(buf.buffer, buf.byteOffset, buf.length);
  // Where the run of consecutive kept lines being read starts (-1: none): a run is copied in one piece.
  let run = -1;
  let pos = from;
  let end = -1;
  while (pos + 1 < limit) {
    if (buf[pos] === 13 && buf[pos + 1] === 10) {
      end = pos - 2;
      break;
    }
    // One pass over the line (a JS loop beats a native indexOf call per field on heads this small):
    // a token name up to the colon, then a value without control characters (no bare CR, LF or NUL)
    // up to the line's CRLF; the value's plain bytes are skipped 4 at a time.
    let next = pos;
    let colon = -1;
    let valid = true;
    let lineEnded = false;
    // A known name (and its colon) is recognised by words; any other is read byte by byte.
    const known = RESPONSE_NAMES.match(dv, pos, limit, buf.length);
    if (known >= 0) colon = pos + RESPONSE_NAMES.names[known].length;
    else {
      for (; next < limit; next++) {
        const c = buf[next];
        if (c === 58) {
          colon = next;
          break;
        }
        if (c === 13 && next + 1 < limit && buf[next + 1] === 10) {
          lineEnded = true;
          break;
        }
        if (c >= 128 || TCHAR[c] === 0) valid = false;
      }
    }
    if (colon >= 0) {
      for (next = skipPlainWords(dv, colon + 1, limit); next < limit; next++) {
        const c = buf[next];
        if (c === 13 && next + 1 < limit && buf[next + 1] === 10) {
          lineEnded = true;
          break;
        }
        if ((c < 32 && c !== 9) || c === 127) valid = false;
      }
    }
    // The line's CRLF has not come yet: neither has the head's end.
    if (!lineEnded) break;
    const len = colon - pos;
    if (!valid || len <= 0) {
      // A malformed line (no token name, obs-fold, a control byte or bare CR/LF): llhttp refuses the answer.
      bad = true;
      if (run >= 0) runCount = noteRun(run, pos, runCount);
      run = -1;
      pos = next + 2;
      continue;
    }
    let hop = false;
    const kind = known >= 0 ? RESPONSE_KINDS[known] : nameKind(buf, pos, len);
    switch (kind) {
      case NameKind.ContentLength:
        // Kept aside: it frames the answer to the client (dropped when the body is chunked).
        hop = true;
        // A second Content-Length (llhttp refuses even an equal one) or a malformed one: not forwarded.
        if (length !== -1) bad = true;
        length = decimalValue(buf, colon + 1, next);
        if (Number.isNaN(length)) bad = true;
        break;
      case NameKind.TransferEncoding: {
        hop = true;
        te = true;
        const codings = buf.toString('latin1', colon + 1, next);
        // Chunked when it is the last coding, followed by nothing but SP (llhttp reads `chunked\t` as another coding).
        chunked = /(?:^|,)[ \t]*chunked *$/i.test(codings);
        // Any other coding (`gzip, chunked`): the answer is framed again for the client (chunked, or
        // HTTP/2's frames, which have no transfer codings), so it would arrive with its bytes coded and
        // nothing saying so. Refused as nginx refuses it (502), never passed on altered.
        if (!/^[ \t]*chunked *$/i.test(codings)) bad = true;
        break;
      }
      case NameKind.Connection:
      case NameKind.ProxyConnection: {
        hop = true;
        // Every Connection line counts (a later one does not undo an earlier `close`). llhttp reads
        // Proxy-Connection's close and keep-alive as Connection's; only Connection names headers.
        const tokens = connectionTokens(buf, dv, colon + 1, next);
        if (tokens & CLOSE) sawClose = true;
        if (tokens & KEEP_ALIVE) sawKeepAlive = true;
        if (tokens & OTHER && kind === NameKind.Connection) named = namedTokens(buf, colon + 1, next, named);
        break;
      }
      case NameKind.OtherHop:
        hop = true;
        break;
    }
    if (hop) {
      if (run >= 0) runCount = noteRun(run, pos, runCount);
      run = -1;
    } else if (run < 0) run = pos;
    pos = next + 2;
  }
  if (end < 0) return INCOMPLETE;
  if (run >= 0) runCount = noteRun(run, pos, runCount);
  if (te && length !== -1) bad = true;
  // As llhttp: HTTP/1.0 is kept alive only with keep-alive (whatever else is said), HTTP/1.1 unless close.
  const close = http10 ? !sawKeepAlive : sawClose;
  let kept = 0;
  for (let r = 0; r < runCount; r += 2) kept += runs[r + 1] - runs[r];
  // One run of lines (no hop-by-hop line between kept ones, the usual case) is passed on as a view.
  if (runCount === 2 && !named) return { lines: buf.subarray(runs[0], runs[1]), linesView: true, length, chunked, close, bad, end };
  const lines = Buffer.allocUnsafe(kept);
  for (let r = 0, at = 0; r < runCount; r += 2) at = copyBytes(buf, runs[r], runs[r + 1], lines, at);
  return { lines: named ? withoutNamed(lines, named) : lines, linesView: false, length, chunked, close, bad, end };
}

/** The header lines without those whose names `Connection` listed (RFC 9110 §7.6.1). */
function withoutNamed(lines: Buffer, named: string[]): Buffer {
  const keep: Buffer[] = [];
  let pos = 0;
  while (pos < lines.length) {
    const next = lines.indexOf(CRLF, pos) + 2;
    const colon = lines.indexOf(58, pos);
    const name = lines.toString('latin1', pos, colon).toLowerCase();
    if (!named.includes(name)) keep.push(lines.subarray(pos, next));
    pos = next;
  }
  return Buffer.concat(keep);
}

/** The runs of kept lines scanHeaderLines found, as [start, end) pairs (reused: one scan at a time). */
const runs: number[] = [];

function noteRun(from: number, to: number, count: number): number {
  runs[count] = from;
  runs[count + 1] = to;
  return count + 2;
}

/** A header value of digits only (surrounding whitespace allowed) as a number; NaN otherwise. */
function decimalValue(buf: Buffer, from: number, to: number): number {
  while (from < to && (buf[from] === 32 || buf[from] === 9)) from++;
  // Only SP may follow the digits (llhttp refuses a trailing HTAB).
  while (to > from && buf[to - 1] === 32) to--;
  if (from === to || to - from > 15) return NaN;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = buf[i] - 48;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return n;
}

const CLOSE = 1;
const KEEP_ALIVE = 2;
const OTHER = 4;

/**
 * What a Connection value (bytes [from, to) of `buf`) lists, in one pass and without a string:
 * CLOSE, KEEP_ALIVE and OTHER (any other token: a header name kept on this hop) as bits. Answers
 * nearly always say `keep-alive` or `close` alone, so the names are read only when OTHER is set.
 */
function connectionTokens(buf: Buffer, dv: DataView, from: number, to: number): number {
  // The usual whole values, `keep-alive` or `close` right up to the line's CR, compared by words.
  let at = from;
  while (at < to && (buf[at] === 32 || buf[at] === 9)) at++;
  const whole = buf[to] === 13 ? CONNECTION_VALUES.match(dv, at, to + 1, buf.length) : -1;
  if (whole >= 0) return whole === 0 ? KEEP_ALIVE : CLOSE;
  let seen = 0;
  let start = from;
  for (let i = from; i <= to; i++) {
    if (i < to && buf[i] !== 44) continue;
    let a = start;
    let b = i;
    while (a < b && (buf[a] === 32 || buf[a] === 9)) a++;
    // Only SP may follow a token (llhttp reads `close\t` as another token), any OWS precede it.
    while (b > a && buf[b - 1] === 32) b--;
    if (b > a) seen |= nameIs(buf, a, b - a, 'close') ? CLOSE : nameIs(buf, a, b - a, 'keep-alive') ? KEEP_ALIVE : OTHER;
    start = i + 1;
  }
  return seen;
}

/** What a response header name means to the proxy. */
const enum NameKind {
  /** Forwarded as it is. */
  Plain,
  ContentLength,
  TransferEncoding,
  Connection,
  ProxyConnection,
  /** Another hop-by-hop name: keep-alive, upgrade, trailer, te, expect. */
  OtherHop,
}

/** The kind of the name at [pos, pos + len) of `buf`, read byte by byte (a name RESPONSE_NAMES does not know). */
function nameKind(buf: Buffer, pos: number, len: number): NameKind {
  switch (len) {
    case 14:
      return nameIs(buf, pos, len, 'content-length') ? NameKind.ContentLength : NameKind.Plain;
    case 17:
      return nameIs(buf, pos, len, 'transfer-encoding') ? NameKind.TransferEncoding : NameKind.Plain;
    case 10:
      return nameIs(buf, pos, len, 'connection') ? NameKind.Connection : nameIs(buf, pos, len, 'keep-alive') ? NameKind.OtherHop : NameKind.Plain;
    case 16:
      return nameIs(buf, pos, len, 'proxy-connection') ? NameKind.ProxyConnection : NameKind.Plain;
    case 7:
      return nameIs(buf, pos, len, 'upgrade') || nameIs(buf, pos, len, 'trailer') ? NameKind.OtherHop : NameKind.Plain;
    case 2:
      return nameIs(buf, pos, len, 'te') ? NameKind.OtherHop : NameKind.Plain;
    case 6:
      return nameIs(buf, pos, len, 'expect') ? NameKind.OtherHop : NameKind.Plain;
  }
  return NameKind.Plain;
}

/** The response header names recognised by words: every hop-by-hop one that has 3 characters or more, and the commonest others. */
const RESPONSE_NAME_KINDS: [string, NameKind][] = [
  ['content-length', NameKind.ContentLength],
  ['transfer-encoding', NameKind.TransferEncoding],
  ['connection', NameKind.Connection],
  ['keep-alive', NameKind.OtherHop],
  ['proxy-connection', NameKind.ProxyConnection],
  ['upgrade', NameKind.OtherHop],
  ['trailer', NameKind.OtherHop],
  ['expect', NameKind.OtherHop],
  ...[
    'content-type', 'date', 'server', 'cache-control', 'etag', 'last-modified', 'vary', 'set-cookie', 'location', 'content-encoding', 'content-language',
    'content-disposition', 'expires', 'pragma', 'age', 'accept-ranges', 'access-control-allow-origin', 'access-control-allow-credentials', 'x-powered-by',
    'x-content-type-options', 'x-frame-options', 'strict-transport-security', 'content-security-policy', 'referrer-policy', 'x-request-id', 'retry-after',
    'www-authenticate', 'link', 'alt-svc', 'via',
  ].map((name): [string, NameKind] => [name, NameKind.Plain]),
];
const RESPONSE_NAMES = new NameTable(RESPONSE_NAME_KINDS.map(([name]) => name));
const RESPONSE_KINDS = RESPONSE_NAME_KINDS.map(([, kind]) => kind);
/** The two Connection values nearly every answer has, each the whole value (followed by the line's CR). */
const CONNECTION_VALUES = new NameTable(['keep-alive', 'close'], '\r');

/** The header names a Connection value lists besides close and keep-alive, added to `named`. */
function namedTokens(buf: Buffer, from: number, to: number, named: string[] | undefined): string[] {
  const out = named ?? [];
  for (const t of tokenList(buf.toString('latin1', from, to))) if (t !== 'close' && t !== 'keep-alive') out.push(t);
  return out;
}

/** Whether the `len` bytes at `pos` are `lower` (lower-case ASCII), ignoring case. */
function nameIs(buf: Buffer, pos: number, len: number, lower: string): boolean {
  if (len !== lower.length) return false;
  for (let i = 0; i < len; i++) if ((buf[pos + i] | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}


const enum Body {
  None,
  Length,
  Chunked,
  UntilClose,
}

/** One request/response: the handle the caller holds, carried by one socket (a second, fresh one if the kept one was stale). */
class Exchange implements UpstreamCall {
  private socket: PooledSocket | undefined;
  private fresh = false;
  /** The kept socket was stale: the next one counts as fresh whatever it is (retried once at most). */
  private retried = false;
  private aborted = false;
  /** Between asking the pool for a socket and getting its answer (queued for a slot, or connecting). */
  private awaiting = false;
  private buf: Buffer | undefined;
  /** The answer's head while its lines are a view of the read being handled. */
  private head: UpstreamHead | undefined;
  /** this.buf is a view of the socket's read buffer (not a copy). */
  private bufIsView = false;
  /** A response head read in parts, its status line whole: how many of its bytes were searched for its end (0: none). */
  private headSearched = 0;
  private gathered: GatheredBytes | undefined;
  private gotHead = false;
  private bodyKind = Body.None;
  private remaining = 0;
  private decoder: ChunkedBodyDecoder | undefined;
  private discard = false;
  private finished = false;
  private anyByte = false;
  private paused = false;
  private keepAlive = true;
  /** The whole request (head and body) was handed to the socket: only then may the connection be reused. */
  private requestDone = false;
  /**
   * A body delimited by the close: bytes of it were read in this turn of the event loop (cleared by a
   * setImmediate, scheduled only for such bodies). An EOF in a turn of its own came from read()
   * returning 0 — the app's FIN, before any reset — while one right behind a read may be libuv's
   * POLLHUP shortcut for a reset (see close-probe.ts).
   */
  private readThisTurn = false;
  private turnCheck: NodeJS.Immediate | undefined;
  /** Detaches this exchange from a streamed body (an early answer, or a failure). */
  private unpipe: (() => void) | undefined;
  /** Closes the socket if a failed write's answer stops coming (writeFailed). */
  private writeGuard: NodeJS.Timeout | undefined;
  /** A streamed body waits for 'drain' (awaitDrain), and the timer that gives up on it. */
  private drainAwaited = false;
  private sendTimer: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The sizes of the socket's reads while this answer is read (UpstreamRequest.smallReads). */
  readSizes: readonly number[];

  constructor(
    private readonly pool: UpstreamPool,
    private readonly req: UpstreamRequest,
    private readonly h: UpstreamHandlers,
  ) {
    this.readSizes = req.smallReads === true ? H2_READ_SIZES : READ_SIZES;
  }

  /** Asks the pool for a socket: attach() gets the answer. */
  awaitSocket(): void {
    this.awaiting = true;
    this.pool.acquire(this);
  }

  /** The pool's answer: a socket to send on, or why there is none. */
  attach(s: PooledSocket | Error, fresh: boolean): void {
    this.awaiting = false;
    if (this.aborted) {
      // Given up while it waited (abort() reported it then): a new connection serves the next request.
      if (!(s instanceof Error)) this.pool.release(s, true);
      return;
    }
    if (s instanceof Error) {
      this.finished = true;
      this.h.onError(new UpstreamError('CONNECT', s.message, false));
      return;
    }
    this.socket = s;
    this.fresh = fresh || this.retried;
    this.buf = undefined;
    this.headSearched = 0;
    this.gotHead = false;
    this.bodyKind = Body.None;
    this.decoder = undefined;
    this.finished = false;
    this.anyByte = false;
    this.paused = false;
    this.keepAlive = true;
    this.requestDone = false;
    this.start(s);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    if (this.awaiting) {
      // Queued for a pool slot or still connecting: given up now, not when a socket comes (a route
      // timeout's 504 was late by as long as the slot stayed taken, and gone clients filled the queue).
      this.pool.cancel(this);
      this.finished = true;
      this.h.onError(new UpstreamError('ABORTED', 'aborted', false));
      return;
    }
    if (this.socket && !this.finished) this.fail(new UpstreamError('ABORTED', 'aborted', this.gotHead));
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket?.resume();
  }

  keep(): void {
    const reads = this.socket?.reads;
    if (reads) reads.kept = true;
  }

  hand(): Buffer | undefined {
    const reads = this.socket?.reads;
    if (!reads) return undefined;
    reads.kept = true;
    return reads.buf;
  }

  private start(socket: PooledSocket): void {
    const { req } = this;
    socket.exchange = this;
    const body = req.body;
    // A streamed body's wait for the head starts at its end (sent on): Envoy's per-try timeout starts
    // with the request's end, so a slow upload is not cut while its client still sends.
    if (body === null || Buffer.isBuffer(body)) this.awaitHead();
    if (body === null) {
      writeNow(socket, serializeHead(req, 0, this.pool));
      this.requestDone = true;
    } else if (Buffer.isBuffer(body)) {
      // One write for head and small body.
      const head = serializeHead(req, body.length, this.pool);
      writeNow(socket, body.length <= 16 * 1024 ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1'));
      if (body.length > 16 * 1024) socket.write(body);
      this.requestDone = true;
    } else this.stream(socket, body);
  }

  /** The body waits for the upstream to take what is queued: failed if it takes nothing for SEND_TIMEOUT_MS. */
  private awaitDrain(): void {
    this.drainAwaited = true;
    if (this.sendTimer) return void this.sendTimer.refresh();
    this.sendTimer = setTimeout(() => {
      if (this.drainAwaited) this.fail(new UpstreamError('SEND_TIMEOUT', `the upstream took no request body bytes for ${SEND_TIMEOUT_MS} ms`, this.gotHead));
    }, SEND_TIMEOUT_MS);
  }

  /** Arms the request's headersTimeout (from now). */
  private awaitHead(): void {
    const ms = this.req.headersTimeout;
    if (ms !== undefined) this.timer = setTimeout(() => this.fail(new UpstreamError('HEADERS_TIMEOUT', `no response head within ${ms} ms`, false)), ms);
  }

  /**
   * Sends a streamed body: with its declared length as raw bytes, or chunked. Every chunk is framed
   * whole whatever write() returns (its return value only says to wait for 'drain'). A body that
   * ends short of its length, or whose stream closes without ending (the client left), fails the
   * exchange, and the connection is not reused.
   */
  private stream(socket: PooledSocket, body: Readable): void {
    const { req } = this;
    const sized = req.bodyLength !== undefined;
    let left = req.bodyLength ?? 0;
    socket.write(serializeHead(req, sized ? left : 'chunked', this.pool), 'latin1');
    const onDrain = (): void => {
      this.drainAwaited = false;
      body.resume();
    };
    // Each piece is written at once and nothing else keeps it (the recorder's tap copies): a lean
    // request may hand over views of its read buffer, told which ones are still queued.
    const through = isPassThroughBody(body) ? body : undefined;
    if (through) through.passThrough = true;
    const onData = (c: Buffer): void => {
      if (this.finished || c.length === 0) return;
      req.onBodyChunk?.(c);
      if (sized) {
        left -= c.length;
        socket.write(c);
      } else {
        socket.cork();
        socket.write(`${c.length.toString(16)}\r\n`, 'latin1');
        socket.write(c);
        socket.write('\r\n', 'latin1');
        socket.uncork();
      }
      if (through) through.keptLast = socket.writableLength > 0;
      // write() answers false for any piece over 16 KiB, even one the kernel took at once: the body
      // waits only when the bytes queued here pass the limit (a 'drain' follows, as that write answered false).
      if (socket.writableLength >= STREAM_QUEUE_LIMIT) {
        body.pause();
        socket.once('drain', onDrain);
        this.awaitDrain();
      }
    };
    const onEnd = (): void => {
      if (this.finished) return;
      if (sized && left !== 0) return this.fail(new UpstreamError('ABORTED', 'client request body ended short of its length', this.gotHead));
      if (!sized) socket.write('0\r\n\r\n', 'latin1');
      this.requestDone = true;
      this.unpipe?.();
      if (!this.gotHead) this.awaitHead();
      req.onBodyEnd?.();
    };
    const onClose = (): void => {
      if (!this.requestDone) this.fail(new UpstreamError('ABORTED', 'client request body was cut short', this.gotHead));
    };
    const onError = (): void => this.fail(new UpstreamError('ABORTED', 'client request body failed', this.gotHead));
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('close', onClose);
    body.once('error', onError);
    this.unpipe = () => {
      this.unpipe = undefined;
      if (through) through.passThrough = false;
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('close', onClose);
      body.off('error', onError);
      socket.off('drain', onDrain);
    };
  }

  /** Bytes from the socket (a view of the shared read buffer: copied if kept). */
  data(d: Buffer): void {
    if (this.finished) return;
    this.anyByte = true;
    if (this.writeGuard !== undefined) this.writeGuard.refresh();
    if (!this.gotHead) {
      this.bufIsView = this.buf === undefined;
      if (this.buf === undefined) this.buf = d;
      else {
        this.buf = (this.gathered ??= new GatheredBytes()).append(this.buf, d, MAX_HEAD_BYTES + 4096);
        // A head read in parts (its status line already read): parsed again only once its end may be here.
        if (this.headSearched > 0 && this.buf.length <= MAX_HEAD_BYTES && !blankLineFrom(this.buf, this.headSearched - 2)) {
          this.headSearched = this.buf.length;
          return;
        }
      }
      this.headSearched = 0;
      if (!this.parseHead()) return;
      const rest = this.buf;
      this.buf = undefined;
      if (rest && rest.length > 0) this.body(rest);
      else if (this.bodyKind === Body.None || (this.bodyKind === Body.Length && this.remaining === 0)) this.end();
      // An answer the caller discards (a retry follows) is not waited for beyond this read: its
      // connection closes instead (a 5xx whose body stalled held the retry, and the client, forever).
      if (this.discard && !this.finished) {
        this.keepAlive = false;
        this.end();
      }
      // The head's lines may be a view of this read: kept (copied) if they were not written out with it.
      this.head?.keepLines();
      this.head = undefined;
      return;
    }
    this.body(d);
  }

  /** Parses the response head from this.buf (bytes, no string per header); leaves the rest (body bytes) in this.buf. */
  private parseHead(): boolean {
    for (;;) {
      const buf = this.buf!;
      const n = buf.length;
      const lineEnd = statusLineEnd(buf, n);
      if (lineEnd === STATUS_LINE_BAD) return this.badStatusLine(buf);
      if (lineEnd < 0) return this.waitForHead(buf);
      const status = (buf[9] - 48) * 100 + (buf[10] - 48) * 10 + (buf[11] - 48);
      const http10 = buf[7] === 48;
      // The header lines and the head's end, in one pass.
      // The read being received starts where its socket's read buffer does: that buffer's DataView serves.
      const reads = this.socket!.reads;
      const scanned = scanHead(buf, lineEnd + 2, n, http10, reads && buf === reads.view ? wordsOver(reads, reads.buf) : undefined);
      const end = scanned.end;
      if (end < 0) {
        this.headSearched = n;
        return this.waitForHead(buf);
      }
      // The same limit however the head was split into reads.
      if (end + 4 > MAX_HEAD_BYTES) {
        this.fail(new UpstreamError('BAD_RESPONSE', 'response head too large', false));
        return false;
      }
      // No view made when nothing follows the head (a bodiless answer, or the body in a later read).
      this.buf = end + 4 === n ? EMPTY : buf.subarray(end + 4);
      // Interim answers (100 Continue, 103 Early Hints) are not forwarded; the final one follows.
      if (status >= 100 && status < 200 && status !== 101) continue;
      // Requests that ask to switch protocols do not come this way (upgrade.ts): a 101 here switches
      // to something the client never offered (RFC 9110 §15.2.2), and nothing could be relayed after it.
      if (status === 101) {
        this.fail(new UpstreamError('BAD_RESPONSE', '101 Switching Protocols to a request that did not ask to switch', false));
        return false;
      }
      if (scanned.bad) {
        this.fail(new UpstreamError('BAD_RESPONSE', 'conflicting or malformed Content-Length / Transfer-Encoding in the response head', false));
        return false;
      }
      const { lines, length, chunked } = scanned;
      let { close } = scanned;
      const noBody = this.req.method === 'HEAD' || status === 204 || status === 304;
      if (noBody) this.bodyKind = Body.None;
      else if (chunked) this.bodyKind = Body.Chunked;
      else if (length >= 0 && Number.isFinite(length)) {
        this.bodyKind = Body.Length;
        this.remaining = length;
      } else {
        this.bodyKind = Body.UntilClose;
        this.noteUntilCloseRead();
        close = true;
      }
      this.keepAlive = !close;
      this.gotHead = true;
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      // A 204 has no Content-Length (RFC 9110 §8.6; nginx drops it too).
      const declared = status !== 204 && !chunked && length >= 0 && Number.isFinite(length) ? length : -1;
      const head = new UpstreamHead(lines, declared, scanned.linesView);
      this.discard = !this.h.onHead(status, head);
      if (!this.discard && scanned.linesView) this.head = head;
      return true;
    }
  }

  /** The head is not whole yet: keep what came (a copy: the read buffer is reused) unless it is already too large. */
  private waitForHead(buf: Buffer): false {
    if (buf.length > MAX_HEAD_BYTES) this.fail(new UpstreamError('BAD_RESPONSE', 'response head too large', false));
    else if (this.bufIsView) this.buf = Buffer.from(buf);
    return false;
  }

  private badStatusLine(buf: Buffer): false {
    const statusLine = buf.toString('latin1', 0, Math.min(buf.length, 40)).split('\r\n')[0];
    this.fail(new UpstreamError('BAD_RESPONSE', `bad status line ${JSON.stringify(statusLine)}`, false));
    return false;
  }

  private emit(chunk: Buffer): void {
    if (this.discard || chunk.length === 0) return;
    if (!this.h.onData(chunk)) this.pause();
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket!.pause();
  }

  private body(d: Buffer): void {
    switch (this.bodyKind) {
      case Body.None:
        // Bytes after a bodiless answer: the connection is out of step; do not reuse it.
        this.keepAlive = false;
        return this.end();
      case Body.UntilClose:
        this.noteUntilCloseRead();
        return this.emit(d);
      case Body.Length: {
        const take = Math.min(d.length, this.remaining);
        this.remaining -= take;
        this.emit(take === d.length ? d : d.subarray(0, take));
        if (take < d.length) this.keepAlive = false;
        if (this.remaining === 0) this.end();
        return;
      }
      case Body.Chunked:
        return this.chunked(d);
    }
  }

  /** Decodes a chunked body (the response to the client is framed again). */
  private chunked(d: Buffer): void {
    const r = (this.decoder ??= new ChunkedBodyDecoder()).feed(d, (piece) => this.emit(piece));
    if (r === 'error') return this.fail(new UpstreamError('BAD_RESPONSE', 'malformed chunked body', true));
    if (r < 0) return;
    if (r < d.length) this.keepAlive = false;
    this.end();
  }

  private end(): void {
    if (this.finished) return;
    // Answered before the upload ended (a 401/413): the client gets its answer; the connection
    // carries an unfinished body, so it is closed rather than reused (as undici does).
    this.finish(this.keepAlive && this.requestDone && this.bodyKind !== Body.UntilClose);
    this.h.onEnd();
  }

  /**
   * A write of this request failed (the server closed; see keepReadingAfterWriteError): nothing more
   * is sent, and the answer the server sent before is still read. False when the exchange is over
   * (the socket may go now). `closeSocket` closes it after WRITE_FAILED_GRACE_MS if nothing ends it first.
   */
  writeFailed(closeSocket: () => void): boolean {
    if (this.finished) return false;
    this.unpipe?.();
    this.requestDone = false;
    // Restarted by every read (data()); not counted while reading waits for a slow client.
    const guard = (): void => {
      if (this.paused) this.writeGuard = setTimeout(guard, WRITE_FAILED_GRACE_MS);
      else closeSocket();
    };
    this.writeGuard = setTimeout(guard, WRITE_FAILED_GRACE_MS);
    return true;
  }

  private noteUntilCloseRead(): void {
    this.readThisTurn = true;
    this.turnCheck ??= setImmediate(() => {
      this.turnCheck = undefined;
      this.readThisTurn = false;
    });
  }

  /**
   * The upstream's stream ended (EOF) while this exchange may read a body delimited by the close.
   * 'whole': the EOF came in a turn of its own — read() returned 0, the app's FIN before any reset —
   * so the body is whole, even with the request unfinished (the app answered and closed without
   * reading the rest, as a client straight to it sees); the exchange ends now, not when net has
   * flushed writes the app will never read. 'probe': the EOF came right behind a read, where libuv
   * also reports a reset: ask probeClose. Undefined: not such a body.
   */
  closeDelimitedEnd(): 'whole' | 'probe' | undefined {
    if (this.finished || !this.gotHead || this.bodyKind !== Body.UntilClose) return undefined;
    return this.readThisTurn ? 'probe' : 'whole';
  }

  /** Ends the answer whose body the connection's close delimited (closeDelimitedEnd said 'whole'). */
  endAtClose(): void {
    this.end();
  }

  /** The socket closed under the exchange (`hadError`: by a reset or another error, not the server's FIN). */
  closed(hadError: boolean): void {
    if (this.finished) return;
    // A body delimited by the close ends with a FIN; a reset cuts it, and it must not look complete.
    // Nor may a close while the request was still being sent: the server closed with our bytes
    // unread, which resets the connection, and libuv reports a reset that comes with data as an EOF
    // (POLLHUP after a partial read) — such an answer is taken as cut, never as whole.
    if (this.gotHead && this.bodyKind === Body.UntilClose && !hadError && this.requestDone) return this.end();
    // A kept connection the server had closed before our request reached it: once more on a fresh
    // one, only for an idempotent request whose body is in hand (a POST may have been processed).
    if (!this.fresh && !this.anyByte && IDEMPOTENT.has(this.req.method) && (this.req.body === null || Buffer.isBuffer(this.req.body))) {
      this.finish(false);
      this.retried = true;
      this.awaitSocket();
      return;
    }
    this.fail(new UpstreamError('RESET', 'upstream closed the connection', this.gotHead));
  }

  private fail(err: UpstreamError): void {
    if (this.finished) return;
    this.finish(false);
    this.h.onError(err);
  }

  private finish(reusable: boolean): void {
    this.finished = true;
    this.unpipe?.();
    // Undefined too, not only cleared: data() refreshes a guard it sees, and refresh() re-arms a cleared timer.
    if (this.writeGuard) clearTimeout(this.writeGuard);
    this.writeGuard = undefined;
    if (this.sendTimer) clearTimeout(this.sendTimer);
    this.sendTimer = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const socket = this.socket!;
    if (socket.exchange === this) socket.exchange = undefined;
    if (this.paused) socket.resume();
    this.pool.release(socket, reusable && !socket.destroyed);
  }
}

