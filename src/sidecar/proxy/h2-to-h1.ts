// HTTP/2 → HTTP/1.1 translation (what Envoy does toward an HTTP/1.1 cluster): an HTTP/2 stream
// seen as the request and response surfaces of the HTTP/1.1 data path (forward.ts), so an h2c
// client (curl --http2-prior-knowledge, a browser behind a TLS terminator) reaches an app that
// speaks only HTTP/1.1 through the same pools, retries, timeouts and header rewrites.
// Request: pseudo-headers become the request line and `host`; a body without a length is sent
// chunked. Response: connection-specific headers (illegal in HTTP/2, RFC 9113 §8.2.2) are dropped.
import type http2 from 'node:http2';
import type http from 'node:http';
import { Readable } from 'node:stream';
import { resetWhenAnswered } from './h2-early-answer.js';
import { h2Reply } from './h2-forward.js';
import { cutStream, h2Headers, sendableStatus } from './h2-streams.js';
import type { ProxyRequest, ProxyResponse } from './listener.js';
import { giveBackReadBuffer } from './read-buffers.js';
import { extraLinesOf, setExtraLines } from './request-headers.js';

/** Response headers that describe an HTTP/1.1 connection: never sent on an HTTP/2 stream. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'te', 'host']);

/** An HTTP/2 request stream as an HTTP/1.1 request: head fields plus the body as a Readable (flow control kept). */
export class H2AsH1Request extends Readable implements ProxyRequest {
  /** The body may not pass this many bytes (a handler's limit, as LeanRequest.bodyLimit): beyond it, 413 and the stream is cut. */
  bodyLimit = Infinity;
  private bodyBytes = 0;
  readonly url: string;
  readonly method: string;
  readonly headers: http.IncomingHttpHeaders;
  /** The client's protocol (a recording says it; the app is sent HTTP/1.1 whatever this says). */
  readonly httpVersion = '2.0';

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    h2headers: http2.IncomingHttpHeaders,
  ) {
    super();
    this.url = h2headers[':path'] ?? '/';
    this.method = h2headers[':method'] ?? 'GET';
    const headers: http.IncomingHttpHeaders = {};
    for (const k in h2headers) if (k[0] !== ':') (headers as Record<string, unknown>)[k] = h2headers[k];
    // Further lines of fields node keeps once (request-headers.ts): written as lines to the app.
    const extra = extraLinesOf(h2headers);
    if (extra) setExtraLines(headers, extra);
    // The Host is made from :authority when there is one (RFC 9113 §8.3.1), as routing reads it (h2RequestHead).
    if (h2headers[':authority'] !== undefined) headers.host = h2headers[':authority'];
    // A body of unknown length (HTTP/2 frames it; HTTP/1.1 needs a length or chunks): stream it chunked.
    if (!stream.endAfterHeaders && headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
    this.headers = headers;
    // Expect: 100-continue is answered by this hop (the upstream client leaves it out): the client
    // may send its body now (RFC 9110 §10.1.1), as Envoy does; a curl waited a second without it.
    if (!stream.endAfterHeaders && typeof headers.expect === 'string' && headers.expect.toLowerCase() === '100-continue' && !stream.headersSent) {
      try {
        stream.additionalHeaders({ ':status': 100 });
      } catch {
        // The stream is already closing (a client reset): nothing waits for the 100.
      }
    }
    // Whoever streams the body listens for its errors; this keeps a body nobody reads (a request
    // answered before it was sent) from turning a client's reset into an uncaught exception.
    this.on('error', () => {});
    let ended = false;
    /** The response went out whole before the body ended (an early answer): the rest of the body is dropped. */
    let dropping = false;
    stream.on('data', (c: Buffer) => {
      if (dropping) return;
      if ((this.bodyBytes += c.length) > this.bodyLimit) {
        dropping = true;
        return this.overLimit();
      }
      if (!this.push(c)) stream.pause();
    });
    // The upstream exchange no longer reads the body after its answer: unread, the stream stayed paused
    // and the client's upload (and stream) never ended. H2AsH1Response resets the stream once the answer is out.
    stream.once('finish', () => {
      if (ended) return;
      dropping = true;
      stream.resume();
    });
    stream.once('end', () => {
      // node:http2 ends a stream the client reset (or whose connection dropped) too, after 'aborted':
      // that body is cut, not complete ('close' below cuts the upstream request).
      if (stream.aborted) return;
      ended = true;
      this.push(null);
    });
    // The client reset the stream before its body ended: the upstream request is cut too.
    stream.once('close', () => {
      if (!ended) this.destroy(new Error('client reset the HTTP/2 stream'));
    });
  }

  override _read(): void {
    this.stream.resume();
  }

  /** The body passed bodyLimit: 413 if nothing was answered yet, the stream reset once that is out, the upstream request cut. */
  private overLimit(): void {
    const { stream } = this;
    if (!stream.headersSent && !stream.destroyed && !stream.closed) {
      try {
        stream.respond({ ':status': 413, 'content-length': '0' }, { endStream: true });
      } catch {
        // The stream is closing already (a client reset): nobody waits for the answer.
      }
      resetWhenAnswered(stream);
    } else cutStream(stream);
    this.destroy(new Error('request body over the limit'));
  }
}

/**
 * Bytes of upstream reads (writeRead, 128 to 512 KiB each: H2_READ_SIZES) queued on a stream before
 * the upstream stops being read, and the queue's size at which it is read again, so the next read
 * is in hand when one has gone out. A stream whose client's window is closed holds at most 640 KiB
 * of reads (a 512 KiB read only on a queue of 128 KiB or less) and the socket's next read buffer
 * (128 KiB, as the queue is then longer).
 */
const QUEUE_HIGH = 256 * 1024;
const QUEUE_LOW = 128 * 1024;

/** An HTTP/2 stream as the HTTP/1.1 response surface the data path writes to. */
export class H2AsH1Response implements ProxyResponse {
  statusCode = 200;
  /** Upstream read buffers with views queued on the stream (writeRead), in write order, and how many views of each. */
  private readonly held: { buf: Buffer | undefined; views: number }[] = [];
  /** A view writeRead queued was sent (or dropped with the stream): its buffer goes back after its last view. */
  private readonly onReadSent = (): void => {
    const h = this.held[0];
    if (h !== undefined && --h.views === 0) {
      this.held.shift();
      if (h.buf) giveBackReadBuffer(h.buf);
    }
    // Writable has already taken the write's bytes off writableLength when it calls back.
    if (this.drainWaiters.length > 0 && this.stream.writableLength <= QUEUE_LOW) this.fireDrain();
  };
  /** once('drain') listeners: called at the stream's 'drain', or once writeRead's queue is down to QUEUE_LOW. */
  private drainWaiters: (() => void)[] = [];
  private drainListened = false;
  private readonly fireDrain = (): void => {
    const waiters = this.drainWaiters;
    if (waiters.length === 0) return;
    this.drainWaiters = [];
    for (const fn of waiters) fn();
  };
  private pending: http2.OutgoingHttpHeaders | undefined;
  /** end() was called: the whole answer is handed over. */
  private ended = false;

  constructor(private readonly stream: http2.ServerHttp2Stream) {}

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  /**
   * The whole answer was handed over (end() called), as on the HTTP/1.1 surfaces. Not the stream's
   * own writableFinished: node sets that on a reset stream (and on a HEAD request's from the start),
   * and the exchange took a client's reset for a finished answer — the app's connection, streaming
   * on, was never closed.
   */
  get writableFinished(): boolean {
    return this.ended;
  }

  get writableLength(): number {
    return this.stream.writableLength;
  }

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  setHeader(name: string, value: string): this {
    (this.pending ??= {})[name.toLowerCase()] = value;
    return this;
  }

  writeHead(status: number, headers?: http.OutgoingHttpHeaders | string[]): this {
    this.statusCode = status;
    const out: http2.OutgoingHttpHeaders = { ':status': status };
    const named = new Set<string>();
    const add = (name: string, value: string | number | string[]): void => {
      const k = name.toLowerCase();
      if (CONNECTION_SPECIFIC.has(k)) {
        // Headers that Connection names are hop-by-hop too (RFC 9110 §7.6.1).
        if (k === 'connection') for (const n of String(value).split(',')) named.add(n.trim().toLowerCase());
        return;
      }
      const cur = out[k];
      if (cur === undefined) out[k] = typeof value === 'number' ? String(value) : value;
      else out[k] = [...(Array.isArray(cur) ? (cur as string[]) : [String(cur)]), ...(Array.isArray(value) ? (value as string[]) : [String(value)])];
    };
    if (Array.isArray(headers)) for (let i = 0; i + 1 < headers.length; i += 2) add(headers[i], headers[i + 1]);
    else if (headers) for (const k in headers) if (headers[k] !== undefined) add(k, headers[k] as string | number | string[]);
    // Headers set before, unless writeHead's own replace them, through the same filter: a
    // `connection: close` set by a handler made respond() throw (a 502 for the building-block API's 413).
    for (const k in this.pending) if (out[k] === undefined) add(k, this.pending[k] as string);
    for (const n of named) delete out[n];
    if (this.stream.destroyed || this.stream.closed) return this;
    if (!sendableStatus(status)) return this.refuse(`status ${status} cannot be sent on HTTP/2`);
    try {
      this.stream.respond(h2Headers(out));
    } catch (err) {
      return this.refuse((err as Error).message);
    }
    return this;
  }

  /** The app's answer cannot be sent on HTTP/2 as it is: the client gets a 502 instead (and the body is not sent). */
  private refuse(why: string): this {
    this.statusCode = 502;
    h2Reply(this.stream, 502, 'upstream-bad-response', `the upstream's answer cannot be sent over HTTP/2: ${why}`);
    return this;
  }

  write(chunk: Buffer | string): boolean {
    if (!this.stream.headersSent) this.writeHead(this.statusCode);
    if (this.stream.destroyed || this.stream.writableEnded) return true;
    return this.stream.write(chunk);
  }

  writeRead(chunk: Buffer, buffer: Buffer | undefined): boolean {
    if (!this.stream.headersSent) this.writeHead(this.statusCode);
    if (this.stream.destroyed || this.stream.writableEnded) return true;
    // Writes call back in their order, once node:http2 no longer holds their bytes (sent, or dropped with the stream).
    const last = this.held[this.held.length - 1];
    if (buffer !== undefined && last !== undefined && last.buf === buffer) last.views++;
    else this.held.push({ buf: buffer, views: 1 });
    this.stream.write(chunk, this.onReadSent);
    // Reading goes on while the queue is under QUEUE_HIGH (the next read is there when this one is
    // sent); a 'drain' follows a false once the queue is down to QUEUE_LOW (onReadSent).
    return this.stream.writableLength < QUEUE_HIGH;
  }

  end(chunk?: Buffer | string): this {
    if (!this.stream.headersSent) this.writeHead(this.statusCode);
    if (this.stream.destroyed || this.stream.writableEnded) return this;
    this.ended = true;
    this.stream.end(chunk);
    // Answered before the request body ended (a 401 to an upload): the client is told to stop sending
    // (RST_STREAM NO_ERROR once the answer is out, RFC 9113 §8.1), as Envoy does.
    if (!this.stream.readableEnded) resetWhenAnswered(this.stream);
    return this;
  }

  /** A response cut short: the stream is reset, so the client sees an error rather than a short body. */
  destroy(): this {
    cutStream(this.stream);
    return this;
  }

  once(event: 'close' | 'drain' | 'finish', fn: () => void): this {
    if (event !== 'drain') this.stream.once(event, fn);
    else {
      this.drainWaiters.push(fn);
      if (!this.drainListened) {
        this.drainListened = true;
        this.stream.on('drain', this.fireDrain);
      }
    }
    return this;
  }

  off(event: 'close' | 'drain' | 'finish', fn: () => void): this {
    if (event !== 'drain') this.stream.off(event, fn);
    else this.drainWaiters = this.drainWaiters.filter((f) => f !== fn);
    return this;
  }
}
