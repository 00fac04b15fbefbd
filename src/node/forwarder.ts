// kube-proxy role: one TCP listener per service address, round-robining each new connection over the
// node's ready instances of that service and piping bytes both ways. Bind failures are retried.
// The same listener also serves an instance's own HOST:<spec port> when no mesh sidecar does,
// piping to wherever its app bound its private PORT (forwardInstance).
import net from 'node:net';
import type { ServiceForward } from '../lib/agent-protocol.js';
import type { NewEvent } from './event-log.js';

export interface Endpoint {
  id: string;
  host: string;
  port: number;
}

export interface ForwarderOptions {
  /** Ready endpoints of a service, in a stable order; consulted for every new connection. */
  endpoints(service: string): Endpoint[];
  event(event: NewEvent): void;
  /** How long a connection waits for a ready endpoint before it is closed. */
  waitForEndpointMs?: number;
  /** Delay between bind attempts after a failure. */
  bindRetryMs?: number;
  /** A connection to `ep` was refused or failed to open (its address may be stale). */
  connectFailed?(ep: Endpoint): void;
}

const ENDPOINT_POLL_MS = 50;

class ServiceListener {
  private server: net.Server | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private next = 0;
  private warnedBind = false;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    readonly forward: ServiceForward,
    private readonly opts: Required<ForwarderOptions>,
  ) {
    this.listen();
  }

  get key(): string {
    return `${this.forward.host}:${this.forward.port}`;
  }

  /** Stops accepting; established connections are left to finish unless `destroyConnections`. */
  close(destroyConnections = false): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.server?.close();
    this.server = undefined;
    if (destroyConnections) for (const s of this.sockets) s.destroy();
  }

  private listen(): void {
    if (this.closed) return;
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => this.accept(client));
    server.once('error', (err: NodeJS.ErrnoException) => {
      server.close();
      if (this.closed) return;
      if (!this.warnedBind) {
        this.warnedBind = true;
        const reason = err.code === 'EADDRINUSE' ? 'PortInUse' : 'ListenFailed';
        this.opts.event({ type: 'Warning', reason, service: this.forward.name, message: `Cannot listen on ${this.key} for service ${this.forward.name}: ${err.code ?? err.message}; retrying every ${this.opts.bindRetryMs / 1000}s` });
      }
      this.retryTimer = setTimeout(() => this.listen(), this.opts.bindRetryMs);
    });
    server.listen({ host: this.forward.host, port: this.forward.port, exclusive: true }, () => {
      if (this.closed) {
        server.close();
        return;
      }
      this.server = server;
      server.on('error', () => {});
      if (this.warnedBind) this.opts.event({ type: 'Normal', reason: 'Listening', service: this.forward.name, message: `Listening on ${this.key} for service ${this.forward.name}` });
      this.warnedBind = false;
    });
  }

  private pick(): Endpoint | undefined {
    const eps = this.opts.endpoints(this.forward.name);
    if (eps.length === 0) return undefined;
    const ep = eps[this.next % eps.length];
    this.next = (this.next + 1) % 1_000_000;
    return ep;
  }

  private accept(client: net.Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    const deadline = performance.now() + this.opts.waitForEndpointMs;
    const attempt = (): void => {
      if (client.destroyed) return;
      const ep = this.pick();
      if (!ep) {
        if (performance.now() >= deadline) client.destroy();
        else setTimeout(attempt, ENDPOINT_POLL_MS);
        return;
      }
      const upstream = net.connect({ host: ep.host, port: ep.port, allowHalfOpen: true });
      const onConnectError = (): void => {
        upstream.destroy();
        this.opts.connectFailed(ep);
        if (performance.now() >= deadline) client.destroy();
        else setTimeout(attempt, ENDPOINT_POLL_MS);
      };
      upstream.once('error', onConnectError);
      upstream.once('connect', () => {
        upstream.off('error', onConnectError);
        if (client.destroyed) {
          upstream.destroy();
          return;
        }
        this.sockets.add(upstream);
        upstream.on('close', () => {
          this.sockets.delete(upstream);
          if (!client.writableEnded) client.end();
        });
        const fail = (): void => {
          client.destroy();
          upstream.destroy();
        };
        upstream.on('error', fail);
        client.on('error', fail);
        client.on('close', () => {
          if (!upstream.writableEnded) upstream.end();
        });
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt();
  }
}

export class Forwarder {
  private readonly listeners = new Map<string, ServiceListener>();
  private readonly opts: Required<ForwarderOptions>;

  constructor(options: ForwarderOptions) {
    this.opts = { waitForEndpointMs: 2000, bindRetryMs: 3000, connectFailed: () => {}, ...options };
  }

  /** Level-triggered: opens listeners for new services, closes removed ones, reopens moved ones. */
  apply(services: ServiceForward[]): void {
    const wanted = new Map(services.map((s) => [s.name, s]));
    for (const [name, l] of this.listeners) {
      const w = wanted.get(name);
      if (!w || w.host !== l.forward.host || w.port !== l.forward.port) {
        l.close();
        this.listeners.delete(name);
      }
    }
    for (const [name, s] of wanted) {
      if (!this.listeners.has(name)) this.listeners.set(name, new ServiceListener(s, this.opts));
    }
  }

  /** Closes every listener and connection. */
  close(): void {
    for (const l of this.listeners.values()) l.close(true);
    this.listeners.clear();
  }
}

/**
 * Serves one instance's address `listen` (HOST:<spec port>) by piping each connection to `target()`
 * (its app's private PORT, where it bound it); `connectFailed` lets the caller look again. Used when
 * no mesh sidecar takes that address.
 */
export function forwardInstance(
  listen: ServiceForward,
  target: () => Endpoint | undefined,
  options: Pick<ForwarderOptions, 'event' | 'waitForEndpointMs' | 'bindRetryMs' | 'connectFailed'>,
): { close(destroyConnections?: boolean): void } {
  return new ServiceListener(listen, {
    event: options.event,
    waitForEndpointMs: options.waitForEndpointMs ?? 2000,
    bindRetryMs: options.bindRetryMs ?? 3000,
    connectFailed: options.connectFailed ?? (() => {}),
    endpoints: () => {
      const t = target();
      return t ? [t] : [];
    },
  });
}
