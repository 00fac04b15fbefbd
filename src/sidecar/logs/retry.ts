// Retry timing: exponential back-off with full jitter, never shorter than a destination's Retry-After.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 10_000 };

/** Delay before retry number `attempt` (1-based). */
export function retryDelayMs(attempt: number, retryAfterMs: number | undefined, o: BackoffOptions = DEFAULT_BACKOFF, random = Math.random): number {
  const ceiling = Math.min(o.maxMs, o.initialMs * 2 ** Math.min(30, attempt - 1));
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  return retryAfterMs !== undefined ? Math.max(jittered, Math.min(retryAfterMs, 5 * 60_000)) : jittered;
}
