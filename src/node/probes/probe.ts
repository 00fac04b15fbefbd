// The Probe interface: one health check against an instance, bounded by a timeout.

export interface ProbeResult {
  ok: boolean;
  /** Short human-readable outcome, e.g. "HTTP 500" or "connect ECONNREFUSED". */
  message: string;
}

export interface ProbeCheckOptions {
  /** Give up (result not ok) after this many milliseconds. */
  timeoutMs: number;
  /** Aborts the check early (e.g. the process died); the result is then discarded by the caller. */
  signal?: AbortSignal;
}

/** One kind of health check (http, tcp, exec, grpc). Never rejects: failures are `{ ok: false }`. */
export interface Probe {
  readonly kind: string;
  check(options: ProbeCheckOptions): Promise<ProbeResult>;
  /** Releases what the probe keeps between checks (e.g. a kept-alive connection). */
  close?(): void;
}

/** Combines a timeout with an optional outer signal into one AbortSignal plus a cleanup function. */
export function timeoutSignal(options: ProbeCheckOptions): { signal: AbortSignal; done(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`timeout after ${options.timeoutMs}ms`)), options.timeoutMs);
  const onOuter = (): void => controller.abort(options.signal?.reason ?? new Error('aborted'));
  if (options.signal) {
    if (options.signal.aborted) onOuter();
    else options.signal.addEventListener('abort', onOuter, { once: true });
  }
  return {
    signal: controller.signal,
    done: () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onOuter);
    },
  };
}

/** The message of an abort reason or error. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
