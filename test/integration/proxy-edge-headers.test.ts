// Request headers a client can play with, through a real berth-proxy process (a review's findings,
// 2026-12-06; each test failed on the build before its fix): headers named in `Connection` are this
// hop's and are cleared on arrival — not at the write, where they took the proxy's own traceparent,
// x-request-id (and at the gateway x-forwarded-for) with them, or Host; header names the plain
// object's prototype also has (`constructor`, `__proto__`); host names in any case for the forward proxy.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type http from 'node:http';
import { HOST, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import { httpRequest, portBlock } from './harness/berth.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(8);
const P = { inbound: base, app: base + 1, admin: base + 2, out: base + 3, fwd: base + 4, echo: base + 5 };

/** Sends `head` raw and returns the echoed request the app saw (its raw header pairs), or the status line. */
function rawEcho(port: number, head: string): Promise<{ status: string; seen?: [string, string][] }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, HOST, () => s.write(head));
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', reject);
    s.on('close', () => {
      const status = got.split('\r\n')[0];
      const body = got.slice(got.indexOf('\r\n\r\n') + 4);
      resolve(status.includes(' 200 ') ? { status, seen: JSON.parse(body) as [string, string][] } : { status });
    });
  });
}
const value = (seen: [string, string][] | undefined, name: string): string[] => (seen ?? []).filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);

describe('request headers a client controls (berth-proxy process)', () => {
  let proxy: ProxyUnderTest;
  let echo: http.Server;
  before(async () => {
    echo = await upstream(P.echo, 'echo', (req, res) => {
      const pairs: [string, string][] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
      res.setHeader('connection', 'close');
      res.end(JSON.stringify(pairs));
    });
    const snapshot = {
      version: 1,
      app: 'edge',
      services: [
        { name: 'self', port: P.inbound, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] },
        { name: 'orders', port: 1, endpoints: [{ id: 'orders-1', host: HOST, port: P.echo, variant: 'default' }] },
      ],
      config: { accessLog: false },
    } as MeshSnapshot;
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { orders: P.out }, snapshot, env: { BERTH_PROXY_FORWARD_PORT: String(P.fwd) } });
  });
  after(() => {
    proxy?.child.kill('SIGKILL');
    echo?.closeAllConnections();
    echo?.close();
  });

  test("headers named in Connection are cleared on arrival: the proxy's own traceparent and x-request-id still go on, and Host always does", async () => {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const named = await rawEcho(P.out, `GET /who HTTP/1.1\r\nhost: orders\r\nconnection: close, traceparent, x-request-id, x-custom, host\r\ntraceparent: ${tp}\r\nx-request-id: client-id\r\nx-custom: hop\r\n\r\n`);
    assert.match(named.status, / 200 /, 'Host named in Connection still reaches the app (it answered 400 without one)');
    assert.deepEqual(value(named.seen, 'host'), ['orders']);
    assert.deepEqual(value(named.seen, 'x-custom'), [], 'a named header stays on the hop');
    // The client's own values were this hop's; the proxy's (a fresh trace, a new id) go on.
    const [traceparent] = value(named.seen, 'traceparent');
    assert.match(traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/, 'the proxy still sends a traceparent');
    assert.notEqual(traceparent.slice(3, 35), tp.slice(3, 35));
    const [id] = value(named.seen, 'x-request-id');
    assert.ok(id !== undefined && id !== 'client-id', `the proxy still sends an x-request-id: ${id}`);
    // Not named: the client's trace goes on.
    const plain = await rawEcho(P.out, `GET /who HTTP/1.1\r\nhost: orders\r\nconnection: close\r\ntraceparent: ${tp}\r\n\r\n`);
    assert.equal(value(plain.seen, 'traceparent')[0]?.slice(3, 35), tp.slice(3, 35));
  });

  test('a request with two Host fields is refused 400 (RFC 9112 §3.2), on the outbound, forward-proxy and inbound ports', async () => {
    for (const port of [P.out, P.fwd, P.inbound]) {
      for (const hosts of ['host: orders\r\nhost: self', 'Host: orders\r\nhost: orders', 'host: orders\r\nx-a: 1\r\nHOST: evil']) {
        const r = await rawEcho(port, `GET /who HTTP/1.1\r\n${hosts}\r\nconnection: close\r\n\r\n`);
        assert.match(r.status, / 400 /, `${port} ${JSON.stringify(hosts)}: ${r.status}`);
      }
      const one = await rawEcho(port, 'GET /who HTTP/1.1\r\nhost: orders\r\nconnection: close\r\n\r\n');
      assert.doesNotMatch(one.status, / 400 /, `${port}: one Host is fine`);
    }
  });

  test('every line of a field node keeps once (two Authorization, User-Agent, Content-Type lines) reaches the app as a line of its own, on the lean path and the node:http one; routing reads the first; Connection naming it takes every line', async () => {
    const dups = 'Authorization: Bearer one\r\nX-Dup: a\r\nauthorization: Bearer two\r\nX-Dup: b\r\nUser-Agent: u1\r\nuser-agent: u2\r\nReferer: /r1\r\nreferer: /r2\r\n';
    // The lean parser (origin-form), node:http (absolute-form goes to it), the forward proxy.
    for (const [port, target, upgrade] of [
      [P.out, '/who', ''],
      [P.out, 'http://orders/who', ''],
      [P.fwd, 'http://orders/who', ''],
      // An Upgrade request (node:http's 'upgrade' path; the app answers it as a plain request).
      [P.out, '/who', 'upgrade: websocket\r\n'],
    ] as const) {
      const connection = upgrade ? 'connection: upgrade' : 'connection: close';
      const r = await rawEcho(port, `GET ${target} HTTP/1.1\r\nhost: orders\r\n${connection}\r\n${upgrade}${dups}\r\n`);
      const at = `${port} ${target} ${upgrade}`;
      assert.match(r.status, / 200 /, `${at}: ${r.status}`);
      assert.deepEqual(value(r.seen, 'authorization'), ['Bearer one', 'Bearer two'], `${at}: the second Authorization line was dropped`);
      assert.deepEqual(value(r.seen, 'user-agent'), ['u1', 'u2'], at);
      assert.deepEqual(value(r.seen, 'referer'), ['/r1', '/r2'], at);
      assert.deepEqual(value(r.seen, 'x-dup').join(', '), 'a, b', at);
      const named = await rawEcho(port, `GET ${target} HTTP/1.1\r\nhost: orders\r\n${connection}, authorization\r\n${upgrade}${dups}\r\n`);
      assert.deepEqual(value(named.seen, 'authorization'), [], `${at}: Connection names Authorization: no line of it goes on`);
    }
  });

  test('header names Object.prototype also has (constructor, __proto__) pass unchanged', async () => {
    const r = await rawEcho(P.out, 'GET /who HTTP/1.1\r\nhost: orders\r\nconnection: close\r\nConstructor: abc\r\n__proto__: def\r\n\r\n');
    assert.deepEqual(value(r.seen, 'constructor'), ['abc']);
    assert.deepEqual(value(r.seen, '__proto__'), ['def']);
  });

  test('the forward proxy reads host names in any case', async () => {
    for (const [target, host] of [
      ['/x', 'Orders'],
      ['/x', 'ORDERS.default.svc.cluster.local'],
      ['http://Orders/x', 'Orders'],
    ]) {
      const r = await rawEcho(P.fwd, `GET ${target} HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`);
      assert.match(r.status, / 200 /, `${target} with Host ${host}: ${r.status}`);
    }
  });

  test("the forward proxy takes only a mesh service's names for it (svc, svc.<app>, svc.<ns>.svc[.cluster.local]): an outside host that begins with a service's name is refused 404, counted; Proxy-Authorization stays on its hop; an Upgrade request is served", async () => {
    // An app whose HTTP_PROXY is the sidecar calls an outside API: it must not reach the mesh's `orders` with its credentials.
    for (const host of ['orders.evil.com', 'orders.s3.amazonaws.com', 'orders.example.org:8443', '127.0.0.1', 'orders.default.svc.evil.com']) {
      const r = await rawEcho(P.fwd, `GET http://${host}/charge HTTP/1.1\r\nhost: ${host}\r\nauthorization: Bearer partner-token\r\nconnection: close\r\n\r\n`);
      assert.match(r.status, / 404 /, `${host}: ${r.status}`);
    }
    for (const host of ['orders', 'orders.edge', 'orders.default.svc', 'orders.default.svc.cluster.local.', 'orders:8080']) {
      const r = await rawEcho(P.fwd, `GET http://${host}/x HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`);
      assert.match(r.status, / 200 /, `${host}: ${r.status}`);
    }
    const metrics = (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body;
    assert.match(metrics, /berth_proxy_requests_total\{[^}]*destination="-"[^}]*code="404"\} 5/, 'the refusals are counted');
    // RFC 9110 §11.7.1: for the proxy that asked for it (none did); never passed on to the app.
    const auth = await rawEcho(P.fwd, 'GET http://orders/who HTTP/1.1\r\nhost: orders\r\nproxy-authorization: Basic YWxpY2U6czNjcmV0\r\nconnection: close\r\n\r\n');
    assert.match(auth.status, / 200 /);
    assert.deepEqual(value(auth.seen, 'proxy-authorization'), []);
    // `Upgrade: h2c` (curl --http2 on http:// URLs): served as the plain request it is — not a 501 — and
    // the upgrade is not passed on (as Envoy). `close` keeps its meaning beside the upgrade's tokens.
    const up = await rawEcho(P.fwd, 'GET http://orders/who HTTP/1.1\r\nhost: orders\r\nconnection: Upgrade, HTTP2-Settings, close\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n');
    assert.match(up.status, / 200 /, up.status);
    assert.deepEqual([value(up.seen, 'upgrade'), value(up.seen, 'http2-settings')], [[], []]);
  });
});
