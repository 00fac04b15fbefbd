// W3C Trace Context: every request leaves the proxy with a `traceparent`. An incoming one keeps its
// trace id and gets this hop's span id as parent; a missing or malformed one starts a new trace.
// Ids are random, not secret: like OpenTelemetry's JS id generator, Math.random is enough (and spares
// the proxy node:crypto's memory).

/** Scratch bytes for new ids, hex-encoded natively (a double's toString(16) cost ~5 % of the proxy's CPU). */
const scratch = Buffer.allocUnsafe(16);

/** `bytes` random bytes (8 or 16) as lower-case hex, never all zeros. */
export function randomHex(bytes: 8 | 16): string {
  for (let i = 0; i < bytes; i += 4) scratch.writeUInt32LE((Math.random() * 0x100000000) >>> 0, i);
  // An all-zero id is invalid (W3C); astronomically unlikely, but cheap to rule out.
  if (scratch.readUInt32LE(0) === 0) scratch[0] = 1;
  return scratch.toString('hex', 0, bytes);
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
