// A route's timeout over HTTP/1.1 runs from the end of the request to the end of the answer, as
// Envoy's route timeout ("between the point at which the entire downstream request, i.e.
// end-of-stream, has been processed and when the upstream response has been completely
// processed") and as the proxy's HTTP/2 streams already had it. It ran from the request's head: an
// upload slower than the route's timeout got 504 while its client was still sending, whatever its
// size (buffered for retries, streamed with a length, or chunked). A per-try timeout likewise
// starts at the request's end (Envoy's): a streamed upload slower than it was cut with 504.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { portBlock } from './harness/berth.js';
import { HOST, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(10);
const P = { inbound: base, app: base + 1, admin: base + 2, up: base + 3, sink: base + 4, ptt: base + 5 };
const ep = (id: string, port: number) => ({ id, host: HOST, port, variant: 'default' });

const snapshot: MeshSnapshot = {
  version: 1,
  app: 'route-timeout',
  services: [
    { name: 'self', port: P.inbound, endpoints: [ep('self-1', P.inbound)] },
    { name: 'up', port: 1, endpoints: [ep('sink', P.sink)] },
    { name: 'ptt', port: 2, endpoints: [ep('sink', P.sink)] },
  ],
  config: {
    accessLog: false,
    services: {
      up: { routes: [{ name: 'uploads', timeout: 400 }] },
      ptt: { routes: [{ name: 'per-try', retries: { attempts: 1, perTryTimeout: 400, retryOn: ['5xx'], nonIdempotent: true } }] },
    },
  },
};

/** Sends `size` bytes in ten pieces 100 ms apart (about a second: more than the route's 400 ms). */
function slowUpload(path: string, size: number, chunked: boolean, port = P.up): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(`http://${HOST}:${port}${path}`, { method: 'PUT', agent: false, headers: chunked ? {} : { 'content-length': String(size) } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started }));
    });
    req.on('error', reject);
    const piece = size / 10;
    let sent = 0;
    const tick = setInterval(() => {
      if (sent >= size) {
        clearInterval(tick);
        req.end();
        return;
      }
      req.write(Buffer.alloc(piece, 'x'));
      sent += piece;
    }, 100);
  });
}

describe("a route's timeout and per-try timeout start at the end of the request (berth-proxy process, HTTP/1.1)", () => {
  const servers: http.Server[] = [];
  let proxy: ProxyUnderTest;

  before(async () => {
    servers.push(
      await upstream(P.app, 'app'),
      await upstream(P.sink, 'sink', (req, res) => {
        let n = 0;
        req.on('data', (d: Buffer) => (n += d.length));
        // /late: the answer comes 1 s after the body's end, past the route's timeout.
        req.on('end', () => setTimeout(() => res.end(`got ${n}`), req.url === '/late' ? 1000 : 0));
      }),
    );
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { up: P.up, ptt: P.ptt }, snapshot });
  });
  after(() => {
    proxy?.child.kill('SIGKILL');
    for (const s of servers) s.close();
  });

  for (const [what, size, chunked] of [
    ['a body kept for retries (30 KB)', 30_000, false],
    ['a streamed body with a length (200 KB)', 200_000, false],
    ['a chunked body', 200_000, true],
  ] as const) {
    test(`${what} sent for longer than the route's timeout is answered`, async () => {
      const r = await slowUpload('/upload', size, chunked);
      assert.equal(r.status, 200, `${r.status} ${r.body} after ${r.ms.toFixed(0)} ms`);
      assert.equal(r.body, `got ${size}`);
    });
  }

  for (const chunked of [false, true]) {
    test(`a per-try timeout starts at the end of a streamed upload (${chunked ? 'chunked' : 'with a length'})`, async () => {
      const r = await slowUpload('/upload', 200_000, chunked, P.ptt);
      assert.equal(r.status, 200, `${r.status} ${r.body} after ${r.ms.toFixed(0)} ms`);
      assert.equal(r.body, 'got 200000');
    });
  }

  test('the per-try timeout still cuts an answer that comes too long after a streamed request ended', async () => {
    const r = await slowUpload('/late', 200_000, false, P.ptt);
    assert.equal(r.status, 504);
    assert.ok(r.ms < 1000 + 900, `504 about 400 ms after the body's end (took ${r.ms.toFixed(0)} ms)`);
  });

  test('the timeout still cuts an answer that comes too long after the request ended', async () => {
    const r = await slowUpload('/late', 30_000, false);
    assert.equal(r.status, 504);
    assert.ok(r.ms < 1000 + 900, `504 about 400 ms after the body's end (took ${r.ms.toFixed(0)} ms)`);
  });
});
