// W3C Trace Context: every request leaves the proxy with a `traceparent`. An incoming one keeps its
// trace id and gets this hop's span id as parent; a missing or malformed one starts a new trace.
// Ids are random, not secret: like OpenTelemetry's JS id generator, Math.random is enough (and spares
// the proxy node:crypto's memory).

/**
 * Random bytes hex-encoded ahead, 1 KiB at a time: an id is a slice of this text. Encoding 16 bytes
 * per id natively cost a binding call per id (~5 % of the outbound proxy's JavaScript time, three
 * ids per request); one call per 64 ids does not show.
 */
const POOL_BYTES = 1024;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let poolHex = '';
let poolAt = POOL_BYTES * 2;

/** `bytes` random bytes (8 or 16) as lower-case hex, never all zeros. */
export function randomHex(bytes: 8 | 16): string {
  const chars = bytes * 2;
  for (;;) {
    if (poolAt + chars > poolHex.length) {
      for (let i = 0; i < POOL_BYTES; i += 4) pool.writeUInt32LE((Math.random() * 0x100000000) >>> 0, i);
      poolHex = pool.toString('hex');
      poolAt = 0;
    }
    const id = poolHex.slice(poolAt, poolAt + chars);
    poolAt += chars;
    // An all-zero id is invalid (W3C); astronomically unlikely, but cheap to rule out.
    if (!isZero(id)) return id;
  }
}

function isZero(hex: string): boolean {
  for (let i = 0; i < hex.length; i++) if (hex.charCodeAt(i) !== 48) return false;
  return true;
}

/**
 * W3C Trace Context §3.2 (as OpenTelemetry's propagator reads it): version, trace id, parent id and
 * flags in lower-case hex. Version ff is invalid; version 00 is exactly these 55 characters; a later
 * version may carry more fields after a '-', of which only the first four are read.
 */
const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_PARENT = '0000000000000000';

/**
 * Sets `traceparent` on the (upstream-bound) headers; returns the trace id for the access log. A
 * valid incoming one keeps its trace id and flags; otherwise a new trace starts and `tracestate`,
 * which belongs to the invalid parent, is dropped (W3C §3.3.1.1).
 */
export function propagateTrace(headers: Record<string, string | string[] | undefined>): string {
  const cur = headers.traceparent;
  const m = typeof cur === 'string' ? TRACEPARENT_RE.exec(cur) : null;
  if (m && m[1] !== 'ff' && !(m[1] === '00' && m[5] !== undefined) && m[2] !== ZERO_TRACE && m[3] !== ZERO_PARENT) {
    headers.traceparent = `00-${m[2]}-${randomHex(8)}-${m[4]}`;
    return m[2];
  }
  if (headers.tracestate !== undefined) delete headers.tracestate;
  const traceId = randomHex(16);
  headers.traceparent = `00-${traceId}-${randomHex(8)}-01`;
  return traceId;
}
