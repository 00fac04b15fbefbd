// W3C Trace Context: every request leaves the proxy with a `traceparent`. An incoming one keeps its
// trace id and gets this hop's span id as parent; a missing or malformed one starts a new trace.
// Ids come from a pooled crypto-random buffer (one randomFillSync per 170 requests, not per id).
import { randomFillSync } from 'node:crypto';

const pool = Buffer.allocUnsafe(4096);
let offset = pool.length;

function randomHex(bytes: number): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const s = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return s;
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
