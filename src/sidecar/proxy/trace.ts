// W3C Trace Context: every request leaves the proxy with a `traceparent`. An incoming one keeps its
// trace id and gets this hop's span id as parent; a missing or malformed one starts a new trace.
const HEX = '0123456789abcdef';

function randomHex(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += HEX[(Math.random() * 16) | 0];
  return s;
}

const TRACEPARENT_RE = /^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/;

/** Sets `traceparent` on the (upstream-bound) headers; returns the trace id for the access log. */
export function propagateTrace(headers: Record<string, string | string[] | undefined>): string {
  const cur = headers.traceparent;
  const m = typeof cur === 'string' ? TRACEPARENT_RE.exec(cur) : null;
  if (m && m[1] !== '00000000000000000000000000000000') {
    headers.traceparent = `00-${m[1]}-${randomHex(16)}-${m[2]}`;
    return m[1];
  }
  const traceId = randomHex(32);
  headers.traceparent = `00-${traceId}-${randomHex(16)}-01`;
  return traceId;
}
