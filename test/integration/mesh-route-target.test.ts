// Request targets against a service's routes, through a real berth-proxy process (a review of route
// matching against Envoy's, 2026-12-07; each test failed on the build before its fix).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http2 from 'node:http2';
import type http from 'node:http';
import { HOST, request, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import { portBlock } from './harness/berth.js';
import type { MeshRoute, MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(8);
const P = { inbound: base, app: base + 1, admin: base + 2, out: base + 3, a: base + 4, b: base + 5 };

/** Sends `head` raw on a fresh connection; the status line and the body. */
function raw(port: number, head: string): Promise<{ status: string; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, HOST, () => s.write(head));
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', reject);
    s.on('close', () => resolve({ status: got.split('\r\n')[0], body: got.slice(got.indexOf('\r\n\r\n') + 4) }));
  });
}

function h2Get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${HOST}:${port}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'GET', ':path': path });
    let status = 0;
    let body = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('error', reject);
    req.on('close', () => {
      session.close();
      resolve({ status, body });
    });
    req.end();
  });
}

describe('request targets and routes (berth-proxy process)', () => {
  let proxy: ProxyUnderTest;
  const apps: http.Server[] = [];
  before(async () => {
    apps.push(await upstream(P.a, 'a'), await upstream(P.b, 'b'), await upstream(P.app, 'app', (req, res) => res.end(`app ${req.method} ${req.url} host=${req.headers.host}`)));
    const routes: MeshRoute[] = [
      { name: 'authority', match: { path: { prefix: '/host' } }, headers: { request: { set: { Host: 'rewritten.example' } } }, to: 'self' },
      { name: 'deny', match: { path: { exact: '/admin' } }, fault: { abort: { percent: 100, status: 403 } }, to: 'a' },
      { name: 'items', match: { path: { regex: '/items/[0-9]+' } }, to: 'b' },
      { name: 'v2', match: { query: { v: { exact: '2' } } }, to: 'b' },
      { name: 'rest', to: 'a' },
    ];
    const snapshot = {
      version: 1,
      app: 'targets',
      services: [
        { name: 'self', port: P.inbound, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] },
        { name: 'front', port: 1, endpoints: [] },
        { name: 'a', port: 2, endpoints: [{ id: 'a-1', host: HOST, port: P.a, variant: 'default' }] },
        { name: 'b', port: 3, endpoints: [{ id: 'b-1', host: HOST, port: P.b, variant: 'default' }] },
      ],
      config: { accessLog: false, services: { front: { routes } } },
    } as MeshSnapshot;
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { front: P.out }, snapshot });
  });
  after(() => {
    proxy?.child.kill('SIGKILL');
    for (const s of apps) {
      s.closeAllConnections();
      s.close();
    }
  });

  test('a target with a fragment (#) is refused 400, as Envoy does: routes matched it with the fragment, the app without it', async () => {
    // Without it: `/admin#x` passed the route denying exact `/admin` and the app (any URL parser) served /admin;
    // `/items/1#x` missed the regex; `/q?x=1#&v=2` was routed on a `v=2` the app never got.
    for (const target of ['/admin#x', '/admin#', '/items/1#x', '/q?x=1#&v=2', '/public#/../admin']) {
      const got = await raw(P.out, `GET ${target} HTTP/1.1\r\nhost: front\r\nconnection: close\r\n\r\n`);
      assert.match(got.status, / 400 /, `${target}: ${got.status} ${got.body}`);
    }
    assert.equal((await h2Get(P.out, '/admin#x')).status, 400, 'over h2c too');
    // The routes themselves, without fragments.
    assert.equal((await request(`http://${HOST}:${P.out}/admin`)).status, 403);
    assert.equal((await request(`http://${HOST}:${P.out}/items/1`)).body, 'b GET /items/1');
    assert.equal((await request(`http://${HOST}:${P.out}/q?x=1&v=2`)).body, 'b GET /q?x=1&v=2');
    assert.equal((await request(`http://${HOST}:${P.out}/public`)).body, 'a GET /public');
    // The inbound reads no routes: it passes such a target on (the building-block API sends
    // invocations as daprd does, `?tag=#1&page=2` included).
    const inbound = await raw(P.inbound, 'GET /q?tag=#1&page=2 HTTP/1.1\r\nhost: self\r\nconnection: close\r\n\r\n');
    assert.equal(inbound.body, 'app GET /q?tag=#1&page=2 host=self', inbound.status);
  });

  test("a route's `headers.request.set: {host}` rewrites the authority over h2c as over HTTP/1.1 (Istio's host rewrite)", async () => {
    const h1 = await request(`http://${HOST}:${P.out}/host`);
    assert.equal(h1.body, 'app GET /host host=rewritten.example');
    // Without the fix the h2 request went on with a `host` field beside the client's unchanged
    // :authority, which the peer proxy reads: the app got host=127.0.0.1:<port>.
    const h2 = await h2Get(P.out, '/host');
    assert.equal(h2.body, 'app GET /host host=rewritten.example', `h2c: ${h2.status}`);
  });
});
