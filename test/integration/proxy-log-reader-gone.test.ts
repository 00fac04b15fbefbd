// The proxy's log readers go away (the node agent restarted; the pipes have no reader): the next
// write to stdout or stderr fails with EPIPE. With no 'error' listener on stdout, the access log's
// first flush ended the process and every request with it (49 of 50 failed after the reader left).
// Now the lines are dropped and counted, and traffic goes on, through one real berth-proxy process.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { httpRequest, portBlock, waitFor } from './harness/berth.js';
import { HOST, request, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(3);
const P = { inbound: base, app: base + 1, admin: base + 2 };

describe('a proxy whose log readers are gone (berth-proxy process)', () => {
  let proxy: ProxyUnderTest;
  let closeApp: () => void = () => {};

  before(async () => {
    const app = await upstream(P.app, 'app');
    closeApp = () => app.close();
    const snapshot: MeshSnapshot = {
      version: 1,
      app: 'log-reader-gone',
      config: { accessLog: true },
      services: [{ name: 'self', port: 1, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] }],
    };
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: {}, snapshot });
  });
  after(() => {
    proxy?.child.kill('SIGKILL');
    closeApp();
  });

  test('requests are served, the lost lines counted, and SIGTERM still drains and exits 0', async () => {
    assert.equal((await request(`http://${HOST}:${P.inbound}/before`)).status, 200);
    proxy.child.stdout!.destroy();
    proxy.child.stderr!.destroy();
    // Ten at once first: their lines go out in one write, the one that fails with EPIPE — its lines were
    // lost uncounted (CI under load: fewer than 29 of 30 counted when the first flush carried several).
    const statuses: number[] = await Promise.all(Array.from({ length: 10 }, (_, i) => request(`http://${HOST}:${P.inbound}/burst/${i}`).then((r) => r.status, () => 0)));
    for (let i = 0; i < 20; i++) {
      statuses.push(await request(`http://${HOST}:${P.inbound}/after/${i}`).then((r) => r.status, () => 0));
      // Across the access log's flushes (every 100 ms while lines keep coming).
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(statuses, Array<number>(30).fill(200), `exit ${proxy.child.exitCode ?? proxy.child.signalCode ?? 'running'}`);
    const dropped = await waitFor(
      'the dropped lines counted',
      async () => {
        const m = /^berth_proxy_access_log_dropped_total\{[^}]*\} (\d+)$/m.exec((await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body);
        return m && Number(m[1]) >= 30 ? Number(m[1]) : undefined;
      },
      3000,
    );
    // Every line after the reader left (and /before's, when it was still held): none lost uncounted.
    assert.ok(dropped <= 31, `${dropped} lines counted as dropped`);
    // The drain message goes to a stderr without a reader as well.
    proxy.child.kill('SIGTERM');
    const [code] = (await once(proxy.child, 'exit')) as [number | null];
    assert.equal(code, 0);
  });
});
