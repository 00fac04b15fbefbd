// W3C Trace Context: every request leaves the proxy with a `traceparent`. An incoming one keeps its
// trace id and gets this hop's span id as parent; a missing or malformed one starts a new trace.
// Ids are random, not secret: like OpenTelemetry's JS id generator, Math.random is enough (and spares
// the proxy node:crypto's memory).

/** `bytes` random bytes as hex (a multiple of 4), 32 bits per Math.random call. */
function randomHex(bytes: number): string {
  let s = '';
  for (let i = 0; i < bytes; i += 4) s += ((Math.random() * 0x100000000) >>> 0).toString(16).padStart(8, '0');
  // An all-zero id is invalid (W3C); astronomically unlikely, but cheap to rule out.
  return s.charCodeAt(0) === 48 && /^0+$/.test(s) ? `${s.slice(0, -1)}1` : s;
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
