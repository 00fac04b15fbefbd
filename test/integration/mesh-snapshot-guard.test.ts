// What a real berth-proxy does with snapshots it must not put in force, from a stand-in control plane:
// one with an element of the wrong shape (the same snapshot reaches every proxy of the mesh: it used
// to end each of them on a TypeError), an older version from the same control plane (it used to be
// applied, saved and acknowledged), a saved snapshot of the wrong shape at start, and a control plane
// that ends every watch stream at once (the proxy used to reconnect every 200 ms for ever). And a
// request's tries once a snapshot replaced its destination's endpoints: they went to the removed ones.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { portBlock, waitFor } from './harness/berth.js';
import { GATEWAY_ID } from '../../src/lib/mesh-protocol.js';
import { HOST, request, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const ports = (base: number) => ({ inbound: base, app: base + 1, admin: base + 2, out: base + 3, a: base + 4, b: base + 5, cp: base + 6 });
// Each describe its own ports: the first one's proxy may not be gone yet when the second starts.
const blocks = [ports(portBlock(8)), ports(portBlock(8)), ports(portBlock(8)), ports(portBlock(8))];
let P = blocks[0];

/** A snapshot whose `peer` service is served by the upstream on `port`. */
function snapshotTo(version: number, port: number): MeshSnapshot {
  return {
    version,
    app: 'guard',
    services: [
      { name: 'self', port: 1, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] },
      { name: 'peer', port: 2, endpoints: [{ id: `peer-${port}`, host: HOST, port, variant: 'default' }] },
    ],
    config: { accessLog: false },
  };
}

/** A stand-in control plane: each watch stream sends what `streams` says, in order; acks are recorded. */
class StandIn {
  readonly acks: number[] = [];
  watches = 0;
  private readonly open: http.ServerResponse[] = [];
  /** Events (already framed) for the stream now open; `endAtOnce` ends every stream right after its events. */
  endAtOnce = false;
  server!: http.Server;

  async listen(): Promise<void> {
    this.server = await upstream(P.cp, 'control plane', (req, res) => {
      if (req.url?.startsWith('/api/v1/mesh/watch')) {
        this.watches++;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.flushHeaders();
        if (this.endAtOnce) return void res.end();
        this.open.push(res);
        return;
      }
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (req.url === '/api/v1/mesh/ack') this.acks.push((JSON.parse(body) as { version: number }).version);
        res.writeHead(204).end();
      });
    });
  }

  send(data: unknown): void {
    const text = typeof data === 'string' ? data : JSON.stringify(data);
    for (const s of this.open) if (!s.destroyed) s.write(`event: snapshot\ndata: ${text}\n\n`);
  }

  close(): void {
    for (const s of this.open) s.destroy();
    this.server.close();
  }
}

function identify(proxy: ProxyUnderTest, startTime: number): void {
  writeFileSync(join(proxy.stateDir, 'token'), 'secret\n');
  writeFileSync(join(proxy.stateDir, 'control.json'), JSON.stringify({ pid: process.pid, startTime, port: P.cp, app: 'guard' }));
}

const servedBy = async (): Promise<string> => (await request(`http://${HOST}:${P.out}/who`)).body.split(' ')[0];

describe('snapshots a proxy must not put in force', () => {
  const servers: http.Server[] = [];
  const cp = new StandIn();
  let proxy: ProxyUnderTest | undefined;

  before(async () => {
    servers.push(await upstream(P.app, 'app'), await upstream(P.a, 'A'), await upstream(P.b, 'B'));
    await cp.listen();
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { peer: P.out }, snapshot: snapshotTo(1, P.a) });
    identify(proxy, 1);
    await waitFor('the watch stream', () => cp.watches >= 1, 10_000);
  });

  after(() => {
    proxy?.child.kill('SIGKILL');
    cp.close();
    for (const s of servers) s.close();
  });

  test('a snapshot with an element of the wrong shape is ignored: the proxy keeps running and routing with the last good one, and does not acknowledge it', async () => {
    cp.send(snapshotTo(1000, P.a));
    await waitFor('version 1000 acknowledged', () => cp.acks.includes(1000), 5000);
    const good = snapshotTo(0, P.b);
    const bad: [string, unknown][] = [
      ['a service without endpoints', { ...good, version: 1001, services: [good.services[0], { name: 'peer', port: 2 }] }],
      ['a null service', { ...good, version: 1002, services: [good.services[0], null] }],
      ['a route with no destination', { ...good, version: 1003, config: { accessLog: false, services: { peer: { routes: [{ name: 'r', to: [] }] } } } }],
      ['an ingress without routes', { ...good, version: 1004, config: { accessLog: false, ingress: { port: P.cp + 1 } } }],
    ];
    for (const [, snap] of bad) cp.send(snap);
    cp.send({ ...good, version: 1005 });
    await waitFor('version 1005 acknowledged', () => cp.acks.includes(1005), 5000);
    assert.equal(proxy!.child.exitCode, null, `the proxy is still running (stderr: ${proxy!.stderr().slice(-400)})`);
    assert.deepEqual(
      cp.acks.filter((v) => v > 1000 && v < 1005),
      [],
      'no bad snapshot was acknowledged',
    );
    for (const [what, snap] of bad) assert.match(proxy!.stderr(), new RegExp(`ignoring a bad snapshot version ${(snap as { version: number }).version}`), what);
    assert.equal(await servedBy(), 'B', 'the good snapshot after them is in force');
  });

  test('an older version from the same control plane is ignored; a new control plane is believed whatever its versions', async () => {
    cp.send(snapshotTo(3000, P.a));
    await waitFor('version 3000 acknowledged', () => cp.acks.includes(3000), 5000);
    assert.equal(await servedBy(), 'A');
    cp.send(snapshotTo(2000, P.b));
    cp.send(snapshotTo(3001, P.a));
    await waitFor('version 3001 acknowledged', () => cp.acks.includes(3001), 5000);
    assert.ok(!cp.acks.includes(2000), 'the older version was not acknowledged');
    assert.equal(await servedBy(), 'A', 'still routed by the newer snapshot');
    assert.match(proxy!.stderr(), /ignoring snapshot version 2000: older than version 3001|ignoring snapshot version 2000: older than version 3000/);
    // A restarted control plane (another start time) whose clock went back.
    identify(proxy!, 2);
    const watches = cp.watches;
    cp.close();
    await cp.listen();
    await waitFor('the proxy watches the new control plane', () => cp.watches > watches, 10_000);
    cp.send(snapshotTo(1500, P.b));
    await waitFor('version 1500 acknowledged', () => cp.acks.includes(1500), 5000);
    assert.equal(await servedBy(), 'B');
  });
});

describe('a saved snapshot of the wrong shape, and a control plane that ends every stream at once', () => {
  const servers: http.Server[] = [];
  const cp = new StandIn();
  let proxy: ProxyUnderTest | undefined;

  before(async () => {
    P = blocks[1];
    servers.push(await upstream(P.app, 'app'), await upstream(P.a, 'A'));
    cp.endAtOnce = true;
    await cp.listen();
  });

  after(() => {
    proxy?.child.kill('SIGKILL');
    cp.close();
    for (const s of servers) s.close();
  });

  test('the proxy starts with the saved snapshot ignored, and reconnects to the ending streams with a growing delay', async () => {
    const saved = snapshotTo(5, P.a) as unknown as { services: unknown[] };
    saved.services = [null];
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { peer: P.out }, snapshot: saved as unknown as MeshSnapshot });
    assert.match(proxy.stderr(), /ignoring the saved snapshot .*not a valid snapshot/);
    identify(proxy, 3);
    await waitFor('the first watch', () => cp.watches >= 1, 10_000);
    const first = cp.watches;
    await new Promise((r) => setTimeout(r, 3000));
    // Back-off 200, 400, 800, 1600 ms: at most 4 more in 3 s (every 200 ms it was 15).
    assert.ok(cp.watches - first <= 5, `${cp.watches - first} watch requests in 3 s`);
    assert.ok(cp.watches - first >= 2, 'it does reconnect');
    assert.equal(proxy.child.exitCode, null);
  });
});

describe('the gateway when a snapshot takes a service\'s port away', () => {
  const servers: http.Server[] = [];
  const cp = new StandIn();
  let gateway: ProxyUnderTest | undefined;

  before(async () => {
    P = blocks[2];
    // The service's app answers after 1 s.
    servers.push(await upstream(P.a, 'slow', (_req, res) => void setTimeout(() => res.end('slow answer'), 1000)));
    await cp.listen();
  });

  after(() => {
    gateway?.child.kill('SIGKILL');
    cp.close();
    for (const s of servers) s.close();
  });

  test('a request in flight on that port finishes; new connections are refused', async () => {
    const withPeer: MeshSnapshot = { version: 1, app: 'guard', services: [{ name: 'peer', port: P.b, endpoints: [{ id: 'peer-1', host: HOST, port: P.a, variant: 'default' }] }], config: { accessLog: false } };
    gateway = await startProxy({ id: GATEWAY_ID, inbound: P.inbound, app: P.app, admin: P.admin, outbound: {}, snapshot: withPeer, env: { BERTH_PROXY_MODE: 'gateway', BERTH_SERVICE: GATEWAY_ID } });
    identify(gateway, 4);
    await waitFor('the gateway serves the service port', async () => (await request(`http://${HOST}:${P.b}/`).catch(() => undefined))?.status === 200, 10_000);
    await waitFor('the watch stream', () => cp.watches >= 1, 10_000);
    const inFlight = request(`http://${HOST}:${P.b}/in-flight`);
    await new Promise((r) => setTimeout(r, 200));
    cp.send({ ...withPeer, version: 2, services: [] });
    await waitFor('version 2 acknowledged', () => cp.acks.includes(2), 5000);
    const r = await inFlight;
    assert.equal(r.status, 200, 'the request in flight was answered');
    assert.equal(r.body, 'slow answer');
    await assert.rejects(request(`http://${HOST}:${P.b}/new`), /ECONNREFUSED/, 'a new connection is refused');
  });
});

describe('a request\'s tries after a snapshot replaced its destination\'s endpoints', () => {
  const servers: http.Server[] = [];
  const cp = new StandIn();
  let proxy: ProxyUnderTest | undefined;
  const hits = { A: 0, B: 0 };
  /** Answers A's first request (held until then) as a draining peer does. */
  let releaseA: (() => void) | undefined;

  before(async () => {
    P = blocks[3];
    servers.push(
      await upstream(P.app, 'app'),
      await upstream(P.a, 'A', (_req, res) => {
        hits.A++;
        const answer = (): void => void res.writeHead(503, { 'x-berth-reason': 'draining' }).end('A draining');
        if (hits.A === 1) releaseA = answer;
        else answer();
      }),
      await upstream(P.b, 'B', (_req, res) => {
        hits.B++;
        res.end('B ok');
      }),
    );
    await cp.listen();
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { peer: P.out }, snapshot: snapshotTo(1, P.a) });
    identify(proxy, 5);
    await waitFor('the watch stream', () => cp.watches >= 1, 10_000);
  });

  after(() => {
    proxy?.child.kill('SIGKILL');
    cp.close();
    for (const s of servers) s.close();
  });

  test('a retry after the change goes to the endpoint now in force, not the removed one', async () => {
    const pending = request(`http://${HOST}:${P.out}/one`);
    await waitFor('the first try at A', () => hits.A === 1, 5000, 10);
    cp.send(snapshotTo(100, P.b));
    await waitFor('version 100 acknowledged', () => cp.acks.includes(100), 5000);
    releaseA!();
    const r = await pending;
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'B ok');
    assert.equal(hits.A, 1, 'A (removed) got only the try in flight when it was removed');
  });

  test('a request in a fault delay when the change comes is sent to the endpoint now in force', async () => {
    const delayed = (version: number, port: number): MeshSnapshot => ({ ...snapshotTo(version, port), config: { accessLog: false, services: { peer: { routes: [{ name: 'slow', fault: { delay: { percent: 100, fixedDelay: 500 } } }] } } } });
    cp.send(delayed(200, P.a));
    await waitFor('version 200 acknowledged', () => cp.acks.includes(200), 5000);
    hits.A = hits.B = 0;
    const pending = request(`http://${HOST}:${P.out}/two`);
    await new Promise((r) => setTimeout(r, 100));
    cp.send(delayed(300, P.b));
    await waitFor('version 300 acknowledged', () => cp.acks.includes(300), 5000);
    const r = await pending;
    assert.equal(r.body, 'B ok');
    assert.deepEqual(hits, { A: 0, B: 1 });
  });
});
