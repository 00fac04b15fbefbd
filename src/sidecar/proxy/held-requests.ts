// Requests held for a service scaled to zero (Knative's activator, inside the proxy): a request (an
// HTTP/1.1 exchange or an HTTP/2 stream) that finds no endpoint is parked — its body stays unread in
// the socket or behind HTTP/2 flow control, so nothing is buffered here —
// while the proxy asks the control plane for an instance (again every second while anything waits,
// which also tells the idle rule the service is wanted). Each new snapshot rechecks the parked
// requests; the ones whose service now has an endpoint are routed afresh. A request that waits
// longer than its timeout gets 503 `activation-timeout`; a client that goes away is dropped.
export interface HeldRequestsOptions {
  /** Asks the control plane to start the service (best effort; repeated while requests wait). */
  activate(service: string): Promise<void>;
  log(msg: string): void;
}

/** One parked request, whatever its protocol. */
export interface Holdable {
  /** Identifies the request across a release and a new hold (its wait keeps its first deadline). */
  key: object;
  /** Routes it again (the routing table now has an endpoint for its service). */
  release(): void;
  /** Answers it from the proxy: 503 with the reason header. */
  fail(reason: string, message: string): void;
  /** Calls `fn` when the client goes away; returns how to stop listening. */
  onClientGone(fn: () => void): () => void;
}

interface Held {
  service: string;
  item: Holdable;
  timer: NodeJS.Timeout;
  stopWatching: () => void;
}

/** At most this many requests wait at once; more get 503 `activation-queue-full` (bounded memory). */
export const MAX_HELD = 10_000;
const REACTIVATE_MS = 1000;

export class HeldRequests {
  private readonly waiting = new Set<Held>();
  /** When each request's wait ends (kept if it is released and held again, e.g. its variant is still at zero). */
  private readonly deadlines = new WeakMap<object, number>();
  private readonly lastAsked = new Map<string, number>();
  private ticker: NodeJS.Timeout | undefined;

  constructor(private readonly opts: HeldRequestsOptions) {}

  get size(): number {
    return this.waiting.size;
  }

  hold(service: string, item: Holdable, timeoutMs: number): void {
    if (this.waiting.size >= MAX_HELD) return item.fail('activation-queue-full', `too many requests are waiting for ${service} to start`);
    let deadline = this.deadlines.get(item.key);
    if (deadline === undefined) this.deadlines.set(item.key, (deadline = performance.now() + timeoutMs));
    const remaining = deadline - performance.now();
    const timedOut = `no instance of ${service} became ready within ${timeoutMs / 1000} s`;
    if (remaining <= 0) return item.fail('activation-timeout', timedOut);
    const h: Held = {
      service,
      item,
      timer: setTimeout(() => {
        this.remove(h);
        item.fail('activation-timeout', timedOut);
      }, remaining),
      stopWatching: () => {},
    };
    h.stopWatching = item.onClientGone(() => this.remove(h));
    this.waiting.add(h);
    this.ask(service, true);
    this.ticker ??= setInterval(() => this.reask(), REACTIVATE_MS);
  }

  /** After a new snapshot: releases the requests whose service `ready` says can be routed now. */
  recheck(ready: (service: string) => boolean): void {
    for (const h of [...this.waiting]) {
      if (!ready(h.service)) continue;
      this.remove(h);
      h.item.release();
    }
  }

  /** Answers every waiting request (the proxy is stopping). */
  failAll(reason: string, message: string): void {
    for (const h of [...this.waiting]) {
      this.remove(h);
      h.item.fail(reason, message);
    }
  }

  private remove(h: Held): void {
    if (!this.waiting.delete(h)) return;
    clearTimeout(h.timer);
    h.stopWatching();
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
