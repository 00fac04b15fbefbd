// Which requests an instance's inbound sidecar takes (real berth-proxy processes from saved snapshots):
// an instance registered in its own snapshot serves; one that is not (not ready) refuses with 503 and
// x-berth-reason, unless the sender routed the request with a newer snapshot (x-berth-snapshot: proxies
// learn a snapshot seconds apart after a control-plane restart) or the instance is `leaving` — withdrawn
// but still running while the other proxies drop it. Before `leaving`, a withdrawn instance's sidecar
// that learnt the withdrawal first refused what the gateway, still on the older snapshot, sent it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { portBlock } from './harness/berth.js';
import { HOST, request, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(12);
const VERSION = 500;

/** A snapshot in which the only endpoint of `svc` is `registered` (or none), with `leaving` ids. */
const snapshot = (registered: string | undefined, leaving?: string[]): MeshSnapshot => ({
  version: VERSION,
  app: 'admission',
  services: [{ name: 'svc', port: base + 11, endpoints: registered ? [{ id: registered, host: HOST, port: base, variant: 'default' }] : [] }],
  config: { accessLog: false },
  ...(leaving ? { leaving } : {}),
});

describe('inbound admission', () => {
  const procs: ProxyUnderTest[] = [];
  let app: http.Server;
  // Three sidecars in front of one app: registered, withdrawn-and-leaving, not ready.
  const ports = { registered: base, leaving: base + 3, unready: base + 6 };
  before(async () => {
    app = await upstream(base + 9, 'app');
    procs.push(await startProxy({ id: 'i-registered', inbound: ports.registered, app: base + 9, admin: base + 1, outbound: {}, snapshot: snapshot('i-registered') }));
    procs.push(await startProxy({ id: 'i-leaving', inbound: ports.leaving, app: base + 9, admin: base + 4, outbound: {}, snapshot: snapshot('i-other', ['i-leaving']) }));
    procs.push(await startProxy({ id: 'i-unready', inbound: ports.unready, app: base + 9, admin: base + 7, outbound: {}, snapshot: snapshot('i-other') }));
  });
  after(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await new Promise((r) => app.close(r));
  });

  const get = (port: number, headers: Record<string, string> = {}) => request(`http://${HOST}:${port}/x`, { headers });

  test('a registered instance serves, with or without the sender saying its snapshot', async () => {
    assert.equal((await get(ports.registered)).status, 200);
    assert.equal((await get(ports.registered, { 'x-berth-snapshot': String(VERSION - 1) })).status, 200);
  });

  test('a withdrawn instance that still runs (leaving) serves what a proxy with an older snapshot sends', async () => {
    const r = await get(ports.leaving, { 'x-berth-snapshot': String(VERSION - 1) });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'app GET /x');
  });

  test('an instance not in its snapshot refuses (503, x-berth-reason) unless the sender holds a newer snapshot', async () => {
    for (const headers of [{} as Record<string, string>, { 'x-berth-snapshot': String(VERSION - 1) }, { 'x-berth-snapshot': String(VERSION) }, { 'x-berth-snapshot': 'garbage' }]) {
      const r = await get(ports.unready, headers);
      assert.equal(r.status, 503, JSON.stringify(headers));
      assert.equal(r.headers['x-berth-reason'], 'app-not-ready');
    }
    const newer = await get(ports.unready, { 'x-berth-snapshot': String(VERSION + 1) });
    assert.equal(newer.status, 200, newer.body);
  });

  test('the app never sees the x-berth-snapshot header', async () => {
    const seen: string[] = [];
    const echo = await upstream(base + 10, 'echo', (req, res) => {
      seen.push(String(req.headers['x-berth-snapshot'] ?? ''));
      res.end('ok');
    });
    const p = await startProxy({ id: 'i-echo', inbound: base + 2, app: base + 10, admin: base + 5, outbound: {}, snapshot: snapshot('i-echo') });
    procs.push(p);
    assert.equal((await get(base + 2, { 'x-berth-snapshot': String(VERSION + 7) })).status, 200);
    assert.deepEqual(seen, ['']);
    await new Promise((r) => echo.close(r));
  });
});
