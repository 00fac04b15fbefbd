// Smaller protocol points in real berth-proxy processes (a sidecar and a gateway, from a saved
// snapshot): CONNECT gets 405; proxy-made answers carry Date; x-request-id is generated when absent
// and x-forwarded-for appended at the gateway; the inbound `source` label names the caller's
// service (said by its outbound proxy in a header the inbound takes off); gRPC answers carry a
// grpc_status label and a cancelled call counts as 499 / CANCELLED, not code="0".
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { httpRequest, portBlock, repoRoot, waitFor } from './harness/berth.js';
import { HOST, request, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const require = createRequire(join(repoRoot, 'package.json'));
const grpc = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');

const base = portBlock(20);
const P = { inbound: base, app: base + 1, admin: base + 2, out: base + 3, fwd: base + 4, svc: base + 5, gwAdmin: base + 6, gIn: base + 7, gApp: base + 8, gAdmin: base + 9, gOut: base + 10, gSvc: base + 11, plainSvc: base + 12, plainAdmin: base + 13, plainIn: base + 14, plainInAdmin: base + 15, trustSvc: base + 16, trustAdmin: base + 17, trustIn: base + 18, trustInAdmin: base + 19 };

const snapshot: MeshSnapshot = {
  version: 1,
  app: 'points',
  services: [
    { name: 'self', port: P.svc, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] },
    { name: 'greeter', port: P.gSvc, endpoints: [{ id: 'greeter-1', host: HOST, port: P.gIn, variant: 'default' }] },
  ],
  config: { accessLog: false, services: { greeter: { protocol: 'grpc' } } },
};

/** A second mesh (a gateway and a sidecar of its own) with `mesh.requestId: false` and `mesh.forwardedFor: false`. */
const plainSnapshot: MeshSnapshot = {
  version: 1,
  app: 'points',
  services: [{ name: 'self', port: P.plainSvc, endpoints: [{ id: 'self-2', host: HOST, port: P.plainIn, variant: 'default' }] }],
  config: { accessLog: false, requestId: false, forwardedFor: false },
};

/** A third mesh whose gateway has a trusted proxy in front (`mesh.trustedHops: 1`): that proxy's x-forwarded-proto is kept. */
const trustSnapshot: MeshSnapshot = {
  version: 1,
  app: 'points',
  services: [{ name: 'self', port: P.trustSvc, endpoints: [{ id: 'self-3', host: HOST, port: P.trustIn, variant: 'default' }] }],
  config: { accessLog: false, trustedHops: 1 },
};

const identity = (b: Buffer): Buffer => b;
const method = (name: string) => ({ path: `/test.Greeter/${name}`, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity });
const definition = { Hello: method('Hello'), Fail: method('Fail'), Slow: method('Slow') };

/** Sends `text` on a new connection and returns what comes back until the proxy closes it. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, HOST);
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(got);
    }, 3000);
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    s.on('error', reject);
    s.write(text);
  });
}

describe('protocol points', () => {
  const procs: ProxyUnderTest[] = [];
  const seen: http.IncomingHttpHeaders[] = [];
  let app: http.Server | undefined;
  let grpcServer: import('@grpc/grpc-js').Server | undefined;

  before(async () => {
    app = await upstream(P.app, 'app', (req, res) => {
      seen.push(req.headers);
      res.end(JSON.stringify(req.headers));
    });
    grpcServer = new grpc.Server();
    grpcServer.addService(definition, {
      Hello: (_call: unknown, cb: (e: null, v: Buffer) => void) => cb(null, Buffer.from('hi')),
      Fail: (_call: unknown, cb: (e: { code: number; details: string }) => void) => cb({ code: grpc.status.NOT_FOUND, details: 'nope' }),
      Slow: (_call: unknown, cb: (e: null, v: Buffer) => void) => void setTimeout(() => cb(null, Buffer.from('late')), 3000),
    } as unknown as import('@grpc/grpc-js').UntypedServiceImplementation);
    await new Promise<void>((resolve, reject) => grpcServer!.bindAsync(`${HOST}:${P.gApp}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
    procs.push(await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { self: P.out, greeter: P.gOut }, snapshot, env: { BERTH_PROXY_FORWARD_PORT: String(P.fwd) } }));
    procs.push(await startProxy({ id: 'greeter-1', inbound: P.gIn, app: P.gApp, admin: P.gAdmin, outbound: {}, snapshot, env: { BERTH_SERVICE: 'greeter' } }));
    procs.push(await startProxy({ id: 'berth-gateway', inbound: P.inbound, app: P.app, admin: P.gwAdmin, outbound: {}, snapshot, env: { BERTH_PROXY_MODE: 'gateway', BERTH_SERVICE: 'berth-gateway' } }));
    procs.push(await startProxy({ id: 'self-2', inbound: P.plainIn, app: P.app, admin: P.plainInAdmin, outbound: {}, snapshot: plainSnapshot }));
    procs.push(await startProxy({ id: 'berth-gateway', inbound: P.plainIn, app: P.app, admin: P.plainAdmin, outbound: {}, snapshot: plainSnapshot, env: { BERTH_PROXY_MODE: 'gateway', BERTH_SERVICE: 'berth-gateway' } }));
    await waitFor('gateway listening', async () => (await request(`http://127.0.0.1:${P.svc}/`).catch(() => ({ status: 0 }))).status === 200);
    procs.push(await startProxy({ id: 'self-3', inbound: P.trustIn, app: P.app, admin: P.trustInAdmin, outbound: {}, snapshot: trustSnapshot }));
    procs.push(await startProxy({ id: 'berth-gateway', inbound: P.trustIn, app: P.app, admin: P.trustAdmin, outbound: {}, snapshot: trustSnapshot, env: { BERTH_PROXY_MODE: 'gateway', BERTH_SERVICE: 'berth-gateway' } }));
    await waitFor('third gateway listening', async () => (await request(`http://127.0.0.1:${P.trustSvc}/`).catch(() => ({ status: 0 }))).status === 200);
    await waitFor('second gateway listening', async () => (await request(`http://127.0.0.1:${P.plainSvc}/`).catch(() => ({ status: 0 }))).status === 200);
  });

  after(() => {
    for (const p of procs) p.child.kill('SIGKILL');
    app?.close();
    grpcServer?.forceShutdown();
  });

  test('CONNECT through the forward proxy (and any listener) gets 405 with Date, not a dropped connection', async () => {
    for (const port of [P.fwd, P.out]) {
      const r = await raw(port, 'CONNECT self:443 HTTP/1.1\r\nhost: self:443\r\n\r\n');
      assert.match(r, /^HTTP\/1\.1 405 /, `port ${port}: ${JSON.stringify(r)}`);
      assert.match(r, /\r\ndate: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n/i);
    }
  });

  test('proxy-made answers carry Date (404 no route, 400 bad request)', async () => {
    const noRoute = await raw(P.out, 'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    assert.match(noRoute, /^HTTP\/1\.1 \d{3} /);
    const unknown = await request(`http://${HOST}:${P.fwd}/`, { headers: { host: 'nosuchservice' } });
    assert.equal(unknown.status, 503);
    assert.ok(unknown.headers.date, 'Date on a 503 unknown-service');
    const bad = await raw(P.out, 'GET / HTTP/1.1\r\nhost: x\r\ncontent-length: zz\r\n\r\n');
    assert.match(bad, /^HTTP\/1\.1 400 [^]*\r\ndate: /i, JSON.stringify(bad));
  });

  test('x-request-id is generated when absent and kept when present; the gateway appends the client address to x-forwarded-for', async () => {
    const fresh = JSON.parse((await request(`http://127.0.0.1:${P.svc}/id`)).body) as http.IncomingHttpHeaders;
    assert.match(String(fresh['x-request-id']), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(fresh['x-forwarded-for'], '127.0.0.1');
    assert.equal(fresh['x-forwarded-proto'], 'http');
    const kept = JSON.parse((await request(`http://127.0.0.1:${P.svc}/id`, { headers: { 'x-request-id': 'mine', 'x-forwarded-for': '203.0.113.7' } })).body) as http.IncomingHttpHeaders;
    assert.equal(kept['x-request-id'], 'mine');
    assert.equal(kept['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    // A sidecar's outbound does not append (only where requests enter the mesh), but does add the id.
    const side = JSON.parse((await request(`http://${HOST}:${P.out}/id`)).body) as http.IncomingHttpHeaders;
    assert.equal(side['x-forwarded-for'], undefined);
    assert.ok(side['x-request-id']);
    // Both can be turned off (mesh.requestId / mesh.forwardedFor: false): nothing is added, what the client sent passes.
    const plain = JSON.parse((await request(`http://127.0.0.1:${P.plainSvc}/id`)).body) as http.IncomingHttpHeaders;
    assert.equal(plain['x-request-id'], undefined);
    assert.equal(plain['x-forwarded-for'], undefined);
    assert.equal(plain['x-forwarded-proto'], undefined);
    const passed = JSON.parse((await request(`http://127.0.0.1:${P.plainSvc}/id`, { headers: { 'x-request-id': 'mine', 'x-forwarded-for': '203.0.113.7' } })).body) as http.IncomingHttpHeaders;
    assert.equal(passed['x-request-id'], 'mine');
    assert.equal(passed['x-forwarded-for'], '203.0.113.7');
  });

  test("a client's x-forwarded-proto does not pass the edge: the gateway says the scheme itself (HTTP/1.1 and h2c), unless a trusted proxy stands in front (mesh.trustedHops)", async () => {
    const viaH1 = async (port: number, headers: Record<string, string>): Promise<http.IncomingHttpHeaders> => JSON.parse((await request(`http://127.0.0.1:${port}/proto`, { headers })).body) as http.IncomingHttpHeaders;
    const viaH2 = async (port: number, headers: Record<string, string>): Promise<http.IncomingHttpHeaders> => {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      try {
        const body = await new Promise<string>((resolve, reject) => {
          const s = session.request({ ':path': '/proto', ...headers });
          let text = '';
          s.setEncoding('utf8');
          s.on('data', (d: string) => (text += d));
          s.on('end', () => resolve(text));
          s.on('error', reject);
        });
        return JSON.parse(body) as http.IncomingHttpHeaders;
      } finally {
        session.close();
      }
    };
    for (const [how, via] of [['HTTP/1.1', viaH1], ['h2c', viaH2]] as const) {
      // Spoofed (and a mixed-case, listed form): the app that redirects to https by it is not fooled.
      assert.equal((await via(P.svc, { 'x-forwarded-proto': 'https' }))['x-forwarded-proto'], 'http', `${how}: a client's https replaced`);
      assert.equal((await via(P.svc, { 'X-Forwarded-Proto': 'https, http' }))['x-forwarded-proto'], 'http', `${how}: a listed value replaced`);
      // Behind a trusted TLS terminator (trustedHops: 1) its value is kept; absent, the gateway's own.
      assert.equal((await via(P.trustSvc, { 'x-forwarded-proto': 'https' }))['x-forwarded-proto'], 'https', `${how}: a trusted proxy's value kept`);
      assert.equal((await via(P.trustSvc, {}))['x-forwarded-proto'], 'http', `${how}: set when the trusted proxy sent none`);
      // A sidecar is not the edge: it neither sets nor changes the header.
      assert.equal((await via(P.inbound, { 'x-forwarded-proto': 'https' }))['x-forwarded-proto'], 'https', `${how}: a sidecar leaves it`);
    }
  });

  test("the inbound source label is the caller's service; the app never sees the header; a made-up caller is 'unknown'", async () => {
    await request(`http://${HOST}:${P.out}/from-self`);
    await request(`http://127.0.0.1:${P.svc}/from-ingress`);
    await request(`http://${HOST}:${P.inbound}/direct`, { headers: { 'x-berth-source': 'made-up' } });
    assert.ok(seen.every((h) => h['x-berth-source'] === undefined), 'the app never sees x-berth-source');
    const metrics = (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body;
    assert.match(metrics, /^berth_proxy_requests_total\{proxy="self-1",source="self",direction="inbound"[^}]*code="200"\} \d+$/m);
    assert.match(metrics, /^berth_proxy_requests_total\{proxy="self-1",source="ingress",direction="inbound"[^}]*code="200"\} \d+$/m);
    assert.match(metrics, /^berth_proxy_requests_total\{proxy="self-1",source="unknown",direction="inbound"[^}]*code="200"\} \d+$/m);
    assert.doesNotMatch(metrics, /made-up/);
  });

  test('gRPC: an error status gets a grpc_status label; a cancelled call counts as 499 / CANCELLED', async () => {
    const Client = grpc.makeGenericClientConstructor(definition, 'Greeter');
    const c = new Client(`${HOST}:${P.gOut}`, grpc.credentials.createInsecure());
    try {
      const call = (name: 'Hello' | 'Fail' | 'Slow', deadlineMs: number) =>
        new Promise<import('@grpc/grpc-js').ServiceError | null>((resolve) => {
          c.makeUnaryRequest(definition[name].path, identity, identity, Buffer.from('x'), new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err) => resolve(err));
        });
      assert.equal(await call('Hello', 5000), null);
      assert.equal((await call('Fail', 5000))?.code, grpc.status.NOT_FOUND);
      // The client cancels (no deadline, so the server cannot end it first with DEADLINE_EXCEEDED).
      const cancelled = await new Promise<import('@grpc/grpc-js').ServiceError | null>((resolve) => {
        const slow = c.makeUnaryRequest(definition.Slow.path, identity, identity, Buffer.from('x'), new grpc.Metadata(), {}, (err) => resolve(err));
        setTimeout(() => slow.cancel(), 300);
      });
      assert.equal(cancelled?.code, grpc.status.CANCELLED);
      await waitFor('cancelled call counted', async () => /code="499",grpc_status="1"/.test((await httpRequest(`http://${HOST}:${P.gAdmin}/metrics`)).body), 10_000);
      const inbound = (await httpRequest(`http://${HOST}:${P.gAdmin}/metrics`)).body;
      assert.match(inbound, /^berth_proxy_requests_total\{[^}]*source="self",direction="inbound"[^}]*code="200",grpc_status="0"\} 1$/m);
      assert.match(inbound, /^berth_proxy_requests_total\{[^}]*direction="inbound"[^}]*code="200",grpc_status="5"\} 1$/m);
      assert.match(inbound, /^berth_proxy_requests_total\{[^}]*direction="inbound"[^}]*code="499",grpc_status="1"\} 1$/m);
      assert.doesNotMatch(inbound, /code="0"/);
      const outbound = (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body;
      assert.match(outbound, /^berth_proxy_requests_total\{[^}]*direction="outbound",destination="greeter"[^}]*code="200",grpc_status="5"\} 1$/m);
    } finally {
      c.close();
    }
  });
});
