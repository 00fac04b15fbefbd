// Requests held for a service scaled to zero (Knative's activator, inside the proxy): a request that
// finds no endpoint is parked — its body stays unread in the socket, so nothing is buffered here —
// while the proxy asks the control plane for an instance (again every second while anything waits,
// which also tells the idle rule the service is wanted). Each new snapshot rechecks the parked
// requests; the ones whose service now has an endpoint are routed afresh. A request that waits
// longer than its timeout gets 503 `activation-timeout`; a client that goes away is dropped.
import type http from 'node:http';
import { reply } from './forward.js';

export interface HeldRequestsOptions {
  /** Asks the control plane to start the service (best effort; repeated while requests wait). */
  activate(service: string): Promise<void>;
  /** Routes a released request (the routing table now has an endpoint for it). */
  release(service: string, req: http.IncomingMessage, res: http.ServerResponse): void;
  log(msg: string): void;
}

interface Held {
  service: string;
  req: http.IncomingMessage;
  res: http.ServerResponse;
  timer: NodeJS.Timeout;
  onClose: () => void;
}

/** At most this many requests wait at once; more get 503 `activation-queue-full` (bounded memory). */
export const MAX_HELD = 10_000;
const REACTIVATE_MS = 1000;

export class HeldRequests {
  private readonly waiting = new Set<Held>();
  /** When each request's wait ends (kept if it is released and held again, e.g. its variant is still at zero). */
  private readonly deadlines = new WeakMap<http.IncomingMessage, number>();
  private readonly lastAsked = new Map<string, number>();
  private ticker: NodeJS.Timeout | undefined;

  constructor(private readonly opts: HeldRequestsOptions) {}

  get size(): number {
    return this.waiting.size;
  }

  hold(service: string, req: http.IncomingMessage, res: http.ServerResponse, timeoutMs: number): void {
    if (this.waiting.size >= MAX_HELD) return reply(res, 503, 'activation-queue-full', `too many requests are waiting for ${service} to start`);
    let deadline = this.deadlines.get(req);
    if (deadline === undefined) this.deadlines.set(req, (deadline = performance.now() + timeoutMs));
    const remaining = deadline - performance.now();
    if (remaining <= 0) return reply(res, 503, 'activation-timeout', `no instance of ${service} became ready within ${timeoutMs / 1000} s`);
    const h: Held = {
      service,
      req,
      res,
      timer: setTimeout(() => {
        this.remove(h);
        reply(res, 503, 'activation-timeout', `no instance of ${service} became ready within ${timeoutMs / 1000} s`);
      }, remaining),
      onClose: () => this.remove(h),
    };
    res.once('close', h.onClose);
    this.waiting.add(h);
    this.ask(service, true);
    this.ticker ??= setInterval(() => this.reask(), REACTIVATE_MS);
  }

  /** After a new snapshot: releases the requests `ready` says can be routed now. */
  recheck(ready: (service: string, req: http.IncomingMessage) => boolean): void {
    for (const h of [...this.waiting]) {
      if (!ready(h.service, h.req)) continue;
      this.remove(h);
      this.opts.release(h.service, h.req, h.res);
    }
  }

  /** Answers every waiting request (the proxy is stopping). */
  failAll(reason: string, message: string): void {
    for (const h of [...this.waiting]) {
      this.remove(h);
      reply(h.res, 503, reason, message);
    }
  }

  private remove(h: Held): void {
    if (!this.waiting.delete(h)) return;
    clearTimeout(h.timer);
    h.res.off('close', h.onClose);
    if (this.waiting.size === 0 && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  private reask(): void {
    const services = new Set([...this.waiting].map((h) => h.service));
    for (const s of services) this.ask(s, false);
  }

  /** One activation call per service per interval (the first held request asks at once). */
  private ask(service: string, first: boolean): void {
    const now = performance.now();
    if (first && now - (this.lastAsked.get(service) ?? -Infinity) < REACTIVATE_MS) return;
    this.lastAsked.set(service, now);
    this.opts.activate(service).catch((err: unknown) => this.opts.log(`cannot ask the control plane to start ${service}: ${(err as Error).message}; the request stays held`));
  }
}
