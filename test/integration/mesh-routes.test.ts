// Service routes and destination policy in a real berth-proxy process against real upstreams:
// the routing matrix, weights, retries, timeouts, faults, mirroring, header rewrites, balancers,
// outlier ejection and return, connection-pool limits.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { portBlock, waitFor } from './harness/berth.js';
import { HOST, request, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshRoute, MeshPolicy, MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(40);
const P = {
  inbound: base,
  app: base + 1,
  admin: base + 2,
  out: { front: base + 3, flaky: base + 4, pool: base + 5, sticky: base + 6, least: base + 7, rnd: base + 8 },
  a: base + 10,
  b: base + 11,
  c: base + 12,
  shadow: base + 13,
  slow: base + 14,
  flaky1: base + 15,
  flaky2: base + 16,
  bad: base + 17,
  good1: base + 18,
  good2: base + 19,
  poolSrv: base + 20,
};

const ep = (id: string, port: number, variant = 'default') => ({ id, host: HOST, port, variant });

const frontRoutes: MeshRoute[] = [
  { name: 'exact', match: { path: { exact: '/exact' } }, to: 'a' },
  { name: 'regex', match: { path: { regex: '/items/[0-9]+' } }, to: 'b' },
  { name: 'post', match: { path: { prefix: '/m' }, method: ['POST', 'PUT'] }, to: 'c' },
  { name: 'hdr-exact', match: { headers: { 'x-user': { exact: 'beta' } } }, to: 'b' },
  { name: 'hdr-prefix', match: { headers: { 'x-user': { prefix: 'gold-' } } }, to: 'c' },
  { name: 'hdr-regex', match: { headers: { 'x-tier': { regex: 't[0-9]' } } }, to: 'c' },
  { name: 'hdr-present', match: { headers: { 'x-debug': { present: true } } }, to: 'a' },
  { name: 'query', match: { path: { prefix: '/q' }, query: { v: { exact: '2' } } }, to: 'b' },
  { name: 'weights', match: { path: { prefix: '/w' } }, to: [{ service: 'a', weight: 80 }, { service: 'b', weight: 20 }] },
  { name: 'variant', match: { path: { prefix: '/canary' } }, to: [{ service: 'v', variant: 'v2', weight: 100 }] },
  { name: 'timeout', match: { path: { prefix: '/slow' } }, to: 'slow', timeout: 150 },
  { name: 'abort', match: { path: { prefix: '/abort' } }, fault: { abort: { percent: 100, status: 418 } }, to: 'a' },
  { name: 'delay', match: { path: { prefix: '/delay' } }, fault: { delay: { percent: 100, fixedDelay: 200 } }, to: 'a' },
  { name: 'mirror', match: { path: { prefix: '/mirror' } }, mirror: { service: 'shadow', percent: 100 }, to: 'a' },
  { name: 'rewrite', match: { path: { prefix: '/rewrite' } }, headers: { request: { set: { 'x-set': 'yes' }, remove: ['x-drop'] }, response: { add: { 'x-added': 'on' }, remove: ['x-served-by'] } }, to: 'echo' },
  { name: 'rest', to: 'a' },
];

function snapshot(): MeshSnapshot {
  const svc = (name: string, port: number, endpoints: ReturnType<typeof ep>[]) => ({ name, port, endpoints });
  const policy = (p: Partial<MeshPolicy>): MeshPolicy => ({ balancer: 'round_robin', ...p });
  return {
    version: 1,
    app: 'routes',
    services: [
      svc('self', P.inbound, [ep('self-1', P.inbound)]),
      svc('front', 1, []),
      svc('a', 2, [ep('a-1', P.a)]),
      svc('v', 13, [ep('v-1', P.a, 'v1'), ep('v-2', P.c, 'v2')]),
      svc('b', 3, [ep('b-1', P.b)]),
      svc('c', 4, [ep('c-1', P.c)]),
      svc('echo', 5, [ep('echo-1', P.app)]),
      svc('shadow', 6, [ep('shadow-1', P.shadow)]),
      svc('slow', 7, [ep('slow-1', P.slow)]),
      svc('flaky', 8, [ep('flaky-1', P.flaky1), ep('flaky-2', P.flaky2)]),
      svc('pool', 9, [ep('pool-1', P.poolSrv)]),
      svc('sticky', 10, [ep('s-1', P.good1), ep('s-2', P.good2), ep('s-3', P.b)]),
      svc('least', 11, [ep('l-slow', P.slow), ep('l-fast', P.good1)]),
      svc('rnd', 12, [ep('r-1', P.good1), ep('r-2', P.good2)]),
    ],
    config: {
      accessLog: false,
      services: {
        front: { routes: frontRoutes },
        flaky: {
          routes: [{ retries: { attempts: 2, retryOn: ['5xx'], nonIdempotent: false } }],
          policy: policy({ outlierDetection: { consecutive5xxErrors: 3, consecutiveGatewayErrors: 0, interval: 1000, baseEjectionTime: 600, maxEjectionPercent: 50 } }),
        },
        pool: { policy: policy({ connectionPool: { maxConnections: 1, maxPendingRequests: 0 } }) },
        sticky: { policy: policy({ balancer: { consistentHash: { header: 'x-user' } } }) },
        least: { policy: policy({ balancer: 'least_request' }) },
        rnd: { policy: policy({ balancer: 'random' }) },
      },
    },
  };
}

describe('service routes and destination policy (berth-proxy process)', () => {
  const servers: http.Server[] = [];
  let proxy: ProxyUnderTest;
  const mirrored: string[] = [];
  let flaky1Fail = true;
  let stalled5xx = 0;
  const front = (path: string, opts?: Parameters<typeof request>[1]) => request(`http://${HOST}:${P.out.front}${path}`, opts);

  before(async () => {
    servers.push(await upstream(P.a, 'a'), await upstream(P.b, 'b'), await upstream(P.c, 'c'), await upstream(P.good1, 'g1'), await upstream(P.good2, 'g2'));
    servers.push(
      await upstream(P.app, 'echo', (req, res) => {
        res.setHeader('x-served-by', 'echo');
        res.end(JSON.stringify(req.headers));
      }),
      await upstream(P.shadow, 'shadow', (req, res) => {
        mirrored.push(`${req.headers.host} ${req.url}`);
        res.end('shadow');
      }),
      await upstream(P.slow, 'slow', (_req, res) => void setTimeout(() => res.end('slow'), 500)),
      await upstream(P.flaky1, 'flaky1', (req, res) => {
        if (req.url === '/stall5xx') {
          // A retriable 503 whose body never comes whole (100 bytes announced, 5 sent).
          stalled5xx++;
          req.socket.write('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 100\r\n\r\nstall');
          return;
        }
        res.statusCode = flaky1Fail ? 500 : 200;
        res.end('flaky1');
      }),
      await upstream(P.flaky2, 'flaky2'),
      await upstream(P.poolSrv, 'pool', (_req, res) => void setTimeout(() => res.end('pool'), 300)),
    );
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: P.out, snapshot: snapshot() });
  });
  after(() => {
    proxy?.child.kill('SIGKILL');
    for (const s of servers) s.close();
  });

  test('routing matrix: path exact/prefix/regex, method, headers exact/prefix/regex/present, query; first match wins', async () => {
    const cases: [string, Parameters<typeof request>[1], string][] = [
      ['/exact', {}, 'a'],
      ['/exact/more', {}, 'a'],
      ['/items/42', {}, 'b'],
      ['/items/x', {}, 'a'],
      ['/m', { method: 'POST', body: 'x' }, 'c'],
      ['/m', { method: 'GET' }, 'a'],
      ['/h', { headers: { 'x-user': 'beta' } }, 'b'],
      ['/h', { headers: { 'x-user': 'gold-1' } }, 'c'],
      ['/h', { headers: { 'x-tier': 't7' } }, 'c'],
      ['/h', { headers: { 'x-tier': 't77' } }, 'a'],
      ['/h', { headers: { 'x-debug': '' } }, 'a'],
      ['/q?v=2', {}, 'b'],
      ['/q?v=3', {}, 'a'],
      ['/items/1', { headers: { 'x-user': 'gold-1' } }, 'b'],
    ];
    for (const [path, opts, want] of cases) {
      const r = await front(path, opts);
      assert.equal(r.status, 200, `${path}: ${r.body}`);
      assert.equal(r.headers['x-served-by'], want, `${opts?.method ?? 'GET'} ${path} ${JSON.stringify(opts?.headers ?? {})}`);
    }
  });

  test('weighted destinations: 80/20 within ±5 points over 2,000 requests, and within ±2 in every 100; variant subsets', async () => {
    let a = 0;
    const n = 2000;
    const perHundred: number[] = [];
    for (let i = 0; i < n; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, () => front('/w')));
      const inBatch = batch.filter((r) => r.body.startsWith('a ')).length;
      a += inBatch;
      if (i % 100 === 0) perHundred.push(inBatch);
      else perHundred[perHundred.length - 1] += inBatch;
    }
    const pct = (a / n) * 100;
    assert.ok(Math.abs(pct - 80) <= 5, `a got ${pct}%`);
    // Dealt from a shuffled deck, not drawn per request: a draw per request strays by ±4 in 100
    // (one standard deviation), which a canary measured over a short step saw as a wrong split.
    assert.deepEqual(perHundred.filter((x) => Math.abs(x - 80) > 2), [], `a's share in each 100: ${perHundred.join(' ')}`);
    for (let i = 0; i < 5; i++) assert.equal((await front('/canary')).headers['x-served-by'], 'c', 'variant v2 is the endpoint on c');
  });

  test('timeout → 504; fault abort and delay; mirror copies with a -shadow host; header rewrites', async () => {
    const t0 = performance.now();
    const slow = await front('/slow');
    assert.equal(slow.status, 504);
    assert.ok(performance.now() - t0 < 450, 'timed out before the upstream answered');
    assert.equal((await front('/abort')).status, 418);
    const d0 = performance.now();
    assert.equal((await front('/delay')).status, 200);
    assert.ok(performance.now() - d0 >= 190, 'delay injected');
    assert.equal((await front('/mirror/1')).headers['x-served-by'], 'a');
    await waitFor('mirrored copy', () => mirrored.some((m) => m.endsWith('/mirror/1') && m.includes('-shadow')));
    const rw = await front('/rewrite', { headers: { 'x-drop': '1' } });
    const seen = JSON.parse(rw.body) as Record<string, string>;
    assert.equal(seen['x-set'], 'yes');
    assert.equal(seen['x-drop'], undefined);
    assert.equal(rw.headers['x-added'], 'on');
    assert.equal(rw.headers['x-served-by'], undefined);
  });

  test('retries on 5xx go to another endpoint; outlier ejection removes a failing endpoint and lets it back', async () => {
    const flaky = (i: number) => request(`http://${HOST}:${P.out.flaky}/f/${i}`);
    for (let i = 0; i < 20; i++) assert.equal((await flaky(i)).status, 200, 'retried onto the healthy endpoint');
    // Ejected after 3 consecutive 5xx: now every first try lands on flaky2.
    const state = await waitFor('ejected', async () => {
      const served = await Promise.all(Array.from({ length: 6 }, (_, i) => flaky(i)));
      return served.every((r) => r.body.startsWith('flaky2')) ? served : undefined;
    });
    assert.equal(state.length, 6);
    flaky1Fail = false;
    await waitFor('flaky1 back after the ejection time', async () => (await flaky(0)).body.startsWith('flaky1') || (await flaky(1)).body.startsWith('flaky1'), 5000);
  });

  test('a retriable 5xx is retried at its head, not after its body (a stalled body held the client forever)', async () => {
    for (let i = 0; i < 6; i++) {
      const t0 = performance.now();
      const r = await request(`http://${HOST}:${P.out.flaky}/stall5xx`, { timeoutMs: 3000 });
      assert.deepEqual([r.status, r.body], [200, 'flaky2 GET /stall5xx']);
      assert.ok(performance.now() - t0 < 1500, `answered at once (${(performance.now() - t0).toFixed(0)} ms)`);
    }
    assert.ok(stalled5xx >= 1, 'the stalling endpoint was tried');
  });

  test('connection-pool limits: over maxConnections + maxPendingRequests → 503 with a reason', async () => {
    const all = await Promise.all(Array.from({ length: 4 }, () => request(`http://${HOST}:${P.out.pool}/`)));
    const ok = all.filter((r) => r.status === 200).length;
    const over = all.filter((r) => r.status === 503 && r.headers['x-berth-reason'] === 'overflow').length;
    assert.ok(ok >= 1 && over >= 1 && ok + over === 4, JSON.stringify(all.map((r) => [r.status, r.headers['x-berth-reason']])));
  });

  test('balancers: consistent hash on a header sticks; least_request prefers the idle endpoint; random spreads', async () => {
    for (const user of ['ann', 'bob', 'cy']) {
      const served = new Set<string>();
      for (let i = 0; i < 6; i++) served.add((await request(`http://${HOST}:${P.out.sticky}/`, { headers: { 'x-user': user } })).headers['x-served-by'] as string);
      assert.equal(served.size, 1, `${user} always lands on one endpoint`);
    }
    const noKey = new Set<string>();
    for (let i = 0; i < 6; i++) noKey.add((await request(`http://${HOST}:${P.out.sticky}/`)).headers['x-served-by'] as string);
    assert.ok(noKey.size > 1, 'without the header: spread');
    // least_request: with the slow endpoint busy, new requests go to the idle one.
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => new Promise((r) => setTimeout(r, i * 10)).then(() => request(`http://${HOST}:${P.out.least}/`))));
    const fast = results.filter((r) => r.headers['x-served-by'] === 'g1').length;
    assert.ok(fast >= 20, `least_request sent ${fast}/30 to the idle endpoint`);
    const rnd = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const who = (await request(`http://${HOST}:${P.out.rnd}/`)).headers['x-served-by'] as string;
      rnd.set(who, (rnd.get(who) ?? 0) + 1);
    }
    assert.equal(rnd.size, 2);
  });
});
