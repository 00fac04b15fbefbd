// Two things every HTTP/2 answer the proxy relays needs, on both HTTP/2 paths (h2-forward.ts, h2-to-h1.ts).
//  - cutStream(): a stream whose answer was cut short is reset with RST_STREAM alone. node's
//    `stream.close(code)` first ends the writable side — an empty DATA frame with END_STREAM — and
//    only then resets, so a client that got part of a body saw it end as if whole.
//  - h2Headers(): node:http2 refuses to send some header sets at all (a status outside 200–599, two
//    values of a field it allows once, like Content-Type or Location): respond() throws. What an
//    app sends must not end the process: such a field keeps its first value, and an answer node
//    still refuses becomes the caller's 502.
import type http2 from 'node:http2';

/** Fields node:http2 sends only once (its kSingleValueHeaders); a second value makes respond() throw. */
const SINGLE_VALUE = new Set([
  'access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method', 'age', 'authorization',
  'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5', 'content-range',
  'content-type', 'date', 'dnt', 'etag', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match',
  'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'range',
  'referer', 'retry-after', 'tk', 'upgrade-insecure-requests', 'user-agent', 'x-content-type-options',
]);

/**
 * Flow-control windows the proxy gives its HTTP/2 peers (RFC 9113 §6.9), as a server and as a client.
 * node's are the protocol's initial 65,535 bytes, for a stream and for the whole connection: one
 * window per round trip, so a stream between two proxies 20 ms apart moved 2–3 MB/s, and every stream
 * to that peer shared the connection's window (Envoy opens both to 256 MiB and stops reading a stream
 * at 1 MiB buffered). A stream's window is what it may hold unread behind a slow reader on the other
 * side (node consumes the connection's window as frames arrive): 256 KiB per stream, ~13 MB/s over
 * 20 ms; 1 MiB gave 24 MB/s there but held ~90 MB more for 100 paused streams.
 */
export const H2_STREAM_WINDOW = 256 * 1024;
const H2_CONNECTION_WINDOW = 8 * 1024 * 1024;

/** Opens `session`'s connection window to H2_CONNECTION_WINDOW (its streams' open with the SETTINGS: initialWindowSize). */
export function widenConnectionWindow(session: http2.Http2Session): void {
  if (!session.destroyed) session.setLocalWindowSize(H2_CONNECTION_WINDOW);
}

/** Resets `stream` (RST_STREAM INTERNAL_ERROR) without END_STREAM: the client sees an error, not a short body. */
export function cutStream(stream: http2.Http2Stream): void {
  if (!stream.destroyed) stream.destroy(new Error('answer cut short'));
}

/** `headers` with a field node:http2 allows once reduced to its first value (in place; returned). */
export function h2Headers(headers: http2.OutgoingHttpHeaders): http2.OutgoingHttpHeaders {
  for (const k in headers) {
    const v = headers[k];
    if (Array.isArray(v) && SINGLE_VALUE.has(k)) headers[k] = v[0];
  }
  return headers;
}

/** Whether node:http2 can send `status` as a final answer (RFC 9113 §8.3.2 leaves 1xx to interim answers). */
export function sendableStatus(status: number): boolean {
  return Number.isInteger(status) && status >= 200 && status <= 599;
}

/** An HTTP/2 header block as [name, value, …], pseudo-headers left out. */
export function flatHeaders(h: http2.IncomingHttpHeaders): string[] {
  const flat: string[] = [];
  for (const [k, v] of Object.entries(h)) {
    if (k[0] === ':' || v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) flat.push(k, one);
  }
  return flat;
}
