// The proxy's own answers to gRPC calls (grpc-replies.ts): the HTTP → gRPC status mapping of gRPC's
// doc/http-grpc-status-mapping.md (and Envoy's httpToGrpcStatus), and grpc-message's percent-encoding,
// read back with decodeURIComponent as grpc-js reads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpcMessage, grpcReplyHeaders, httpToGrpcStatus, isGrpcCall, isGrpcRequest, noteGrpcCall } from '../../../src/sidecar/proxy/grpc-replies.js';

test('HTTP statuses map to the gRPC statuses a client reports for them', () => {
  const mapped = Object.fromEntries([400, 401, 403, 404, 405, 408, 429, 500, 502, 503, 504].map((s) => [s, httpToGrpcStatus(s)]));
  assert.deepEqual(mapped, { 400: 13, 401: 16, 403: 7, 404: 12, 405: 2, 408: 2, 429: 14, 500: 2, 502: 14, 503: 14, 504: 14 });
});

test('grpc-message: printable ASCII passes, "%" and every other byte are percent-encoded (UTF-8), and grpc-js decodes it back', () => {
  for (const text of ['no ready endpoint for orders', 'café 100% "quoted"\ttab', 'line\r\nbreak', '日本', '']) {
    const encoded = grpcMessage(text);
    assert.match(encoded, /^[\x20-\x7e]*$/, encoded);
    assert.equal(decodeURIComponent(encoded), text);
  }
  assert.equal(grpcMessage('a%b é'), 'a%25b %C3%A9');
});

test('a trailers-only head: status 200, application/grpc, the mapped status and the message', () => {
  assert.deepEqual(grpcReplyHeaders(429, 'rate limit exceeded'), { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'rate limit exceeded' });
});

test('gRPC requests: application/grpc and its +proto/+json/; parameters forms, not gRPC-Web nor look-alikes', () => {
  const yes = ['application/grpc', 'application/grpc+proto', 'application/grpc+json', 'application/grpc; charset=utf-8'];
  const no = ['application/grpc-web', 'application/grpc-web+proto', 'application/grpcx', 'text/plain', undefined];
  for (const ct of yes) assert.equal(isGrpcRequest({ 'content-type': ct }), true, ct);
  for (const ct of no) assert.equal(isGrpcRequest(ct === undefined ? {} : { 'content-type': ct }), false, String(ct));
});

test('only a POST is a gRPC call: a CONNECT with a gRPC content type keeps its 405 (a 200 would say "tunnel open")', () => {
  const stream = (): import('node:http2').ServerHttp2Stream => ({}) as import('node:http2').ServerHttp2Stream;
  const post = stream();
  assert.equal(noteGrpcCall(post, { ':method': 'POST', 'content-type': 'application/grpc' }), true);
  assert.equal(isGrpcCall(post), true);
  const connect = stream();
  assert.equal(noteGrpcCall(connect, { ':method': 'CONNECT', 'content-type': 'application/grpc' }), false);
  assert.equal(isGrpcCall(connect), false);
});
