// The dashboard's server side without a browser: the metric history (rates from two reads of real
// HTTP /mesh/stats endpoints, service points from inbound series, edges from outbound ones, a proxy
// restart skipped instead of negative, the row limit, reopening the file), the login cookie and what
// the cookie may call, and the static files (index for view paths, gzip, no path escape).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { MetricHistory, type StatsTarget } from '../../../src/control/dashboard/metric-history.js';
import { cookieName, cookieValue, dashboardMayCall, handleLogin } from '../../../src/control/dashboard/auth.js';
import { serveStatic } from '../../../src/control/dashboard/static.js';
import { STATS_BUCKETS, type MeshStatsSeries } from '../../../src/lib/mesh-protocol.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-dash-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A proxy admin endpoint answering GET /mesh/stats with whatever `series` holds now. */
async function fakeProxy(): Promise<{ port: number; series: MeshStatsSeries[]; close: () => Promise<void> }> {
  const state = { series: [] as MeshStatsSeries[] };
  const server = http.createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(req.url === '/mesh/stats' ? JSON.stringify(state.series) : '{}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    get series() {
      return state.series;
    },
    set series(v) {
      state.series = v;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Cumulative series with `count` requests all in the bucket of ≤ `le` seconds. */
function series(direction: string, destination: string, count: number, errors: number, le: number, variant = 'default'): MeshStatsSeries {
  return { direction, destination, variant, count, errors, buckets: STATS_BUCKETS.map((b) => (b >= le ? count : 0)), sum: count * le };
}

test('metric history: rates per service and per edge from two reads; a restarted proxy is skipped; kept across reopening', async () => {
  const web = await fakeProxy();
  const gw = await fakeProxy();
  after(() => Promise.all([web.close(), gw.close()]));
  const file = join(dir, 'm1.db');
  const h = new MetricHistory({ file });
  const targets: StatsTarget[] = [
    { id: 'web-1', service: 'web', variant: 'default', host: '127.0.0.1', adminPort: web.port },
    { id: 'berth-gateway', service: 'ingress', variant: '-', host: '127.0.0.1', adminPort: gw.port },
  ];
  web.series = [series('inbound', 'web', 100, 0, 0.01), series('outbound', 'orders', 50, 0, 0.005, '-')];
  gw.series = [series('outbound', 'web', 100, 0, 0.01, '-')];
  assert.deepEqual(await h.collect(targets, 1_000_000), [], 'the first read has no window');
  web.series = [series('inbound', 'web', 300, 10, 0.01), series('outbound', 'orders', 150, 5, 0.005, '-')];
  gw.series = [series('outbound', 'web', 300, 10, 0.01, '-')];
  const pts = await h.collect(targets, 1_002_000);
  const svc = pts.find((p) => p.kind === 'service' && p.source === 'web')!;
  assert.equal(svc.rps, 100); // 200 requests in 2 s
  assert.equal(svc.errorPct, 5);
  assert.ok(svc.p99Ms !== null && svc.p99Ms <= 10 && svc.p99Ms > 5, String(svc.p99Ms));
  const edge = pts.find((p) => p.kind === 'edge' && p.source === 'web' && p.target === 'orders')!;
  assert.equal(edge.rps, 50);
  assert.equal(edge.errorPct, 5);
  assert.ok(pts.some((p) => p.kind === 'edge' && p.source === 'ingress' && p.target === 'web' && p.rps === 100));
  // The web proxy restarted: its counters start again; that window is skipped, never negative.
  web.series = [series('inbound', 'web', 20, 0, 0.01)];
  const restarted = await h.collect(targets, 1_004_000);
  assert.ok(restarted.every((p) => p.rps >= 0), JSON.stringify(restarted));
  h.close();
  const again = new MetricHistory({ file });
  const kept = again.query(0);
  assert.ok(kept.some((p) => p.t === 1_002_000 && p.kind === 'service' && p.rps === 100), 'points survive reopening');
  assert.deepEqual(again.query(1_003_000).map((p) => p.t).filter((t) => t < 1_003_000), [], 'since filters');
  again.close();
});

test('metric history: an answer that is not a list of series is no answer', async () => {
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"not":"series"}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => new Promise((r) => server.close(r)));
  const h = new MetricHistory({ file: join(dir, 'm3.db') });
  const t: StatsTarget[] = [{ id: 'x', service: 'x', variant: 'default', host: '127.0.0.1', adminPort: (server.address() as { port: number }).port }];
  assert.deepEqual(await h.collect(t, 1000), []);
  assert.deepEqual(await h.collect(t, 2000), []);
  h.close();
});

test('metric history keeps at most maxPoints rows, dropping the oldest', () => {
  const h = new MetricHistory({ file: join(dir, 'm2.db'), maxPoints: 100 });
  for (let i = 0; i < 30; i++) h.record(Array.from({ length: 10 }, (_, j) => ({ t: i * 1000 + j, kind: 'service' as const, source: 's', target: 's', variant: 'default', rps: i, errorPct: 0, p50Ms: 1, p99Ms: 2 })));
  assert.ok(h.count() <= 105, `${h.count()} rows`);
  const pts = h.query(0);
  assert.equal(pts[pts.length - 1].rps, 29, 'the newest is kept');
  assert.ok(pts[0].rps >= 19, `oldest kept is from round ${pts[0].rps}`);
  h.close();
});

test('login: the right token sets an HttpOnly SameSite=Strict cookie named for the port and redirects without it; a wrong one is 401', async () => {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!handleLogin(req, res, url, 'secret-token')) res.end('no login');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const get = (path: string) =>
    new Promise<http.IncomingMessage>((resolve, reject) => http.get(`http://127.0.0.1:${port}${path}`, { agent: false }, (res) => (res.resume(), resolve(res))).on('error', reject));
  const ok = await get('/logs?token=secret-token&grep=x');
  assert.equal(ok.statusCode, 302);
  assert.equal(ok.headers.location, '/logs?grep=x');
  assert.equal(String(ok.headers['set-cookie']), `${cookieName(port)}=secret-token; HttpOnly; SameSite=Strict; Path=/`);
  assert.equal((await get('/?token=wrong')).statusCode, 401);
  assert.equal((await get('/')).statusCode, 200);
  await new Promise((r) => server.close(r));
  assert.equal(cookieValue('a=1; berth_dashboard_5=tok ; b=2', 'berth_dashboard_5'), 'tok');
  assert.equal(cookieValue('berth_dashboard_55=tok', 'berth_dashboard_5'), undefined);
});

test('the dashboard cookie reads and runs the CLI operator actions, never apply, down, heartbeats, log ingest or the mesh watch', () => {
  for (const [m, p] of [['GET', '/api/v1/instances'], ['GET', '/api/v1/logs'], ['POST', '/api/v1/restart'], ['POST', '/api/v1/scale'], ['POST', '/api/v1/stop'], ['POST', '/api/v1/start'], ['POST', '/api/v1/nodes/node-1/drain'], ['POST', '/api/v1/nodes/node-1/uncordon']])
    assert.ok(dashboardMayCall(m, p), `${m} ${p}`);
  for (const [m, p] of [['POST', '/api/v1/apply'], ['POST', '/api/v1/down'], ['POST', '/api/v1/nodes/node-1/heartbeat'], ['POST', '/api/v1/nodes/node-1/kill'], ['POST', '/api/v1/logs'], ['GET', '/api/v1/mesh/watch'], ['POST', '/api/v1/mesh/ack'], ['DELETE', '/api/v1/instances']])
    assert.ok(!dashboardMayCall(m, p), `${m} ${p}`);
});

test('the dashboard cookie runs `berth release promote|abort|retry` and `berth gitops sync`, not undo, rollback or a source change', () => {
  for (const p of ['/api/v1/release/web/promote', '/api/v1/release/web/abort', '/api/v1/release/web/retry', '/api/v1/gitops/demo/sync']) assert.ok(dashboardMayCall('POST', p), p);
  for (const [m, p] of [['POST', '/api/v1/release/web/undo'], ['POST', '/api/v1/gitops/demo/rollback'], ['POST', '/api/v1/gitops/demo/suspend'], ['POST', '/api/v1/gitops/demo/promote'], ['POST', '/api/v1/gitops'], ['DELETE', '/api/v1/gitops/demo'], ['POST', '/api/v1/release/web/promote/x']])
    assert.ok(!dashboardMayCall(m, p), `${m} ${p}`);
  for (const p of ['/api/v1/releases', '/api/v1/gitops/demo/policy', '/api/v1/gitops/demo/history']) assert.ok(dashboardMayCall('GET', p), p);
});

test('static files: view paths get index.html, assets are gzipped on request, nothing outside assets/ is served', async () => {
  const web = join(dir, 'web');
  mkdirSync(join(web, 'assets'), { recursive: true });
  writeFileSync(join(web, 'index.html'), '<!doctype html><p>hi');
  writeFileSync(join(web, 'assets', 'app.js'), 'console.log(1)'.repeat(100));
  writeFileSync(join(dir, 'secret.js'), 'secret');
  const server = http.createServer((req, res) => {
    if (!serveStatic(req, res, new URL(req.url ?? '/', 'http://x').pathname, web)) res.writeHead(418).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const get = (path: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) =>
      http
        .get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
          const c: Buffer[] = [];
          res.on('data', (d: Buffer) => c.push(d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(c) }));
        })
        .on('error', reject),
    );
  for (const p of ['/', '/metrics-view', '/services']) assert.match((await get(p)).body.toString(), /<p>hi/, p);
  const js = await get('/assets/app.js', { 'accept-encoding': 'gzip, br' });
  assert.equal(js.headers['content-encoding'], 'gzip');
  assert.equal(gunzipSync(js.body).toString(), 'console.log(1)'.repeat(100));
  for (const p of ['/assets/../secret.js', '/assets/%2e%2e/secret.js', '/assets/..%2fsecret.js']) {
    const r = await get(p);
    assert.ok(r.status !== 200 && !r.body.toString().includes('secret'), `${p}: ${r.status}`);
  }
  assert.equal((await get('/assets/nope.js')).status, 404);
  await new Promise((r) => server.close(r));
});
