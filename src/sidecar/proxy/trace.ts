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

const TRACEPARENT_RE = /^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/;
const ZERO_TRACE = '00000000000000000000000000000000';

/** Sets `traceparent` on the (upstream-bound) headers; returns the trace id for the access log. */
export function propagateTrace(headers: Record<string, string | string[] | undefined>): string {
  const cur = headers.traceparent;
  const m = typeof cur === 'string' ? TRACEPARENT_RE.exec(cur) : null;
  if (m && m[1] !== ZERO_TRACE) {
    headers.traceparent = `00-${m[1]}-${randomHex(8)}-${m[2]}`;
    return m[1];
  }
  const traceId = randomHex(16);
  headers.traceparent = `00-${traceId}-${randomHex(8)}-01`;
  return traceId;
}
