// Which failures a route's `retryOn` retries, against Envoy's meaning (router retry_on): a try that
// failed before its answer — the connection reset, or its per-try timeout — is retried under `reset`,
// and under `5xx` and `gateway-error` too (Envoy counts an upstream reset as a 5xx), but not under
// `connect-failure` alone. A POST with `nonIdempotent: true` and `retryOn: [5xx]` whose connection
// was reset got the 502 (only `reset` retried it), and a per-try timeout was retried whatever
// `retryOn` said (a `connect-failure`-only route took three per-try timeouts before its 504).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { portBlock } from './harness/berth.js';
import { HOST, request, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(10);
const P = { inbound: base, app: base + 1, admin: base + 2, post: base + 3, slow: base + 4, resetter: base + 5, good: base + 6, silent: base + 7 };
const ep = (id: string, port: number) => ({ id, host: HOST, port, variant: 'default' });

const snapshot: MeshSnapshot = {
  version: 1,
  app: 'retry-on',
  services: [
    { name: 'self', port: P.inbound, endpoints: [ep('self-1', P.inbound)] },
    { name: 'post', port: 1, endpoints: [ep('resetter', P.resetter), ep('good', P.good)] },
    { name: 'slow', port: 2, endpoints: [ep('silent', P.silent)] },
  ],
  config: {
    accessLog: false,
    services: {
      post: { routes: [{ name: 'p', retries: { attempts: 2, retryOn: ['5xx'], nonIdempotent: true } }] },
      slow: { routes: [{ name: 's', retries: { attempts: 2, perTryTimeout: 100, retryOn: ['connect-failure'], nonIdempotent: false } }] },
    },
  },
};

describe("retryOn as Envoy's: resets and per-try timeouts (berth-proxy process)", () => {
  const servers: http.Server[] = [];
  let proxy: ProxyUnderTest;
  const hits = { resetter: 0, good: 0, silent: 0 };

  before(async () => {
    servers.push(
      await upstream(P.app, 'app'),
      await upstream(P.resetter, 'resetter', (req) => {
        hits.resetter++;
        req.socket.destroy();
      }),
      await upstream(P.good, 'good', (req, res) => {
        hits.good++;
        req.resume();
        req.on('end', () => res.end('good'));
      }),
      await upstream(P.silent, 'silent', (req, res) => {
        hits.silent++;
        setTimeout(() => res.end('late'), 400);
      }),
    );
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { post: P.post, slow: P.slow }, snapshot });
  });
  after(() => {
    proxy?.child.kill('SIGKILL');
    for (const s of servers) s.closeAllConnections?.();
    for (const s of servers) s.close();
  });

  test('retryOn 5xx retries a reset: a POST (nonIdempotent) whose connection dies before the answer goes to the other endpoint', async () => {
    // Round robin over two endpoints: whichever comes first, every request ends at `good`.
    for (let i = 0; i < 4; i++) {
      const r = await request(`http://${HOST}:${P.post}/orders`, { method: 'POST', body: 'hello' });
      assert.equal(r.status, 200, `request ${i}: ${r.status} ${r.body}`);
      assert.equal(r.body, 'good');
    }
    assert.equal(hits.good, 4);
    assert.ok(hits.resetter >= 1, 'the resetting endpoint was tried');
  });

  test('a per-try timeout is not retried under retryOn connect-failure alone: one try, then 504', async () => {
    const started = performance.now();
    const r = await request(`http://${HOST}:${P.slow}/x`);
    const took = performance.now() - started;
    assert.equal(r.status, 504);
    assert.equal(r.headers['x-berth-reason'], 'upstream-timeout');
    assert.equal(hits.silent, 1, 'one try');
    assert.ok(took < 300, `given up after the one per-try timeout (took ${took.toFixed(0)} ms)`);
  });
});
