// One HTTP listener of the proxy (inbound, outbound, forward-proxy, gateway, admin): binds with
// retries (the address may still be held by a process being replaced), counts in-flight requests,
// and drains on close: stops accepting, answers kept-alive connections with `connection: close`,
// and resolves once in-flight requests finished or the deadline passed.
//
// With an `h2` handler the same port also speaks HTTP/2 over cleartext with prior knowledge (h2c,
// what gRPC uses): the first bytes of a connection are looked at; the HTTP/2 connection preface goes
// to an HTTP/2 server, anything else to the HTTP/1.1 server as before.
import http from 'node:http';
import type http2 from 'node:http2';
import type net from 'node:net';
import { Duplex, type Readable } from 'node:stream';
import { ClientReads } from './client-reads.js';
import { afterTurns, inTurn, limitBody, waitingForTurn, watchBodyProgress } from './http1-turns.js';
import { BODY_TIMEOUT_MS, HEADERS_TIMEOUT_MS, LeanConnection, MAX_HEAD_BYTES } from './lean-server.js';
import { headersSayBody, normalizeH2Target, normalizeRequestTarget, rawAnswer } from './http-syntax.js';
import type { RequestHead } from './routes.js';
import { dropConnectionNamed, extraLinesFromRaw, H1_KEPT_ASIDE, setExtraLines, takeH2ExtraLines } from './request-headers.js';

/**
 * The request surface the proxy uses: node:http's IncomingMessage, or the lean path's LeanRequest
 * (a Readable body) or LeanHead (no body: no stream is built for it). `body` is the readable body
 * when the request has one.
 */
export interface ProxyRequest extends RequestHead {
  readonly destroyed: boolean;
}

/** The request's body stream (only called for requests that have a body; those are always Readables). */
export function bodyStream(req: ProxyRequest): Readable {
  return req as unknown as Readable;
}

/** The response surface the proxy uses: node:http's ServerResponse or the lean path's LeanResponse. */
export interface ProxyResponse {
  statusCode: number;
  readonly headersSent: boolean;
  readonly writableFinished: boolean;
  readonly destroyed: boolean;
  writeHead(status: number, headers?: http.OutgoingHttpHeaders | string[]): unknown;
  setHeader(name: string, value: string): unknown;
  write(chunk: Buffer | string): boolean;
  end(chunk?: Buffer | string): unknown;
  destroy(): unknown;
  once(event: 'close' | 'drain' | 'finish', fn: () => void): unknown;
  off(event: 'close' | 'drain' | 'finish', fn: () => void): unknown;
  /**
   * An answer that goes out under flow control (an HTTP/2 stream, H2AsH1Response) holds what it is
   * given until the client's window lets it out: it takes the upstream's reads uncopied, `chunk` a
   * view of `buffer` (an upstream socket's read buffer, handed over: UpstreamCall.hand), and gives
   * the buffer back (giveBackReadBuffer) once every view of it was sent. The upstream's reads for it
   * stay at the smallest size (UpstreamRequest.smallReads). Returns false as write() does.
   */
  writeRead?(chunk: Buffer, buffer: Buffer | undefined): boolean;
  /** Bytes written and not sent yet (with writeRead). */
  readonly writableLength?: number;
}

/** A request; `peer` is the client's address (x-forwarded-for at the gateway). */
export type Handler = (req: ProxyRequest, res: ProxyResponse, peer?: string) => void;
/** An `Upgrade` request (WebSocket): the handler owns the socket from here on. */
/**
 * An `Upgrade` request (WebSocket): the handler owns the socket from here on. `reuse` (when offered)
 * gives the socket back to the HTTP/1.1 server, `unread` first: the upgrade was declined and the
 * connection stays HTTP.
 */
export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer, reuse?: (socket: Duplex, unread: Buffer) => void) => void;

/** One HTTP/2 stream (request) on an h2c connection; `peer` is the client's address. */
export type H2Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, peer?: string) => void;

export interface ListenerOptions {
  name: string;
  host: string;
  port: number;
  handler: Handler;
  upgrade?: UpgradeHandler;
  /** Loads the HTTP/2 stream handler (on the first h2c connection: node:http2 is loaded only then). */
  h2?: () => Promise<H2Handler>;
  /** Serve ordinary HTTP/1.1 requests on the lean path (lean-server.ts), node:http for the rest. */
  lean?: boolean;
  /** Idle kept-alive connections are closed after this long (default 5 s, node:http's; the proxy's listeners set theirs, see proxy.ts). */
  keepAliveMs?: number;
  /** A request head's largest size (default MAX_HEAD_BYTES, 60 KiB, Envoy's). */
  maxHeadBytes?: number;
  /**
   * Pass request targets on as sent instead of normalising them (`/a/%2e%2e/b` stays so): for the
   * building-block API, which reads the app ID from the path and hands the rest on as the method —
   * normalised first, a method's dot segments climbed out of `/v1.0/invoke/{appId}/method/`.
   */
  rawTarget?: boolean;
  /**
   * Accept a target holding `#` (refused elsewhere: http-syntax.ts normalizeRequestTarget): the
   * inbound, whose requests no route reads, and which takes invocations the building-block API
   * passed on as daprd does (`?tag=#1`). rawTarget implies it.
   */
  fragments?: boolean;
  /**
   * A request this listener answered itself, before any handler saw it (a malformed or oversized
   * head, a bad target, two Host fields, CONNECT, a header timeout): for the metrics and the access
   * log, as Envoy counts and logs its downstream protocol errors. Method and target when they were read.
   */
  refused?(status: number, method?: string, target?: string): void;
  log(msg: string): void;
  bindRetryMs?: number;
}

/** An HTTP/2 connection with no stream open this long is closed (BERTH_PROXY_H2_IDLE_MS, for tests; nginx: 75 s). */
const H2_IDLE_MS = Number(process.env.BERTH_PROXY_H2_IDLE_MS ?? 60_000) || 60_000;
/**
 * A stream with no frame either way this long is ended (Envoy's stream_idle_timeout, 5 min;
 * BERTH_PROXY_H2_STREAM_IDLE_MS for tests): 408 before any answer, a reset after one. A client that
 * stopped halfway through its body (or an upstream that never read it, so the route timeout, which
 * starts at the request's end, never began) held the stream, an upstream slot and the app's
 * connection for good.
 */
const H2_STREAM_IDLE_MS = Number(process.env.BERTH_PROXY_H2_STREAM_IDLE_MS ?? 300_000) || 300_000;
/** Streams open at once on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS, as nginx's default). */
export const H2_MAX_STREAMS = 128;
/**
 * node:http2's maxSessionMemory (MB) for a client's session. node counts the answers' bytes queued
 * for the client in it and, while it is exceeded, refuses every new stream (RST_STREAM
 * ENHANCE_YOUR_CALM) — after 100 refusals it fails the session, every stream on it cut. An answer
 * from an HTTP/1.1 app is handed over in upstream reads (then 1 MiB each; now 128–512 KiB, up to
 * 256 KiB queued before the upstream is paused: H2AsH1Response.writeRead), so each stream may hold
 * up to ~0.75 MiB: with 16 MB, a dozen large downloads made the connection refuse the rest. The
 * limit allows the streams their reads; what a stream holds stays bounded by the pause.
 */
const H2_SESSION_MEMORY_MB = 16 + 2 * H2_MAX_STREAMS;

/** An HTTP/2 session that has not read what it was given for this long, with nothing of its own waiting to be written, has stopped reading for good. */
const H2_STALL_MS = 2000;


/** The methods named in a 405 to CONNECT (HTTP/1.1 and HTTP/2). */
const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * Bytes after which the preface (`PRI * HTTP/2.0…`) and an HTTP/1.1 request line differ when they
 * differ at all (`POST`, `PUT`, `PATCH`, `PROPFIND` part from `PRI` by their second or third byte).
 */
const UNAMBIGUOUS_PREFIX = 3;

/** Whether the bytes seen so far are (the start of) the HTTP/2 connection preface. */
function startsLikeH2(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, H2_PREFACE.length);
  return chunk.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
}

/**
 * A duplex over `socket` that first yields `first` (bytes already read while sniffing). The HTTP/2
 * server reads from the socket's handle directly and would miss bytes put back with unshift().
 */
function withFirstChunk(socket: net.Socket, first: Buffer): Duplex {
  let stalled: NodeJS.Timeout | undefined;
  const watch = (): NodeJS.Timeout =>
    setTimeout(() => {
      // node's session also stops reading while one of its writes waits on a client that reads
      // slowly (a big-window download): that session is alive, and is watched on until it reads.
      if (d.writableLength > 0 || socket.writableLength > 0) stalled = watch();
      else d.destroy();
    }, H2_STALL_MS);
  const d = new Duplex({
    read: () => {
      if (stalled) clearTimeout(stalled);
      stalled = undefined;
      socket.resume();
    },
    write: (chunk: Buffer, _enc, cb) => void socket.write(chunk, cb),
    final: (cb) => void socket.end(cb),
    destroy: (err, cb) => {
      socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  d.push(first);
  socket.on('data', (c: Buffer) => {
    if (d.push(c)) return;
    socket.pause();
    // An HTTP/2 session reads all it is given unless it gave up on the connection (nghttp2 after a
    // GOAWAY, e.g. for a rapid-reset flood) without closing it: the paused socket would never see
    // the client leave and stay in CLOSE-WAIT, holding the session's memory. Such a session is cut.
    stalled ??= watch();
  });
  // The client closed its side: HTTP/2 has no half-closed connection, so close ours too. (Left to the
  // session, a connection it had sent GOAWAY on — a rapid-reset flood — stayed in CLOSE-WAIT forever.)
  socket.on('end', () => {
    d.push(null);
    socket.end();
  });
  socket.on('error', (e) => d.destroy(e));
  socket.on('close', () => {
    if (stalled) clearTimeout(stalled);
    d.destroy();
  });
  return d;
}

/** Ends a connection given back after a declined upgrade while draining: no one else handles its errors now. */
function endQuietly(socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  socket.end();
}

export class Listener {
  private server: http.Server | undefined;
  private readonly h2sessions = new Set<http2.ServerHttp2Session>();
  private readonly leanConnections = new Set<LeanConnection>();
  /** Answers node:http is serving: those not begun when a drain starts say `connection: close`. */
  private readonly h1Answers = new Set<http.ServerResponse>();
  /** Connections handed to the upgrade handler (tunnels, and upgrades waiting for their answer): node:http no longer counts them. */
  private readonly upgraded = new Set<Duplex>();
  /** Hands a connection (back) to the HTTP/1.1 server, `unread` bytes first. */
  private toHttp1: ((socket: net.Socket, unread: Buffer) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private warned = false;
  inFlight = 0;
  draining = false;

  constructor(readonly opts: ListenerOptions) {
    this.listen();
  }

  get key(): string {
    return `${this.opts.host}:${this.opts.port}`;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  private listen(): void {
    if (this.closed) return;
    const server = http.createServer(
      {
        // Slowloris: a client that does not finish its headers in time (10 s) is cut, checked every second.
        headersTimeout: HEADERS_TIMEOUT_MS,
        connectionsCheckingInterval: Math.min(1000, HEADERS_TIMEOUT_MS),
        requestTimeout: 0,
        keepAliveTimeout: this.opts.keepAliveMs ?? 5_000,
        maxHeaderSize: this.opts.maxHeadBytes ?? MAX_HEAD_BYTES,
        noDelay: true,
      },
      (req, res) => {
        inTurn(req, res, () => {
          // Absolute-form targets and un-normalised paths, as on the lean path (http-syntax.ts). A
          // request with two Host fields is refused (RFC 9112 §3.2; node:http keeps the first): a proxy
          // that routes by one while the next hop reads the other is how requests get misrouted.
          const target = req.url;
          if (hostFields(req.rawHeaders) > 1 || !normalizeRequestTarget(req, this.opts.rawTarget, this.opts.fragments)) {
            res.writeHead(400, { 'content-length': 0, connection: 'close' }).end();
            this.opts.refused?.(400, req.method, target);
            return;
          }
          this.inFlight++;
          this.h1Answers.add(res);
          res.once('close', () => {
            this.inFlight--;
            this.h1Answers.delete(res);
          });
          if (this.draining) res.setHeader('connection', 'close');
          if (headersSayBody(req.headers)) {
            watchBodyProgress(req, res, BODY_TIMEOUT_MS);
            limitBody(req, res);
          }
          // node:http kept the first of two Authorization (Content-Type, …) lines: the others go on as lines too.
          setExtraLines(req.headers, extraLinesFromRaw(req.rawHeaders, H1_KEPT_ASIDE));
          dropConnectionNamed(req.headers);
          this.opts.handler(req, res, req.socket.remoteAddress);
        });
      },
    );
    server.once('error', (err: NodeJS.ErrnoException) => {
      server.close();
      if (this.closed) return;
      if (!this.warned) this.opts.log(`cannot listen on ${this.key} (${this.opts.name}): ${err.code ?? err.message}; retrying`);
      this.warned = true;
      this.timer = setTimeout(() => this.listen(), this.opts.bindRetryMs ?? 250);
    });
    if (this.opts.h2 || this.opts.lean) this.sniff(server, this.opts.h2, this.opts.lean === true);
    const upgrade = this.opts.upgrade;
    if (upgrade) {
      server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) =>
        afterTurns(socket, () => {
          // `Upgrade: h2c` (curl --http2, Java's HttpClient) is served as the plain request it also is,
          // as Envoy strips it: the proxy never offers h2c to the app (HTTP2-Settings is this hop's), and
          // as an upgrade a chunked upload was refused 400 and every request took a connection of its own.
          const plain = this.toHttp1 && onlyH2cUpgrade(req.headers.upgrade) ? withoutH2cUpgrade(req, head) : undefined;
          if (plain) return this.toHttp1!(socket, plain);
          if (this.draining) return void socket.end(rawAnswer('503 Service Unavailable'));
          // Routed like any request: on its normalised target (a `/x/../admin` upgrade passed a route on `/admin`).
          const target = req.url;
          if (!normalizeRequestTarget(req, this.opts.rawTarget, this.opts.fragments)) {
            this.opts.refused?.(400, req.method, target);
            return void socket.end(rawAnswer('400 Bad Request', 'x-berth-reason: bad-request-target\r\n'));
          }
          setExtraLines(req.headers, extraLinesFromRaw(req.rawHeaders, H1_KEPT_ASIDE));
          dropConnectionNamed(req.headers);
          const toHttp1 = this.toHttp1;
          // A drain waits for tunnels as for requests in flight, and ends those still open at its deadline.
          const forget = (): void => void this.upgraded.delete(socket);
          this.upgraded.add(socket);
          socket.once('close', forget);
          const reuse = (s: Duplex, unread: Buffer): void => {
            forget();
            socket.off('close', forget);
            if (this.draining) endQuietly(s);
            else toHttp1!(s as net.Socket, unread);
          };
          upgrade(req, socket, head, toHttp1 ? reuse : undefined);
        }),
      );
    }
    // With no upgrade handler (the building-block API) node:http serves such a request as any other:
    // a server may ignore Upgrade (RFC 9110 §7.8). A 501 here refused `curl --http2`'s `Upgrade: h2c`.
    // CONNECT (tunnels) is not offered: without this listener node:http would drop the connection unanswered.
    server.on('connect', (req: http.IncomingMessage, socket: net.Socket) =>
      afterTurns(socket, () => {
        this.opts.refused?.(405, 'CONNECT', req.url);
        socket.end(rawAnswer('405 Method Not Allowed', `allow: ${ALLOWED_METHODS}\r\nx-berth-reason: connect-not-supported\r\n`));
      }),
    );
    server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      // A head left half read because the proxy stopped reading while earlier requests are served
      // (inTurn) is not a slow client: node:http has stopped timing it; it is read on when its turn comes.
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && waitingForTurn(socket)) return;
      // Malformed requests get the right status and the connection closes; the proxy never crashes on input.
      // A response under way would be corrupted by a status line written into it: the connection is cut instead.
      if (!socket.writable || (socket as net.Socket & { _httpMessage?: unknown })._httpMessage) return socket.destroy();
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      this.opts.refused?.(Number(status.slice(0, 3)));
      // Close for good once written: a client still sending (a slowloris drip) must not keep it half-open.
      socket.end(rawAnswer(status), () => socket.destroy());
    });
    server.listen({ host: this.opts.host, port: this.opts.port, exclusive: true }, () => {
      if (this.closed) {
        server.close();
        return;
      }
      this.server = server;
      if (this.warned) this.opts.log(`listening on ${this.key} (${this.opts.name})`);
      this.warned = false;
    });
  }

  /**
   * Puts a sniffer in front of the HTTP/1.1 server's connection handling: h2c connections go to an
   * HTTP/2 server; with `lean`, HTTP/1.1 connections go to the lean path, which hands unusual ones
   * back to node:http.
   */
  private sniff(server: http.Server, load: (() => Promise<H2Handler>) | undefined, lean: boolean): void {
    let h2: Promise<http2.Http2Server> | undefined;
    /** Client address per HTTP/2 session (the session's socket is node's wrapper, which does not know it). */
    const peers = new WeakMap<http2.Http2Session, string>();
    let handedPeer: string | undefined;
    const h2server = (): Promise<http2.Http2Server> =>
      (h2 ??= Promise.all([import('node:http2'), import('./h2-forward.js'), import('./h2-early-answer.js'), load!()]).then(([mod, { h2Reply, noteGrpcCall, H2_STREAM_WINDOW, widenConnectionWindow }, { resetWhenAnswered }, handler]) => {
        // At most H2_MAX_STREAMS streams at once per connection (nginx's 128): without a limit one
        // connection opened a connection to the app per stream, thousands of them.
        const srv = mod.createServer({ maxSessionMemory: H2_SESSION_MEMORY_MB, settings: { maxConcurrentStreams: H2_MAX_STREAMS, initialWindowSize: H2_STREAM_WINDOW } });
        /** Open streams per session: a session is idle when it has none. */
        const open = new WeakMap<http2.Http2Session, number>();
        srv.on('session', (session: http2.ServerHttp2Session) => {
          // Emitted within srv.emit('connection') below: the peer is the connection's just handed over.
          if (handedPeer !== undefined) peers.set(session, handedPeer);
          this.h2sessions.add(session);
          widenConnectionWindow(session);
          session.once('close', () => this.h2sessions.delete(session));
          session.on('error', () => session.destroy());
          // A session that never opens a stream (an unfinished preface, SETTINGS and silence) gets the
          // time an HTTP/1.1 client has for its headers; one with no stream open for H2_IDLE_MS is
          // closed (GOAWAY), as nginx and Envoy close idle HTTP/2 connections. Each held an fd for good.
          open.set(session, 0);
          // on(), not setTimeout()'s callback (a once listener): a timeout while a stream was open
          // would have spent it, and the session, idle afterwards, was never closed.
          session.setTimeout(HEADERS_TIMEOUT_MS);
          session.on('timeout', () => {
            if (open.get(session) !== 0) return;
            session.close();
            // A peer that does not close its side after the GOAWAY is cut.
            setTimeout(() => session.destroy(), 1000).unref();
          });
          if (this.draining) session.close();
        });
        srv.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
          this.inFlight++;
          // The proxy's own answers to a gRPC call are gRPC statuses (grpc-replies.ts).
          noteGrpcCall(stream, headers);
          const session = stream.session;
          if (session) {
            const n = open.get(session) ?? 0;
            if (n === 0) session.setTimeout(H2_IDLE_MS);
            open.set(session, n + 1);
          }
          stream.once('close', () => {
            this.inFlight--;
            if (session) open.set(session, (open.get(session) ?? 1) - 1);
          });
          stream.on('error', () => {});
          stream.setTimeout(H2_STREAM_IDLE_MS);
          stream.on('timeout', () => {
            if (stream.destroyed || stream.closed) return;
            if (stream.headersSent) return stream.close(mod.constants.NGHTTP2_CANCEL);
            h2Reply(stream, 408, 'stream-idle-timeout', `no frame on this stream for ${H2_STREAM_IDLE_MS} ms`);
            resetWhenAnswered(stream);
          });
          // CONNECT (a tunnel) is not offered, as on HTTP/1.1: routed, it reached the app as `CONNECT / HTTP/1.1`.
          if (headers[':method'] === 'CONNECT') {
            this.opts.refused?.(405, 'CONNECT', headers[':authority']);
            return h2Reply(stream, 405, 'connect-not-supported', 'CONNECT is not supported', { allow: ALLOWED_METHODS });
          }
          // Absolute-form is not HTTP/2's; un-normalised paths are normalised as on HTTP/1.1 (http-syntax.ts).
          const target = headers[':path'];
          if (!normalizeH2Target(headers, this.opts.rawTarget, this.opts.fragments)) {
            this.opts.refused?.(400, headers[':method'], target);
            // Reset by the client in the same read as its headers (a rapid reset): there is nothing to answer.
            return h2Reply(stream, 400, 'bad-request-target', 'bad request target');
          }
          // node kept the first of two Authorization (Content-Type, …) fields: the others go on as lines too.
          takeH2ExtraLines(headers, raw);
          handler(stream, headers, peers.get(stream.session!));
        });
        return srv;
      }));
    const http1 = server.listeners('connection') as ((socket: net.Socket) => void)[];
    server.removeAllListeners('connection');
    // Accepted paused: the connection's reads are taken over before the first one (client-reads.ts).
    (server as unknown as { pauseOnConnect: boolean }).pauseOnConnect = true;
    server.on('connection', (accepted: net.Socket) => {
      const reads = new ClientReads(accepted, server);
      const { socket } = reads;
      // A connection that never sends a byte is cut like one that never finishes its headers (slowloris).
      const silent = setTimeout(() => socket.destroy(), HEADERS_TIMEOUT_MS);
      socket.once('close', () => clearTimeout(silent));
      const peer = socket.remoteAddress;
      /** A first read too short to tell HTTP/2's preface from an HTTP/1.1 method (`P`, `PR`): kept for the next. */
      let start: Buffer | undefined;
      reads.attach((read: Buffer) => {
        let chunk = read;
        if (load) {
          if (start) chunk = Buffer.concat([start, read]);
          if (chunk.length < UNAMBIGUOUS_PREFIX && startsLikeH2(chunk)) {
            start = Buffer.from(chunk);
            return;
          }
        }
        clearTimeout(silent);
        reads.detach();
        if (load && startsLikeH2(chunk)) {
          socket.pause();
          const duplex = withFirstChunk(socket, reads.retain(chunk));
          h2server().then(
            (srv) => {
              handedPeer = peer;
              srv.emit('connection', duplex);
              handedPeer = undefined;
            },
            () => socket.destroy(),
          );
          return;
        }
        if (lean && !this.draining) {
          const conn: LeanConnection = new LeanConnection(
            socket,
            {
              handle: (req, res) => {
                dropConnectionNamed(req.headers);
                this.opts.handler(req, res, peer);
              },
              fallback: (s, unread) => {
                this.leanConnections.delete(conn);
                toHttp1(s, unread);
              },
              started: () => this.inFlight++,
              ended: () => this.inFlight--,
              ...(this.opts.keepAliveMs !== undefined ? { keepAliveMs: this.opts.keepAliveMs } : {}),
              ...(this.opts.maxHeadBytes !== undefined ? { maxHeadBytes: this.opts.maxHeadBytes } : {}),
              ...(this.opts.rawTarget ? { rawTarget: true } : {}),
              ...(this.opts.refused ? { refused: this.opts.refused } : {}),
            },
            reads,
          );
          this.leanConnections.add(conn);
          socket.once('close', () => this.leanConnections.delete(conn));
          conn.start(chunk);
          return;
        }
        socket.pause();
        toHttp1(socket, reads.retain(chunk));
      });
      socket.on('error', () => socket.destroy());
    });
    const toHttp1 = (socket: net.Socket, unread: Buffer): void => {
      if (unread.length > 0) socket.unshift(unread);
      for (const l of http1) l.call(server, socket);
      socket.resume();
    };
    this.toHttp1 = toHttp1;
  }

  /** Stops accepting and waits (up to `deadline`, a performance.now() time) for in-flight requests. */
  async drain(deadline: number): Promise<void> {
    this.closed = true;
    this.draining = true;
    if (this.timer) clearTimeout(this.timer);
    const server = this.server;
    if (!server) return;
    server.close();
    server.closeIdleConnections();
    // Busy HTTP/1.1 connections node:http serves: their answer under way is their last (as nginx's and Envoy's drain).
    for (const res of this.h1Answers) if (!res.headersSent) res.setHeader('connection', 'close');
    // HTTP/2: GOAWAY — no new streams, the open ones finish.
    for (const s of this.h2sessions) s.close();
    // Lean HTTP/1.1: idle connections close now, busy ones after their answer (sent with `connection: close`).
    for (const c of this.leanConnections) c.drain();
    while ((this.inFlight > 0 || this.upgraded.size > 0) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    server.closeAllConnections();
    for (const s of this.upgraded) s.destroy();
    for (const s of this.h2sessions) s.destroy();
    for (const c of this.leanConnections) c.destroy();
  }

  /** Closes now, cutting open connections. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.server?.close();
    this.server?.closeAllConnections();
    this.server = undefined;
    for (const s of this.h2sessions) s.destroy();
    for (const c of this.leanConnections) c.destroy();
    for (const s of this.upgraded) s.destroy();
  }
}

/** An Upgrade header that offers h2c and nothing else. */
function onlyH2cUpgrade(upgrade: string | undefined): boolean {
  return upgrade !== undefined && upgrade.split(',').every((t) => t.trim().toLowerCase() === 'h2c');
}

/**
 * The request's head as it came, less its h2c upgrade (Upgrade, HTTP2-Settings and their Connection
 * tokens), with the bytes read behind it: for node:http to parse again as a plain request.
 */
function withoutH2cUpgrade(req: http.IncomingMessage, behind: Buffer): Buffer {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (name === 'upgrade' || name === 'http2-settings') continue;
    let value = raw[i + 1];
    if (name === 'connection') {
      value = value
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '' && !['upgrade', 'http2-settings'].includes(t.toLowerCase()))
        .join(', ');
      if (value === '') continue;
    }
    head += `${raw[i]}: ${value}\r\n`;
  }
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), behind]);
}

/** How many Host fields a request's head has. */
function hostFields(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 4 && raw[i].toLowerCase() === 'host') n++;
  return n;
}
