// The proxy's HTTP/1.1 server path for ordinary requests: a request head parsed straight from the
// socket's bytes and an answer written as one head plus body, with no node:http objects per request.
// It serves the same small request/response surface the proxy uses from node:http (LeanRequest is a
// Readable body with url/method/headers; LeanResponse has writeHead/write/end/headersSent/'close'),
// so routing, forwarding and metrics are shared. Anything unusual — an incomplete or malformed head,
// a head over 16 KiB, Content-Length together with Transfer-Encoding, another transfer coding,
// Upgrade, Expect, CONNECT, obsolete line folding — makes the connection fall back to node:http at
// that request boundary, which gives those cases the answers (400, 431, upgrades) it always gave.
// What it accepts, it accepts exactly as llhttp would (test/unit/proxy/llhttp-oracle.test.ts checks
// it differentially); a body that turns out malformed is answered 400, a stalled one 408, and no
// input ever ends the process. Bytes pipelined behind a request in flight stay in the kernel (the
// socket is paused), so one connection buffers at most one read beyond the request it serves.
import { METHODS, STATUS_CODES } from 'node:http';
import type net from 'node:net';
import { Readable } from 'node:stream';
import { ChunkedBodyDecoder } from './chunked.js';
import { DataEvents, type PassThroughBody, type ReadSource } from './client-reads.js';
import { hasToken, headEnd, normalizePath, skipPlainWords, TCHAR } from './http-syntax.js';
import { writeNow } from './direct-write.js';
import { copyBytes, GatheredBytes } from './read-buffers.js';
import { NameTable } from './name-table.js';
import { noteValidTraceparent, validTraceparentBytes } from './trace.js';
import type { RequestHead } from './routes.js';
import { setExtraLines, type ExtraLines } from './request-headers.js';

export { ChunkedBodyDecoder };

const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);
/**
 * A request head's largest size: Envoy's default (max_request_headers_kb, 60 KiB); a listener may
 * allow more (LeanServerHooks.maxHeadBytes). node:http's 16 KiB refused a 17 KiB cookie header that
 * the app, allowing 32 KiB, took straight (nginx takes 4 × 8 KiB lines).
 */
export const MAX_HEAD_BYTES = 60 * 1024;
/** Time a client gets to send its request headers, here and in the listener (BERTH_PROXY_HEADERS_TIMEOUT_MS, for tests; 408 after it). */
export const HEADERS_TIMEOUT_MS = Number(process.env.BERTH_PROXY_HEADERS_TIMEOUT_MS ?? 10_000) || 10_000;
/** A head that ends with bare LFs: node:http (llhttp) judges it, the lean path does not wait for a CRLF that may never come. */
const LF_LF = Buffer.from('\n\n');
/** A buffered read up to this size is made latin1 text whole to find its head's end (see next()). */
const SMALL_READ = 4096;
/** Request body bytes buffered for the handler before the client's socket stops being read. */
const BODY_HIGH_WATER = 256 * 1024;
/** A first body piece up to this size goes out copied into the head's buffer (one write); a larger one by writev, uncopied. */
const SMALL_BODY = 16 * 1024;
/** A kept-alive connection idle between this and twice this long is closed (node:http's keepAliveTimeout is 5 s). */
const KEEP_ALIVE_MS = 5000;
/**
 * A request body that makes no progress for between this and twice this long is answered 408 and
 * its connection closed (the upstream call is abandoned with it): 60 s, nginx's client_body_timeout
 * (10 s, the header timeout, cut an upload that paused for 10–20 s, which the app took straight;
 * HTTP/2 streams get Envoy's 5 min stream idle timeout). BERTH_PROXY_BODY_TIMEOUT_MS sets it, and
 * tests that shorten the header timeout (BERTH_PROXY_HEADERS_TIMEOUT_MS) shorten this with it.
 */
export const BODY_TIMEOUT_MS = Number(process.env.BERTH_PROXY_BODY_TIMEOUT_MS ?? process.env.BERTH_PROXY_HEADERS_TIMEOUT_MS ?? 60_000) || 60_000;

type OutHeaders = Record<string, string | number | string[] | undefined> | string[];

/** The request side: head fields and the body as a stream (decoded when chunked). */
export class LeanRequest extends Readable implements RequestHead, PassThroughBody {
  passThrough = false;
  keptLast = false;
  /**
   * The body may not pass this many bytes (a handler's limit, e.g. the building-block API's
   * maxRequestBodyMiB for a chunked invocation): beyond it the request is refused with 413 and cut
   * before the bytes over it are passed on.
   */
  bodyLimit = Infinity;
  /** Body bytes passed on so far. */
  bodyBytes = 0;
  method: string;
  url: string;
  httpVersion: string;
  headers: Record<string, string | string[] | undefined>;

  constructor(method: string, url: string, minor: string, headers: Record<string, string | string[] | undefined>, private readonly onRead: () => void) {
    // A socket read is up to 64 KiB: with the default 16 KiB mark every read of an upload would
    // pause the socket and resume it as soon as the consumer took the piece.
    super({ highWaterMark: BODY_HIGH_WATER });
    this.method = method;
    this.url = url;
    this.httpVersion = minor === '1' ? '1.1' : '1.0';
    this.headers = headers;
  }

  override _read(): void {
    this.onRead();
  }
}

/** A request without a body: the same head fields, and no stream is built for it. */
export class LeanHead implements RequestHead {
  destroyed = false;
  httpVersion: string;

  constructor(
    public method: string,
    public url: string,
    minor: string,
    public headers: Record<string, string | string[] | undefined>,
  ) {
    this.httpVersion = minor === '1' ? '1.1' : '1.0';
  }

  destroy(): void {
    this.destroyed = true;
  }
}

/** "HTTP/1.1 200 OK\r\n" per status, built once. */
const statusLines: string[] = [];
function statusLine(status: number): string {
  return (statusLines[status] ??= `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Status'}\r\n`);
}

const statusLineBytes: Buffer[] = [];
/** The status line as bytes (a proxied answer's head starts with it, copied without a string's encoding call). */
function statusLineOf(status: number): Buffer {
  return (statusLineBytes[status] ??= Buffer.from(statusLine(status), 'latin1'));
}

// The framing lines after the header lines, as bytes.
const CONTENT_LENGTH = Buffer.from('content-length: ', 'latin1');
const CHUNKED_LINE = Buffer.from('transfer-encoding: chunked\r\n', 'latin1');
const CLOSE_END = Buffer.from('connection: close\r\n\r\n', 'latin1');
/** An HTTP/1.0 client keeps a connection only when the answer says so (RFC 9112 §9.3), as node:http and nginx do. */
const KEEP_ALIVE_END = Buffer.from('connection: keep-alive\r\n\r\n', 'latin1');

/** Copies a short latin1 string (digits) into `out` at `at`, a character at a time; returns where it ends. */
function putShort(out: Buffer, text: string, at: number): number {
  for (let i = 0; i < text.length; i++) out[at++] = text.charCodeAt(i);
  return at;
}

/** The answer side, written straight to the socket. */
export class LeanResponse {
  statusCode = 200;
  headersSent = false;
  writableFinished = false;
  destroyed = false;
  private pending: OutHeaders | undefined;
  /** Header lines as bytes (writeHeadLines), and the content-length that goes with them (-1: none). */
  private lines: HeadLines | undefined;
  private linesLength = -1;
  private extra: [string, string][] | undefined;
  /** The head being built: status line and headers (the cached status line itself when there are none). */
  private headOut = '';
  /** The framing after the header lines: content-length (its digits), or chunked, or neither; then connection: close or not. */
  private frameLength: string | undefined;
  private closing = false;
  private declaredLength: string | undefined;
  private chunked = false;
  private noBody = false;
  /** One-shot listeners ('close', 'drain', 'finish'): a handful per answer, so a plain list. */
  private listeners: { event: string; fn: () => void }[] | undefined;

  constructor(
    private readonly conn: LeanConnection,
    private readonly socket: net.Socket,
    private readonly head: boolean,
    /** Close the connection after this answer (the client asked, HTTP/1.0 without keep-alive, or draining). */
    public closeAfter: boolean,
  ) {}

  once(event: 'close' | 'drain' | 'finish', fn: () => void): this {
    (this.listeners ??= []).push({ event, fn });
    return this;
  }

  off(event: string, fn: () => void): this {
    const l = this.listeners;
    if (l) {
      const i = l.findIndex((x) => x.event === event && x.fn === fn);
      if (i >= 0) l.splice(i, 1);
    }
    return this;
  }

  emit(event: string): void {
    const l = this.listeners;
    if (!l) return;
    // Removed before they run (one-shot); a listener may add others meanwhile.
    for (let i = 0; i < l.length; ) {
      if (l[i].event !== event) {
        i++;
        continue;
      }
      const { fn } = l[i];
      // Nearly always the last (often the only) one: pop() costs a fraction of splice().
      if (i === l.length - 1) l.pop();
      else l.splice(i, 1);
      fn();
    }
  }

  setHeader(name: string, value: string): void {
    (this.extra ??= []).push([name, value]);
  }

  writeHead(status: number, headers?: OutHeaders): this {
    this.statusCode = status;
    this.pending = headers;
    this.lines = undefined;
    return this;
  }

  /**
   * The head as header lines in wire form ("Name: value\r\n" each, no framing or hop-by-hop ones):
   * a proxied answer's head is copied, not rebuilt header by header. `contentLength` -1: none.
   */
  writeHeadLines(status: number, lines: HeadLines, contentLength: number): this {
    this.statusCode = status;
    this.pending = undefined;
    this.lines = lines;
    this.linesLength = contentLength;
    return this;
  }

  /**
   * The head up to the header lines (status line and the writeHead() headers), and the framing
   * after them: content-length or chunked, keep-alive or close, and the blank line.
   */
  private headText(bodyLength: number | undefined): string {
    const status = this.statusCode;
    this.noBody = this.head || status === 204 || status === 304 || (status >= 100 && status < 200);
    this.headOut = statusLine(status);
    this.declaredLength = this.lines && this.linesLength >= 0 ? String(this.linesLength) : undefined;
    const h = this.pending;
    if (Array.isArray(h)) for (let i = 0; i < h.length; i += 2) this.addHeader(h[i], h[i + 1]);
    else if (h) {
      for (const name in h) {
        const v = h[name];
        if (v === undefined) continue;
        if (Array.isArray(v)) for (const x of v) this.addHeader(name, x);
        else this.addHeader(name, String(v));
      }
    }
    if (this.extra) for (const [n, v] of this.extra) this.addHeader(n, v);
    let length = this.declaredLength;
    if (length === undefined && bodyLength !== undefined && !this.noBody) length = String(bodyLength);
    this.frameLength = length;
    if (length === undefined && !this.noBody) {
      if (this.conn.http10) this.closeAfter = true;
      else this.chunked = true;
    }
    // Answered before the request body ended (a 401 to an upload): the connection closes after it,
    // and the client is told so, or it would reuse a connection that is going away.
    if (this.conn.bodyPending) this.closeAfter = true;
    this.closing = this.closeAfter || this.conn.draining;
    if (this.conn.draining) this.closeAfter = true;
    this.headersSent = true;
    return this.headOut;
  }

  /** One writeHead()/setHeader() header into the head text; framing headers are the response's own. */
  private addHeader(name: string, value: string): void {
    const lower = name.length === 14 || name.length === 17 || name.length === 10 ? name.toLowerCase() : '';
    if (lower === 'content-length') {
      this.declaredLength = value;
      return;
    }
    if (lower === 'transfer-encoding' || lower === 'connection') return;
    this.headOut += `${name}: ${value}\r\n`;
  }

  /**
   * Writes the head (and the first piece of body, if any) in one buffer: one write, one copy.
   * `chunkOf` >= 0: no body here, but the head ends with the size line of a chunk of that length
   * when the answer is chunked (writeShared writes the bytes themselves).
   */
  private writeFirst(bodyLength: number | undefined, body: Buffer | undefined, chunkOf = -1): boolean {
    const pre = this.headText(bodyLength);
    const lines = this.lines?.lines;
    if (this.lines) this.lines.consumed = true;
    const length = this.frameLength;
    const end = this.closing ? CLOSE_END : this.conn.http10 ? KEEP_ALIVE_END : undefined;
    const post = (length !== undefined ? CONTENT_LENGTH.length + length.length + 2 : this.chunked ? CHUNKED_LINE.length : 0) + (end ? end.length : 2);
    const data = body && !this.noBody && body.length > 0 ? body : undefined;
    const sizeOnly = chunkOf >= 0 && this.chunked && !this.noBody;
    const size = data ? data.length.toString(16) : sizeOnly ? chunkOf.toString(16) : '';
    const chunkHead = (data || sizeOnly) && this.chunked ? size.length + 2 : 0;
    const chunkTail = data && this.chunked ? 2 : 0;
    const total = pre.length + (lines?.length ?? 0) + post + chunkHead + (data?.length ?? 0) + chunkTail;
    const out = Buffer.allocUnsafe(total);
    // Short pieces are copied in JavaScript: a string's native encoding call costs more than they do.
    let at = pre === statusLine(this.statusCode) ? copyBytes(statusLineOf(this.statusCode), 0, pre.length, out, 0) : out.write(pre, 0, 'latin1');
    if (lines) at = copyBytes(lines, 0, lines.length, out, at);
    if (length !== undefined) {
      at = copyBytes(CONTENT_LENGTH, 0, CONTENT_LENGTH.length, out, at);
      at = putShort(out, length, at);
      out[at++] = 13;
      out[at++] = 10;
    } else if (this.chunked) at = copyBytes(CHUNKED_LINE, 0, CHUNKED_LINE.length, out, at);
    if (end) at = copyBytes(end, 0, end.length, out, at);
    else {
      out[at++] = 13;
      out[at++] = 10;
    }
    if (chunkHead) at += out.write(`${size}\r\n`, at, 'latin1');
    if (data) {
      at = copyBytes(data, 0, data.length, out, at);
      if (chunkTail) out.write('\r\n', at, 'latin1');
    }
    return writeNow(this.socket, out);
  }

  /** Writes a piece of the body. The chunk may be reused by the caller once this returns: what goes to the socket is a copy. */
  write(chunk: Buffer | string): boolean {
    if (this.destroyed || this.writableFinished) return false;
    const body = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!this.headersSent) return this.writeFirst(undefined, body);
    if (this.noBody || body.length === 0) return true;
    if (this.chunked) return this.socket.write(Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`, 'latin1'), body, CRLF]));
    return this.socket.write(Buffer.from(body));
  }

  /**
   * Writes a piece of the body without copying it (a proxied download's bytes go from the upstream
   * read buffer to the client's socket as they are). Returns how many bytes the socket still holds
   * queued: 0 means the kernel took everything and `chunk` may be reused; otherwise the socket keeps
   * a reference to `chunk` until its write completes. -1: nothing was written (the answer is over).
   */
  writeShared(chunk: Buffer): number {
    if (this.destroyed || this.writableFinished) return -1;
    const { socket } = this;
    if (!this.headersSent && chunk.length <= SMALL_BODY) {
      this.writeFirst(undefined, chunk);
      return socket.writableLength;
    }
    // Head (or chunk-size line), the bytes and the chunk's CRLF in one writev.
    socket.cork();
    if (!this.headersSent) this.writeFirst(undefined, undefined, chunk.length);
    else if (this.chunked && !this.noBody && chunk.length > 0) socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    if (!this.noBody && chunk.length > 0) {
      socket.write(chunk);
      if (this.chunked) socket.write(CRLF);
    }
    socket.uncork();
    return socket.writableLength;
  }

  end(chunk?: Buffer | string): this {
    if (this.destroyed || this.writableFinished) return this;
    if (!this.headersSent) {
      const body = chunk === undefined ? undefined : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      this.writeFirst(body?.length ?? 0, body);
    } else {
      if (chunk !== undefined) this.write(chunk);
      if (this.chunked && !this.noBody) this.socket.write('0\r\n\r\n');
    }
    this.writableFinished = true;
    this.emit('finish');
    this.conn.exchangeDone(this);
    return this;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.socket.destroy();
  }
}

export interface LeanServerHooks {
  handle(req: LeanRequest | LeanHead, res: LeanResponse): void;
  /** Hands the connection, with the bytes not consumed yet, to node:http. */
  fallback(socket: net.Socket, unread: Buffer): void;
  /** An exchange started / ended (for draining). */
  started(): void;
  ended(): void;
  /** Overrides BODY_TIMEOUT_MS (tests). */
  bodyTimeoutMs?: number;
  /** Overrides KEEP_ALIVE_MS (the building-block API keeps its clients' connections longer). */
  keepAliveMs?: number;
  /** Overrides MAX_HEAD_BYTES (an inbound listener takes what the mesh's proxies add on the way). */
  maxHeadBytes?: number;
  /** Request targets are passed on as sent, not normalised (ListenerOptions.rawTarget). */
  rawTarget?: boolean;
  /** A request head that never came whole was answered 408 here (ListenerOptions.refused). */
  refused?(status: number): void;
}

const enum BodyKind {
  None,
  Length,
  Chunked,
}

/** A proxied answer's header lines (an UpstreamHead): `consumed` is set once they are written out. */
export interface HeadLines {
  readonly lines: Buffer;
  consumed: boolean;
}

/** One client connection on the lean path: requests one after another (pipelined bytes wait in the buffer). */
export class LeanConnection {
  private buf: Buffer = Buffer.alloc(0);
  private req: LeanRequest | LeanHead | undefined;
  private res: LeanResponse | undefined;
  private bodyKind = BodyKind.None;
  private remaining = 0;
  private decoder: ChunkedBodyDecoder | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** An answer went out since the idle check last looked. */
  private answered = false;
  private closed = false;
  /** The body's consumer asked to wait (push() returned false). */
  private bodyHeld = false;
  /** Body bytes arrived since the body timer last looked. */
  private bodyProgress = false;
  private bodyTimer: NodeJS.Timeout | undefined;
  /** Set while a request head is read in parts (awaitHead): the time it has to become whole. */
  private headTimer: NodeJS.Timeout | undefined;
  /** While a head is read in parts: how many bytes of `buf` were searched for its end. */
  private headSearched = 0;
  private gathered: GatheredBytes | undefined;
  /** Whether this connection paused the socket (body back-pressure, or pipelined bytes behind the request in flight). */
  private paused = false;
  http10 = false;
  draining = false;
  private readonly onData = (d: Buffer): void => this.data(d);
  private readonly onClose = (): void => this.lost();
  private readonly onDrain = (): void => this.res?.emit('drain');
  private readonly onEnd = (): void => this.clientEnded();

  constructor(
    private readonly socket: net.Socket,
    private readonly hooks: LeanServerHooks,
    /** Where the socket's bytes come from (its 'data' events unless the listener reads it itself: client-reads.ts). */
    private readonly source: ReadSource = new DataEvents(socket),
  ) {}

  /** Takes over the socket, beginning with the bytes already read from it (a view the source owns, as every read). */
  start(first: Buffer): void {
    const { socket } = this;
    socket.setNoDelay(true);
    this.source.attach(this.onData);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    socket.on('end', this.onEnd);
    socket.on('error', () => socket.destroy());
    this.data(first);
    if ((!this.closed || this.res) && !this.paused) socket.resume();
  }

  /** The request in flight still has body bytes to come. */
  get bodyPending(): boolean {
    return this.req !== undefined && this.bodyKind !== BodyKind.None;
  }

  /** No request in progress: a draining listener may close it now. */
  get idle(): boolean {
    return this.res === undefined;
  }

  drain(): void {
    this.draining = true;
    if (this.idle) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** One read: a view valid during this call only (what is kept beyond it goes through source.retain()). */
  private data(d: Buffer): void {
    if (this.closed) return;
    if (this.req && this.bodyKind !== BodyKind.None) {
      this.bodyProgress = true;
      this.feedBody(d);
    } else {
      this.append(d);
      if (!this.res) this.next();
      else this.flow();
    }
    // Bytes left for later (a head not whole yet, a request pipelined behind this one).
    if (this.buf.length > 0) this.buf = this.source.retain(this.buf);
  }

  /** Adds a read to the bytes waiting in `buf` (a head in many small reads: GatheredBytes). */
  private append(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : (this.gathered ??= new GatheredBytes()).append(this.buf, d, (this.hooks.maxHeadBytes ?? MAX_HEAD_BYTES) + 4096);
  }

  /**
   * Reads from the socket unless the body's consumer asked to wait or bytes pipelined behind the
   * request in flight are waiting: those stay in the kernel until the answer is out (bounded memory,
   * no copy of a growing buffer per read).
   */
  private flow(): void {
    const wait = this.bodyHeld || (this.res !== undefined && this.bodyKind === BodyKind.None && this.buf.length > 0);
    if (wait === this.paused || this.closed) return;
    this.paused = wait;
    if (wait) this.socket.pause();
    else this.socket.resume();
  }

  /** The body's consumer wants more (LeanRequest._read). */
  private readMore(req: LeanRequest): void {
    if (req !== this.req || !this.bodyHeld) return;
    this.bodyHeld = false;
    this.flow();
  }

  /** The client half-closed its side (the listener's sockets allow half-open connections). */
  private clientEnded(): void {
    if (this.closed) return;
    // Nothing in flight: close ours too (no socket left in CLOSE-WAIT).
    if (!this.res) {
      this.closed = true;
      clearInterval(this.idleTimer);
      this.socket.end();
      return;
    }
    // A request in flight and the client gone (an upload cut short, or a client that gave up on a
    // slow answer): the connection is cut, and 'close' abandons the upstream call — as nginx (499)
    // and Envoy do. Answering it instead left the app's request running and the socket in
    // CLOSE-WAIT for as long as the app took (for ever with no route timeout), and a pool slot held.
    this.socket.destroy();
  }

  /**
   * A body that made no progress for a whole period (and was not held back by its consumer): 408.
   * Run a turn after the period's timer (setImmediate): libuv runs due timers before it polls for
   * reads, so a proxy that was not running (a GC pause, a starved CPU, SIGSTOP) first reads what its
   * client sent meanwhile instead of taking its own stall for the client's.
   */
  private bodyCheck(): void {
    if (this.bodyKind === BodyKind.None || this.closed) {
      clearInterval(this.bodyTimer);
      this.bodyTimer = undefined;
      return;
    }
    if (!this.bodyProgress && !this.bodyHeld) return this.reject(408);
    this.bodyProgress = false;
  }

  /**
   * The request cannot go on (a malformed chunked body: 400; a stalled body: 408): answer `status`
   * if nothing was answered yet, close the connection, and end the exchange as if the client had
   * left, so whoever handles it gives up its upstream call. The body stream is destroyed without an
   * error: nobody may be listening for one yet, and an unheard 'error' would end the process.
   */
  private reject(status: number): void {
    const { socket, res } = this;
    this.bodyKind = BodyKind.None;
    clearInterval(this.bodyTimer);
    this.bodyTimer = undefined;
    clearInterval(this.idleTimer);
    this.closed = true;
    if (res && !res.headersSent && !res.destroyed && socket.writable) {
      res.headersSent = true;
      this.answerAndClose(status);
      // Bytes the client still sends are read and dropped meanwhile (a paused socket would never see the end).
      socket.resume();
    } else socket.destroy();
    this.lost();
  }

  /** Starts the next request if its whole head is in the buffer; otherwise (or if it is unusual) falls back. */
  private next(): void {
    if (this.closed || this.res || this.buf.length === 0) return;
    // A small read (a bodiless request, as most are) becomes text whole and its head's end is found
    // by the string's native search: cheaper than a byte loop in JavaScript, then text of the head.
    let text: string;
    let end: number;
    // A head read in parts was searched up to `headSearched` already: only its new bytes (and the
    // 3 before them) are searched again.
    const from = Math.max(0, this.headSearched - 3);
    if (this.buf.length <= SMALL_READ) {
      text = this.buf.toString('latin1');
      end = text.indexOf('\r\n\r\n', from);
    } else {
      end = headEnd(this.buf, from);
      text = end < 0 ? '' : this.buf.toString('latin1', 0, end);
    }
    const limit = this.hooks.maxHeadBytes ?? MAX_HEAD_BYTES;
    if (end < 0 && this.buf.length <= limit && this.buf.indexOf(LF_LF, Math.max(0, this.headSearched - 1)) < 0) {
      this.headSearched = this.buf.length;
      return this.awaitHead();
    }
    this.headSearched = 0;
    // The store is not kept for the connection's next heads (an idle keep-alive connection would hold it).
    this.gathered = undefined;
    if (end < 0 || end > limit) return this.giveUp();
    this.clearHeadTimer();
    const parsed = parseRequestBytes(this.buf, text, end, this.source.wordsFor(this.buf), this.hooks.rawTarget);
    if (!parsed) return this.giveUp();
    this.buf = end + 4 === this.buf.length ? EMPTY : this.buf.subarray(end + 4);
    const { method, url, minor, headers } = parsed;
    if (parsed.extra) setExtraLines(headers, parsed.extra);
    this.http10 = minor === '0';
    // Connection is a list of tokens (`x-close` is not `close`).
    const connection = headers.connection;
    // llhttp (node:http) also closes after a request with `Proxy-Connection: close`.
    const close = (this.http10 ? !hasToken(connection, 'keep-alive') : hasToken(connection, 'close')) || ((parsed.seen & PROXY_CONNECTION_BIT) !== 0 && hasToken(headers['proxy-connection'], 'close'));
    const hasBody = parsed.chunked || parsed.length > 0;
    const req: LeanRequest | LeanHead = hasBody ? new LeanRequest(method, url, minor, headers, () => this.readMore(req as LeanRequest)) : new LeanHead(method, url, minor, headers);
    const res = new LeanResponse(this, this.socket, method === 'HEAD', close);
    this.req = req;
    this.res = res;
    this.hooks.started();
    if (parsed.chunked) {
      this.bodyKind = BodyKind.Chunked;
      this.decoder = new ChunkedBodyDecoder();
    } else if (parsed.length > 0) {
      this.bodyKind = BodyKind.Length;
      this.remaining = parsed.length;
    } else this.bodyKind = BodyKind.None;
    const rest = this.buf;
    if (this.bodyKind !== BodyKind.None) {
      this.buf = EMPTY;
      this.bodyProgress = true;
      if (!this.bodyTimer) {
        // A check due after this body's timer was stopped (it ended, and another may have begun) is not this one's.
        const timer: NodeJS.Timeout = setInterval(() => setImmediate(() => this.bodyTimer === timer && this.bodyCheck()), this.hooks.bodyTimeoutMs ?? BODY_TIMEOUT_MS).unref();
        this.bodyTimer = timer;
      }
      if (rest.length > 0) this.feedBody(rest);
    }
    // feedBody may have rejected the request (a malformed chunk in the first bytes): it was answered.
    if (this.req !== req) return;
    this.hooks.handle(req, res);
    this.flow();
  }

  private feedBody(d: Buffer): void {
    const req = this.req as LeanRequest;
    if (this.bodyKind === BodyKind.Length) {
      const take = Math.min(d.length, this.remaining);
      if ((req.bodyBytes += take) > req.bodyLimit) return this.reject(413);
      this.remaining -= take;
      if (take > 0 && !this.pushPiece(req, take === d.length ? d : d.subarray(0, take))) this.bodyHeld = true;
      if (this.remaining === 0) {
        this.bodyKind = BodyKind.None;
        this.bodyHeld = false;
        req.push(null);
        if (take < d.length) this.buf = this.buf.length === 0 ? d.subarray(take) : Buffer.concat([this.buf, d.subarray(take)]);
      }
      this.flow();
      return;
    }
    // The pieces of one read go on as one: a body of 1-byte chunks made a write (and a chunk, and a
    // 'data' event at the app) per byte, and a million of them held the event loop for seconds.
    let first: Buffer | undefined;
    let pieces: Buffer[] | undefined;
    const r = this.decoder!.feed(d, (piece) => {
      if (first === undefined) first = piece;
      else (pieces ??= [first]).push(piece);
    });
    if (r === 'error') return this.reject(this.decoder!.overflow ?? 400);
    if (first !== undefined) {
      const piece = pieces ? Buffer.concat(pieces) : first;
      if ((req.bodyBytes += piece.length) > req.bodyLimit) return this.reject(413);
      if (!this.pushPiece(req, piece)) this.bodyHeld = true;
    }
    if (r >= 0) {
      this.bodyKind = BodyKind.None;
      this.bodyHeld = false;
      req.push(null);
      if (r < d.length) this.buf = this.buf.length === 0 ? d.subarray(r) : Buffer.concat([this.buf, d.subarray(r)]);
    }
    this.flow();
  }

  /**
   * Pushes a body piece (a view of the read). A pass-through consumer reading along gets the view
   * itself, and the read buffer is kept only if the piece is still referenced afterwards; otherwise
   * what the stream keeps goes through source.retain().
   */
  private pushPiece(req: LeanRequest, piece: Buffer): boolean {
    if (!req.passThrough || req.readableFlowing !== true || req.readableLength > 0) return req.push(this.source.retain(piece));
    req.keptLast = false;
    const more = req.push(piece);
    // Not handed over at once (it waits in the stream), or handed over and still referenced.
    if (req.keptLast || req.readableLength > 0) this.source.keep(piece);
    return more;
  }

  /** The answer was written; the next request may start. */
  exchangeDone(res: LeanResponse): void {
    if (res !== this.res) return;
    const close = res.closeAfter || this.draining;
    // A body the handler did not read (e.g. a proxy reply before the upload ended) must be consumed first.
    const bodyLeft = this.bodyKind !== BodyKind.None;
    this.res = undefined;
    this.req = undefined;
    this.hooks.ended();
    res.emit('close');
    if (close || bodyLeft) {
      this.closed = true;
      clearInterval(this.bodyTimer);
      this.socket.end();
      // A client still sending the body nobody reads is not waited for: closed once our answer is out.
      if (bodyLeft) {
        this.socket.resume();
        setTimeout(() => this.socket.destroy(), this.hooks.bodyTimeoutMs ?? BODY_TIMEOUT_MS).unref();
      }
      return;
    }
    // One interval per connection; an answer marks it used (re-arming a timer per request costs more).
    this.answered = true;
    if (!this.idleTimer) {
      this.idleTimer = setInterval(() => {
        if (!this.res && !this.answered) this.socket.destroy();
        this.answered = false;
      }, this.hooks.keepAliveMs ?? KEEP_ALIVE_MS);
      this.idleTimer.unref();
    }
    this.next();
    this.flow();
  }

  /**
   * The head is not whole yet (a request split over reads, or the last of a pipelined batch cut by
   * the read's end): the rest is waited for here, up to HEADERS_TIMEOUT_MS (then 408, as node:http).
   * Handing such a connection to node:http made it parse each later read whole — thousands of
   * pipelined requests at once, ~2.3 KB of objects each, held until their turn (hundreds of MB from
   * a few dozen connections). What ends only with a bare LF is still node:http's to judge.
   */
  private awaitHead(): void {
    this.headTimer ??= setTimeout(() => this.headTimedOut(), HEADERS_TIMEOUT_MS).unref();
  }

  private clearHeadTimer(): void {
    if (this.headTimer === undefined) return;
    clearTimeout(this.headTimer);
    this.headTimer = undefined;
  }

  private headTimedOut(): void {
    this.headTimer = undefined;
    if (this.closed || this.res) return;
    this.closed = true;
    clearInterval(this.idleTimer);
    if (this.socket.writable) {
      this.hooks.refused?.(408);
      this.answerAndClose(408);
    }
    else this.socket.destroy();
  }

  /** Answers `status` with an empty body from the proxy itself and closes the connection once it is out. */
  private answerAndClose(status: number): void {
    const { socket } = this;
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ndate: ${new Date().toUTCString()}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`, () => socket.destroy());
  }

  private giveUp(): void {
    this.clearHeadTimer();
    this.closed = true;
    clearInterval(this.idleTimer);
    clearInterval(this.bodyTimer);
    const s = this.socket;
    this.source.detach();
    this.buf = this.source.retain(this.buf);
    s.off('close', this.onClose);
    s.off('drain', this.onDrain);
    s.off('end', this.onEnd);
    s.removeAllListeners('error');
    s.pause();
    this.hooks.fallback(s, this.buf);
  }

  private lost(): void {
    this.clearHeadTimer();
    clearInterval(this.idleTimer);
    clearInterval(this.bodyTimer);
    this.bodyTimer = undefined;
    if (this.closed && !this.res) return;
    this.closed = true;
    const { req, res } = this;
    this.req = undefined;
    this.res = undefined;
    if (req) {
      req.destroy();
    }
    if (res) {
      res.destroyed = true;
      this.hooks.ended();
      res.emit('close');
    }
  }
}

interface ParsedHead {
  method: string;
  url: string;
  minor: string;
  headers: Record<string, string | string[] | undefined>;
  length: number;
  chunked: boolean;
  /** The known header names the head has, as bits (KNOWN_LIST). */
  seen: number;
  /** The lines after the first of a FIRST_WINS name (not in `headers`), [lower-case name, value] each; undefined: none. */
  extra: ExtraLines | undefined;
}

/** The method as a shared string for the common ones (no string allocated per request). */
function methodOf(text: string, end: number): string | undefined {
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 65 || c > 90) return undefined;
  }
  for (const m of COMMON_METHODS) if (m.length === end && text.startsWith(m)) return m;
  const m = text.slice(0, end);
  // llhttp knows a fixed list of methods (node:http answers 400 to others).
  return KNOWN_METHODS.has(m) ? m : undefined;
}
const COMMON_METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS'];
const KNOWN_METHODS = new Set(METHODS);

/**
 * Headers whose duplicates node:http drops from its object (the first one wins); the lean path builds
 * the same object and keeps the further lines aside (request-headers.ts: extraLinesOf).
 */
const FIRST_WINS = new Set(['content-type', 'content-length', 'user-agent', 'referer', 'host', 'authorization', 'proxy-authorization', 'if-modified-since', 'if-unmodified-since', 'from', 'location', 'max-forwards', 'retry-after', 'etag', 'last-modified', 'server', 'age', 'expires']);

/** Parses a request head (its bytes decoded as latin1); undefined for anything node:http should handle (see the file comment). */
export function parseRequestHead(text: string): ParsedHead | undefined {
  return parseRequestBytes(Buffer.from(text, 'latin1'), text);
}

/**
 * parseRequestHead over the head's bytes `b` and the same bytes as latin1 text: the loops read the
 * bytes (a typed array's element is cheaper to read than a sliced string's character) and the
 * strings kept are slices of the text. The head is [0, n): `text` may go on past it (a whole read,
 * body or pipelined bytes included).
 */
export function parseRequestBytes(b: Buffer, text: string, n = text.length, words?: DataView, rawTarget = false): ParsedHead | undefined {
  let lineEnd = text.indexOf('\r\n');
  if (lineEnd < 0 || lineEnd > n) lineEnd = n;
  // "METHOD SP target SP HTTP/1.x"
  const sp1 = text.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : text.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || sp2 === sp1 + 1 || sp2 + 9 !== lineEnd || !text.startsWith('HTTP/1.', sp2 + 1)) return undefined;
  const minorCode = text.charCodeAt(lineEnd - 1);
  if (minorCode !== 48 && minorCode !== 49) return undefined;
  const method = methodOf(text, sp1);
  if (method === undefined || method === 'CONNECT' || method === 'PRI') return undefined;
  for (let i = sp1 + 1; i < sp2; i++) {
    const c = b[i];
    // Whitespace, controls and non-ASCII (llhttp refuses them); a `#` goes to node:http, where
    // normalizeRequestTarget refuses a fragment (or, on a listener taking them, keeps it).
    if (c <= 32 || c >= 127 || c === 35) return undefined;
  }
  // Origin-form only (absolute-form and `*` go to node:http), normalised before routing as Istio does
  // (or, with rawTarget, kept as sent once it passes the same checks).
  if (b[sp1 + 1] !== 47) return undefined;
  const target = text.slice(sp1 + 1, sp2);
  const normal = normalizePath(target);
  if (normal === undefined) return undefined;
  const url = rawTarget ? target : normal;
  const minor = minorCode === 49 ? '1' : '0';
  const headers: Record<string, string | string[] | undefined> = {};
  const dv = words ?? new DataView(b.buffer, b.byteOffset, b.length);
  let length = -1;
  let te: string | undefined;
  /** Further lines of FIRST_WINS names (Host and Content-Length never get here: refused above). */
  let extra: ExtraLines | undefined;
  // The known header names seen so far, as bits (KNOWN_NAMES).
  let seen = 0;
  let pos = lineEnd + 2;
  while (lineEnd < n) {
    // One pass over the line (two native indexOf calls per line cost more): a token name up to the
    // colon — which rules out obs-fold (a leading space), stray bytes and a line without a colon —
    // then a value without control characters (a bare CR or LF included) up to the CRLF.
    // A known name (and its colon) is recognised by words; any other is read byte by byte.
    let colon: number;
    let lower: string;
    let bit: number;
    const k = REQUEST_NAMES.match(dv, pos, n, b.length);
    if (k >= 0) {
      lower = REQUEST_NAMES.names[k];
      bit = REQUEST_NAME_BITS[k];
      colon = pos + lower.length;
    } else {
      for (colon = pos; colon < n; colon++) {
        const c = b[colon];
        if (c === 58) break;
        if (c >= 128 || TCHAR[c] === 0) return undefined;
      }
      if (colon === pos || colon === n) return undefined;
      lower = headerName(b, text, pos, colon);
      bit = knownBit;
    }
    let next = skipPlainWords(dv, colon + 1, n);
    for (; next < n; next++) {
      const c = b[next];
      if (c < 32 || c === 127) {
        if (c === 13 && next + 1 < n && b[next + 1] === 10) break;
        if (c !== 9) return undefined;
      }
    }
    lineEnd = next;
    // The value without its surrounding whitespace.
    let vs = colon + 1;
    let ve = next;
    while (vs < ve && isOws(b[vs])) vs++;
    while (ve > vs && isOws(b[ve - 1])) ve--;
    const value = text.slice(vs, ve);
    pos = next + 2;
    // llhttp takes only SP after a Content-Length or Transfer-Encoding value, not HTAB.
    if ((lower === 'content-length' || lower === 'transfer-encoding') && text.lastIndexOf('\t', next - 1) >= ve) return undefined;
    if (lower === 'content-length') {
      // llhttp refuses any second Content-Length, even an equal one.
      if (!/^\d{1,15}$/.test(value) || length >= 0) return undefined;
      length = Number(value);
    } else if (lower === 'transfer-encoding') {
      if (te !== undefined || value.toLowerCase() !== 'chunked') return undefined;
      te = value;
    } else if (lower === 'upgrade' || lower === 'expect') return undefined;
    else if (bit === TRACEPARENT_BIT && (seen & bit) === 0 && validTraceparentBytes(dv, b, vs, ve)) noteValidTraceparent(value);
    // A known name's first line needs no look at the object first (a megamorphic load per header).
    if (bit !== 0 && (seen & bit) === 0) {
      seen |= bit;
      headers[lower] = value;
      continue;
    }
    // A second Host (RFC 9112 §3.2: a server MUST answer 400; llhttp keeps both): node:http's path answers it.
    if (bit === HOST_BIT) return undefined;
    seen |= bit;
    // The object's prototype answers for these two names (a function, a setter): kept as own fields.
    if (lower === 'constructor' || lower === '__proto__') {
      addOwnHeader(headers, lower, value);
      continue;
    }
    const cur = headers[lower];
    if (cur === undefined) headers[lower] = lower === 'set-cookie' ? [value] : value;
    else if (Array.isArray(cur)) cur.push(value);
    else if (!FIRST_WINS.has(lower)) headers[lower] = lower === 'cookie' ? `${cur}; ${value}` : `${cur}, ${value}`;
    // The first value stays what every reader sees; the further lines go on as lines of their own.
    else (extra ??= []).push([lower, value]);
  }
  if (te !== undefined && length >= 0) return undefined; // request smuggling shape: node:http answers 400
  if (minor === '1' && (seen & HOST_BIT) === 0) return undefined;
  return { method, url, minor, headers, length: Math.max(0, length), chunked: te !== undefined, seen, extra };
}

/** Adds a header whose name the plain object's prototype also has, as an own enumerable field. */
function addOwnHeader(headers: Record<string, string | string[] | undefined>, name: string, value: string): void {
  const cur = Object.hasOwn(headers, name) ? headers[name] : undefined;
  const next = cur === undefined ? value : `${Array.isArray(cur) ? cur.join(', ') : cur}, ${value}`;
  Object.defineProperty(headers, name, { value: next, enumerable: true, writable: true, configurable: true });
}

/**
 * Request header names that come with most requests (the mesh's own included), lower-case, by length.
 * A known name is this constant rather than a new lower-cased copy: one string less per header, and
 * the header object is keyed by internalised strings (a fresh string key is hashed and looked up in
 * the string table on every store, a quarter of the head parse's time).
 */
const KNOWN_NAMES: { name: string; bytes: Uint8Array; bit: number }[][] = [];
// At most 31 names: each has a bit of a small integer (parseRequestBytes' `seen`).
const KNOWN_LIST = ['host', 'accept', 'accept-encoding', 'accept-language', 'user-agent', 'content-type', 'content-length', 'connection', 'keep-alive', 'transfer-encoding', 'authorization', 'cookie', 'cache-control', 'origin', 'referer', 'traceparent', 'tracestate', 'x-request-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-berth-source', 'x-berth-snapshot', 'upgrade', 'expect', 'te', 'proxy-connection'];
KNOWN_LIST.forEach((name, i) => (KNOWN_NAMES[name.length] ??= []).push({ name, bytes: Buffer.from(name, 'latin1'), bit: 1 << i }));
/** The known names of 3 characters or more, recognised by words (NameTable), and their bits. */
const REQUEST_NAMES = new NameTable(KNOWN_LIST.filter((name) => name.length >= 3));
const REQUEST_NAME_BITS = REQUEST_NAMES.names.map((name) => 1 << KNOWN_LIST.indexOf(name));

const HOST_BIT = KNOWN_NAMES[4].find((k) => k.name === 'host')!.bit;
const TRACEPARENT_BIT = KNOWN_NAMES[11].find((k) => k.name === 'traceparent')!.bit;
const PROXY_CONNECTION_BIT = KNOWN_NAMES[16].find((k) => k.name === 'proxy-connection')!.bit;

/** The bit of the name headerName last returned (0: not a known name). */
let knownBit = 0;

/** The lower-case header name at [from, to) of the head (bytes `b`, the same as `text`); its bit in `knownBit`. */
function headerName(b: Buffer, text: string, from: number, to: number): string {
  const known = KNOWN_NAMES[to - from];
  if (known !== undefined) {
    for (const k of known)
      if (sameIgnoringCase(b, from, k.bytes)) {
        knownBit = k.bit;
        return k.name;
      }
  }
  knownBit = 0;
  return text.slice(from, to).toLowerCase();
}

/** Whether the bytes at `from` are `lower` (lower-case ASCII), letters compared without case. */
function sameIgnoringCase(b: Buffer, from: number, lower: Uint8Array): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = b[from + i];
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lower[i]) return false;
  }
  return true;
}

/** Whitespace around a header value: SP and HTAB only, as llhttp (a VT or NBSP there is part of the value). */
function isOws(c: number): boolean {
  return c === 32 || c === 9;
}
