// One HTTP listener of the proxy (inbound, outbound, forward-proxy, gateway, admin): binds with
// retries (the address may still be held by a process being replaced), counts in-flight requests,
// and drains on close: stops accepting, answers kept-alive connections with `connection: close`,
// and resolves once in-flight requests finished or the deadline passed.
import http from 'node:http';
import type { Duplex } from 'node:stream';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
/** An `Upgrade` request (WebSocket): the handler owns the socket from here on. */
export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface ListenerOptions {
  name: string;
  host: string;
  port: number;
  handler: Handler;
  upgrade?: UpgradeHandler;
  log(msg: string): void;
  bindRetryMs?: number;
}

/** Time a client gets to send its request headers (BERTH_PROXY_HEADERS_TIMEOUT_MS, for tests). */
const HEADERS_TIMEOUT_MS = Number(process.env.BERTH_PROXY_HEADERS_TIMEOUT_MS ?? 10_000) || 10_000;

export class Listener {
  private server: http.Server | undefined;
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
        // Slowloris: a client that does not finish its headers in time (10 s) is cut, checked every second; keep-alive idle 5 s.
        headersTimeout: HEADERS_TIMEOUT_MS,
        connectionsCheckingInterval: Math.min(1000, HEADERS_TIMEOUT_MS),
        requestTimeout: 0,
        keepAliveTimeout: 5_000,
        maxHeaderSize: 16 * 1024,
        noDelay: true,
      },
      (req, res) => {
        this.inFlight++;
        res.once('close', () => this.inFlight--);
        if (this.draining) res.setHeader('connection', 'close');
        this.opts.handler(req, res);
      },
    );
    server.once('error', (err: NodeJS.ErrnoException) => {
      server.close();
      if (this.closed) return;
      if (!this.warned) this.opts.log(`cannot listen on ${this.key} (${this.opts.name}): ${err.code ?? err.message}; retrying`);
      this.warned = true;
      this.timer = setTimeout(() => this.listen(), this.opts.bindRetryMs ?? 250);
    });
    const upgrade = this.opts.upgrade;
    if (upgrade) server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => (this.draining ? socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n') : upgrade(req, socket, head)));
    else server.on('upgrade', (_req: http.IncomingMessage, socket: Duplex) => socket.end('HTTP/1.1 501 Not Implemented\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'));
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      // Malformed requests get the right status and the connection closes; the proxy never crashes on input.
      if (!socket.writable) return socket.destroy();
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      // Close for good once written: a client still sending (a slowloris drip) must not keep it half-open.
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`, () => socket.destroy());
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

  /** Stops accepting and waits (up to `deadline`, a performance.now() time) for in-flight requests. */
  async drain(deadline: number): Promise<void> {
    this.closed = true;
    this.draining = true;
    if (this.timer) clearTimeout(this.timer);
    const server = this.server;
    if (!server) return;
    server.close();
    server.closeIdleConnections();
    while (this.inFlight > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    server.closeAllConnections();
  }

  /** Closes now, cutting open connections. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.server?.close();
    this.server?.closeAllConnections();
    this.server = undefined;
  }
}
