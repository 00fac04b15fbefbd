// Requests held for a service scaled to zero that end in 503 (activation-timeout, or the service left
// the mesh while they waited), over HTTP/1.1 and HTTP/2, are accounted like every other answer: a
// /mesh/stats series, a Prometheus sample, an access-log line and a span (a real berth-proxy process
// with a stand-in control plane for the snapshot stream and the spans).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { httpRequest, portBlock, waitFor } from './harness/berth.js';
import { HOST, request, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot, TraceSpan } from '../../src/lib/mesh-protocol.js';
import { standInControl, type StandInControl } from './mesh-helpers/stand-in-control.js';

const base = portBlock(8);
const P = { inbound: base, app: base + 1, admin: base + 2, idle: base + 3, gone: base + 4, cp: base + 5, picky: base + 6, wait: base + 7 };

const self = { name: 'self', port: 1, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] };
const idle = { name: 'idle', port: 2, endpoints: [], activation: { timeoutMs: 300 } };
const gone = { name: 'gone', port: 3, endpoints: [], activation: { timeoutMs: 30_000 } };
const wait = { name: 'wait', port: 5, endpoints: [], activation: { timeoutMs: 30_000 } };
// A service whose only route matches /api: anything else is 404 no-route.
const picky = { name: 'picky', port: 4, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] };
const config = { accessLog: true, tracing: { sample: 1 }, services: { picky: { routes: [{ name: 'api', match: { path: { prefix: '/api' } } }] } } };
const v1: MeshSnapshot = { version: 1, app: 'held', services: [self, idle, gone, picky, wait], config };

describe('held requests that end in 503', () => {
  let proxy: ProxyUnderTest | undefined;
  let app: http.Server | undefined;
  let cp: StandInControl | undefined;
  const spans: TraceSpan[] = [];
  let out = '';

  before(async () => {
    app = await upstream(P.app, 'app');
    // The stand-in control plane: the snapshot stream, activation asks, spans.
    cp = await standInControl({
      host: HOST,
      port: P.cp,
      first: v1,
      onPost: (url, body) => {
        if (url === '/api/v1/traces') spans.push(...(JSON.parse(body) as { spans: TraceSpan[] }).spans);
        return false;
      },
    });
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { idle: P.idle, gone: P.gone, picky: P.picky, wait: P.wait }, snapshot: v1, control: P.cp });
    proxy.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor('tracing on', () => /tracing: sampling/.test(proxy!.stderr()), 5000);
    await waitFor('snapshot stream', () => cp!.streams.length > 0, 5000);
  });

  after(async () => {
    proxy?.child.kill('SIGKILL');
    app?.close();
    await cp?.close();
  });

  const h2get = (port: number, path: string): Promise<{ status: number; reason: string }> =>
    new Promise((resolve, reject) => {
      const session = http2.connect(`http://${HOST}:${port}`);
      session.on('error', reject);
      const s = session.request({ ':path': path });
      s.on('response', (h) => {
        s.resume();
        s.on('end', () => {
          session.close();
          resolve({ status: Number(h[':status']), reason: String(h['x-berth-reason']) });
        });
      });
      s.on('error', reject);
      s.end();
    });

  test('activation-timeout (HTTP/1.1 and HTTP/2) and "left the mesh" are counted, logged and traced', async () => {
    const h1 = await request(`http://${HOST}:${P.idle}/h1-timeout`);
    assert.equal(h1.status, 503);
    assert.equal(h1.headers['x-berth-reason'], 'activation-timeout');
    assert.deepEqual(await h2get(P.idle, '/h2-timeout'), { status: 503, reason: 'activation-timeout' });

    // Held (30 s timeout) until a snapshot takes the service away.
    const h1Gone = request(`http://${HOST}:${P.gone}/h1-gone`);
    const h2Gone = h2get(P.gone, '/h2-gone');
    await waitFor('both held', async () => JSON.parse((await httpRequest(`http://${HOST}:${P.admin}/mesh/state`)).body).held === 2, 5000);
    const v2 = { ...v1, version: 2, services: [self, idle, picky, wait] };
    cp!.push(v2);
    const [g1, g2] = await Promise.all([h1Gone, h2Gone]);
    assert.equal(g1.status, 503);
    assert.equal(g1.headers['x-berth-reason'], 'unknown-service');
    assert.deepEqual(g2, { status: 503, reason: 'unknown-service' });

    const paths = ['/h1-timeout', '/h2-timeout', '/h1-gone', '/h2-gone'];
    await waitFor('four spans', () => spans.length >= 4, 5000);
    assert.deepEqual(spans.map((s) => `${s.service} ${s.path} ${s.status}`).sort(), ['gone /h1-gone 503', 'gone /h2-gone 503', 'idle /h1-timeout 503', 'idle /h2-timeout 503']);
    // Timed from the hold: the timeout's span lasts about the activation timeout.
    assert.ok(spans.find((s) => s.path === '/h1-timeout')!.durationMs >= 250, 'span timed from the first hold');

    const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { service: string; path: string; status: number; trace: string });
    for (const p of paths) assert.equal(lines.find((l) => l.path === p)?.status, 503, `access-log line for ${p}`);
    // One trace per request: the log line and the span agree.
    for (const s of spans) assert.equal(lines.find((l) => l.path === s.path)?.trace, s.traceId);

    const stats = JSON.parse((await httpRequest(`http://${HOST}:${P.admin}/mesh/stats`)).body) as { destination: string; count: number; errors: number }[];
    assert.deepEqual(stats.filter((s) => s.destination !== 'self').map((s) => [s.destination, s.count, s.errors]).sort(), [['gone', 2, 2], ['idle', 2, 2]]);
    const metrics = (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body;
    assert.match(metrics, /^berth_proxy_requests_total\{[^}]*destination="idle"[^}]*code="503"[^}]*\} 2$/m);
  });

  test('a client leaving while its request is held (HTTP/1.1 and HTTP/2) is logged and counted as 499', async () => {
    const h1 = http.get({ host: HOST, port: P.wait, path: '/h1-left', agent: false });
    h1.on('error', () => {});
    const session = http2.connect(`http://${HOST}:${P.wait}`);
    session.on('error', () => {});
    const h2 = session.request({ ':path': '/h2-left' });
    h2.on('error', () => {});
    await waitFor('both held', async () => JSON.parse((await httpRequest(`http://${HOST}:${P.admin}/mesh/state`)).body).held === 2, 5000, 20);
    h1.destroy();
    session.destroy();
    await waitFor('two access-log lines', () => out.includes('/h1-left') && out.includes('/h2-left'), 3000);
    const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { path: string; status: number });
    for (const p of ['/h1-left', '/h2-left']) assert.equal(lines.find((l) => l.path === p)?.status, 499, p);
    const metrics = (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body;
    assert.match(metrics, /^berth_proxy_requests_total\{[^}]*destination="wait"[^}]*code="499"[^}]*\} 2$/m);
  });

  test('a request no route matches (404 no-route, HTTP/1.1 and HTTP/2) is counted and logged as every answer (Envoy NR)', async () => {
    const h1 = await request(`http://${HOST}:${P.picky}/h1-unrouted`);
    assert.equal(h1.status, 404);
    assert.equal(h1.headers['x-berth-reason'], 'no-route');
    assert.deepEqual(await h2get(P.picky, '/h2-unrouted'), { status: 404, reason: 'no-route' });
    await waitFor('two access-log lines', () => out.includes('/h2-unrouted') && out.includes('/h1-unrouted'), 3000);
    const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { path: string; status: number });
    for (const p of ['/h1-unrouted', '/h2-unrouted']) assert.equal(lines.find((l) => l.path === p)?.status, 404, p);
    const metrics = (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body;
    assert.match(metrics, /^berth_proxy_requests_total\{[^}]*destination="picky"[^}]*code="404"[^}]*\} 2$/m);
  });
});

describe('an HTTP/2 request held at the gateway, then released', () => {
  const Q = (() => {
    const b = portBlock(5);
    return { svc: b, gwAdmin: b + 1, h2app: b + 2, cp: b + 3, inbound: b + 4 };
  })();
  let gateway: ProxyUnderTest | undefined;
  let cp: StandInControl | undefined;
  let h2app: http2.Http2Server | undefined;
  const cold = { name: 'cold', port: Q.svc, endpoints: [] as MeshSnapshot['services'][number]['endpoints'], activation: { timeoutMs: 10_000 } };
  const g1: MeshSnapshot = { version: 1, app: 'held', services: [cold], config: { accessLog: false } };

  before(async () => {
    // The endpoint (an h2c server, as an inbound sidecar is to the gateway): echoes x-forwarded-for.
    h2app = http2.createServer();
    h2app.on('stream', (stream, headers) => {
      stream.respond({ ':status': 200 });
      stream.end(JSON.stringify({ xff: headers['x-forwarded-for'] ?? null }));
    });
    await new Promise<void>((r) => h2app!.listen(Q.h2app, HOST, r));
    cp = await standInControl({ host: HOST, port: Q.cp, first: g1 });
    gateway = await startProxy({ id: 'berth-gateway', inbound: Q.inbound, app: Q.inbound, admin: Q.gwAdmin, outbound: {}, snapshot: g1, control: Q.cp, env: { BERTH_PROXY_MODE: 'gateway', BERTH_SERVICE: 'berth-gateway' } });
    await waitFor('snapshot stream', () => cp!.streams.length > 0, 5000);
  });

  after(async () => {
    gateway?.child.kill('SIGKILL');
    await cp?.close();
    h2app?.close();
  });

  test('x-forwarded-for gets the client once (the headers were added again on release)', async () => {
    await waitFor('the gateway serves the cold service', async () => (await new Promise<boolean>((r) => { const s = net.connect(Q.svc, HOST, () => (s.destroy(), r(true))); s.on('error', () => r(false)); })), 5000);
    const session = http2.connect(`http://${HOST}:${Q.svc}`);
    session.on('error', () => {});
    try {
      const answer = new Promise<string>((resolve, reject) => {
        const s = session.request({ ':path': '/xff' });
        let body = '';
        s.setEncoding('utf8');
        s.on('data', (d: string) => (body += d));
        s.on('end', () => resolve(body));
        s.on('error', reject);
        s.end();
      });
      await waitFor('held', async () => JSON.parse((await httpRequest(`http://${HOST}:${Q.gwAdmin}/mesh/state`)).body).held === 1, 5000);
      const g2: MeshSnapshot = { ...g1, version: 2, services: [{ ...cold, endpoints: [{ id: 'cold-1', host: HOST, port: Q.h2app, variant: 'default' }] }] };
      cp!.push(g2);
      assert.deepEqual(JSON.parse(await answer), { xff: '127.0.0.1' });
    } finally {
      session.destroy();
    }
  });
});
