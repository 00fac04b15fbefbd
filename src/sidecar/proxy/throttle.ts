// Release-time throttling primitives, per proxy: a token bucket (429 + Retry-After when empty) and
// a concurrency limit. Both are plain counters refreshed lazily on each request: no timers, so an
// idle proxy costs nothing.
import type { MeshRateLimit } from '../../lib/mesh-protocol.js';
// Imported, not the global: globalThis.performance is an accessor, read through a slow global load on every call.
import { performance } from 'node:perf_hooks';

export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  private readonly perMs: number;
  private readonly burst: number;

  constructor(limit: MeshRateLimit) {
    this.perMs = limit.requestsPerSecond / 1000;
    this.burst = limit.burst ?? Math.max(1, Math.ceil(limit.requestsPerSecond));
    this.tokens = this.burst;
  }

  /** Takes a token; returns 0 when allowed, else the seconds until one is available (for Retry-After). */
  take(): number {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.perMs);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - this.tokens) / this.perMs / 1000));
  }
}

/** Keeps throttles across snapshots (a new snapshot must not refill every bucket): same key and limits, same object. */
export class ThrottleRegistry {
  private readonly byKey = new Map<string, { config: string; throttle: Throttle }>();

  get(key: string, limits: { rateLimit?: MeshRateLimit; concurrencyLimit?: number } | undefined): Throttle | undefined {
    const config = JSON.stringify([limits?.rateLimit, limits?.concurrencyLimit]);
    const cur = this.byKey.get(key);
    if (cur && cur.config === config) return cur.throttle;
    const throttle = Throttle.of(limits);
    if (throttle) this.byKey.set(key, { config, throttle });
    else this.byKey.delete(key);
    return throttle;
  }
}

/** Rate and concurrency limits of one scope (a route, a destination, a variant). */
export class Throttle {
  inFlight = 0;
  private readonly bucket: TokenBucket | undefined;

  constructor(
    rateLimit: MeshRateLimit | undefined,
    private readonly concurrency: number | undefined,
  ) {
    this.bucket = rateLimit ? new TokenBucket(rateLimit) : undefined;
  }

  static of(limits: { rateLimit?: MeshRateLimit; concurrencyLimit?: number } | undefined): Throttle | undefined {
    return limits && (limits.rateLimit || limits.concurrencyLimit !== undefined) ? new Throttle(limits.rateLimit, limits.concurrencyLimit) : undefined;
  }

  /** 'ok' (and counts the request in flight), 'concurrency', or the Retry-After seconds. */
  admit(): 'ok' | 'concurrency' | number {
    if (this.concurrency !== undefined && this.inFlight >= this.concurrency) return 'concurrency';
    if (this.bucket) {
      const wait = this.bucket.take();
      if (wait > 0) return wait;
    }
    this.inFlight++;
    return 'ok';
  }

  release(): void {
    this.inFlight--;
  }
}
