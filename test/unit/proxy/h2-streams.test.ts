// What the HTTP/2 paths do to an app's answer before node:http2 sends it (h2-streams.ts), and the
// gRPC status label's bound (h2-forward.ts). The end-to-end cases (a 502 instead of a crash, resets
// instead of short answers) are in test/integration/mesh-h2.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { grpcStatusLabel } from '../../../src/sidecar/proxy/h2-forward.js';
import { h2Headers, sendableStatus } from '../../../src/sidecar/proxy/h2-streams.js';

test('h2Headers: a field node:http2 allows once keeps its first value; others keep all of theirs; node then accepts the set', async () => {
  const headers = h2Headers({ ':status': 200, 'content-type': ['text/plain', 'text/html'], location: ['/a', '/b'], 'set-cookie': ['a=1', 'b=2'], 'x-many': ['1', '2'] } as unknown as http2.OutgoingHttpHeaders);
  assert.deepEqual(headers, { ':status': 200, 'content-type': 'text/plain', location: '/a', 'set-cookie': ['a=1', 'b=2'], 'x-many': ['1', '2'] });
  // The oracle: node:http2 itself sends it (it threw ERR_HTTP2_HEADER_SINGLE_VALUE for the arrays).
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.respond(headers);
    stream.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const session = http2.connect(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  try {
    const got = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const req = session.request({ ':path': '/' });
      req.on('response', resolve);
      req.on('error', reject);
      req.resume();
    });
    assert.equal(got['content-type'], 'text/plain');
    assert.deepEqual(got['set-cookie'], ['a=1', 'b=2']);
  } finally {
    session.close();
    server.close();
  }
});

test('sendableStatus: final answers 200–599 only (node refuses the rest on HTTP/2)', () => {
  for (const s of [200, 204, 404, 599]) assert.equal(sendableStatus(s), true, String(s));
  for (const s of [0, 99, 100, 101, 199, 600, 999, 200.5]) assert.equal(sendableStatus(s), false, String(s));
});

test('grpcStatusLabel: gRPC codes 0–16 as they are, anything else UNKNOWN (2): the label set stays bounded', () => {
  for (let c = 0; c <= 16; c++) assert.equal(grpcStatusLabel(String(c)), String(c));
  for (const v of ['17', '99', '-1', '01', 'abc', '', ' 1', '1 ']) assert.equal(grpcStatusLabel(v), '2', JSON.stringify(v));
});
