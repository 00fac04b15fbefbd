// The one table of numeric bounds shared by the spec schema (src/contract) and the runtime's own
// checks (the node agent's desired-state validation), so a value the spec accepts is never refused
// later by the agent. Durations are bounded so that, in milliseconds, they fit Node's timers
// (setTimeout treats anything above 2^31-1 ms as 1 ms), with room for the runtime's arithmetic.
// Also the rules for strings that become HTTP header names and values.

/** Largest delay Node's timers honour (ms); above it setTimeout fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Longest duration a spec may give anywhere: one day (far below MAX_TIMER_MS). */
export const MAX_DURATION_SECONDS = 86_400;
/** Shortest non-zero duration: timers count whole milliseconds. */
export const MIN_DURATION_SECONDS = 0.001;

/**
 * Most instances of one service (or variant). Instance ids are `<service>-<revision>-<5 hex>` and
 * the control plane draws a fresh suffix until it is unused, so ids never collide; this bound keeps
 * that draw quick (≤ 0.1 % of the 16^5 suffixes) and the desired state of a node small.
 */
export const MAX_REPLICAS = 1000;
/** Instance addresses one node offers (127.N.slot.2 … 127.N.slot.254). */
export const ADDRESSES_PER_NODE = 253;

export interface Bound {
  readonly min: number;
  readonly max: number;
  readonly integer?: boolean;
  /** Unit named in messages (e.g. "seconds"). */
  readonly unit?: string;
}

const seconds = (min: number): Bound => ({ min, max: MAX_DURATION_SECONDS, unit: 'seconds' });
const count = (min: number, max: number): Bound => ({ min, max, integer: true });

/** Every bounded number of the spec that reaches the runtime, by the name the spec gives it. */
export const BOUNDS = {
  port: count(1, 65535),
  replicas: count(0, MAX_REPLICAS),
  memoryMiB: { min: 1, max: 1_048_576, integer: true, unit: 'MiB' },
  cpuMillis: { min: 1, max: 1_024_000, integer: true, unit: 'millicores' },
  stopGracePeriodSeconds: seconds(MIN_DURATION_SECONDS),
  initialDelaySeconds: seconds(0),
  periodSeconds: seconds(MIN_DURATION_SECONDS),
  timeoutSeconds: seconds(MIN_DURATION_SECONDS),
  successThreshold: count(1, 1000),
  failureThreshold: count(1, 1000),
  /** Restart back-off: restart.backoff.{initialSeconds,maxSeconds,resetAfterSeconds}. */
  backoffSeconds: seconds(MIN_DURATION_SECONDS),
  /** Any other duration of the spec (route timeouts, windows, idle times), in seconds. */
  durationSeconds: seconds(MIN_DURATION_SECONDS),
  /** Counts without a natural limit (retry attempts, limits, burst): keep them finite and sane. */
  count: count(0, 1_000_000),
} as const satisfies Record<string, Bound>;

export type BoundName = keyof typeof BOUNDS;

/** The messages for a value below / above `b`. */
export function boundMessages(b: Bound): { min: string; max: string; integer: string } {
  const unit = b.unit ? ` ${b.unit}` : '';
  const isSeconds = b.unit === 'seconds';
  return {
    min:
      isSeconds && b.min === MIN_DURATION_SECONDS
        ? `must be at least ${b.min} seconds (1 ms, the smallest delay timers count)`
        : b.min === 0
          ? 'must not be negative'
          : `must be at least ${b.min}${unit}`,
    max: isSeconds && b.max === MAX_DURATION_SECONDS ? `must be at most ${b.max} seconds (one day)` : `must be at most ${b.max}${unit}`,
    integer: 'must be a whole number',
  };
}

/** Why `v` is outside `b`, in words a person can act on; undefined when it is inside. */
export function outOfBounds(v: number, b: Bound): string | undefined {
  if (!Number.isFinite(v)) return 'must be a finite number';
  const m = boundMessages(b);
  if (b.integer && !Number.isInteger(v)) return m.integer;
  if (v < b.min) return m.min;
  if (v > b.max) return m.max;
  return undefined;
}

// --- HTTP header names and values ------------------------------------------------------------

/** RFC 9110 token: what a header name may be. */
export const HEADER_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What node:http accepts in a header value (RFC 9110 field-value: HTAB, SP, VCHAR, obs-text). */
const HEADER_VALUE_RE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Why `name` cannot be an HTTP header name; undefined when it can. */
export function badHeaderName(name: string): string | undefined {
  if (name.length === 0) return 'a header name must not be empty';
  if (HEADER_NAME_RE.test(name)) return undefined;
  if (/[\r\n\0]/.test(name)) return 'a header name must not contain CR, LF or NUL';
  return `\`${printable(name)}\` is not a valid header name (letters, digits and !#$%&'*+-.^_\`|~ only)`;
}

/** Why `value` cannot be an HTTP header value; undefined when it can. */
export function badHeaderValue(value: string): string | undefined {
  if (HEADER_VALUE_RE.test(value)) return undefined;
  if (/[\r\n]$/.test(value) && HEADER_VALUE_RE.test(value.replace(/[\r\n]+$/, '')))
    return 'a header value must not end with a line break (a YAML `|` block adds one: use `|-` or a plain string)';
  if (/[\r\n\0]/.test(value)) return 'a header value must not contain CR, LF or NUL';
  return 'a header value may hold only printable characters, spaces and tabs';
}

/** Why `path` cannot be sent as a request target (it goes into the request line); undefined when it can. */
export function badRequestPath(path: string): string | undefined {
  if (!path.startsWith('/')) return 'the path must start with "/"';
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return 'the path must not contain spaces or control characters (it goes into the request line): percent-encode them';
  }
  return undefined;
}

function printable(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}
