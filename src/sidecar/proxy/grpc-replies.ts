// The proxy's own answers to gRPC calls (no healthy endpoint, a rate limit, a timeout, …) are gRPC
// answers, as Envoy's local replies: trailers-only — `:status 200`, `content-type: application/grpc`,
// `grpc-status` and a percent-encoded `grpc-message` in one HEADERS frame that ends the stream. An
// HTTP status with a text body reached grpc-js as "Received HTTP status code 503" and lost the why.
// The status is what the gRPC protocol maps the HTTP status to (doc/http-grpc-status-mapping.md in
// grpc/grpc, Envoy's httpToGrpcStatus); the proxy's reason header stays on the answer.
import type http2 from 'node:http2';

/** Streams whose request is a gRPC call (content-type application/grpc, +proto, +json, …). */
const grpcCalls = new WeakSet<http2.ServerHttp2Stream>();

/** Whether request `headers` are a gRPC call's. */
export function isGrpcRequest(headers: http2.IncomingHttpHeaders): boolean {
  const ct = headers['content-type'];
  return typeof ct === 'string' && (ct === 'application/grpc' || ct.startsWith('application/grpc+') || ct.startsWith('application/grpc;'));
}

/**
 * Notes whether `stream` carries a gRPC call (read through isGrpcCall): a POST with a gRPC content
 * type. (A CONNECT with one was answered 200 — "tunnel open" — instead of 405.)
 */
export function noteGrpcCall(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean {
  const grpc = headers[':method'] === 'POST' && isGrpcRequest(headers);
  if (grpc) grpcCalls.add(stream);
  return grpc;
}

export function isGrpcCall(stream: http2.ServerHttp2Stream): boolean {
  return grpcCalls.has(stream);
}

/** The gRPC status a client reports for HTTP status `status` (UNKNOWN for one the mapping does not name). */
export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

/** `text` as a grpc-message value: bytes outside printable ASCII, and '%', percent-encoded (gRPC's PROTOCOL-HTTP2). */
export function grpcMessage(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** The head of a trailers-only answer standing for the proxy's HTTP answer `status` with `message`. */
export function grpcReplyHeaders(status: number, message: string): http2.OutgoingHttpHeaders {
  return { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(httpToGrpcStatus(status)), 'grpc-message': grpcMessage(message) };
}
