// Shadow traffic diff in a real berth-proxy: a mirror route's copies are answered by the shadow
// service, the client gets the primary's answer as before, and each mirrored answer is compared
// with the primary's (same / diff per route in /metrics, the differing fields in /mesh/shadow).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';
import { httpRequest, portBlock, waitFor } from './harness/berth.js';
import { HOST, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';

describe('shadow diff of mirrored traffic', () => {
  const base = portBlock(6);
  const P = { inbound: base, app: base + 1, admin: base + 2, out: base + 3, peer: base + 4, shadow: base + 5 };
  const servers: http.Server[] = [];
  let proxy: ProxyUnderTest;

  const answer = (v: number) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    // The shadow answers /diff/* with another price; /same/* alike.
    res.end(JSON.stringify({ path: req.url, price: req.url!.startsWith('/diff') ? v : 1, at: process.hrtime.bigint().toString() }));
  };

  before(async () => {
    servers.push(await upstream(P.app, 'app'), await upstream(P.peer, 'peer', answer(10)), await upstream(P.shadow, 'shadow', answer(12)));
    const snapshot: MeshSnapshot = {
      version: 1,
      app: 't',
      // `at` differs on every answer: the service's replay.ignore keeps it out of the comparison.
      config: { accessLog: false, services: { peer: { routes: [{ name: 'shadowed', mirror: { service: 'shadow', percent: 100 } }], ignore: ['$.at'] } } },
      services: [
        { name: 'self', port: P.inbound, endpoints: [{ id: 'sh-1', host: HOST, port: P.inbound, variant: 'default' }] },
        { name: 'peer', port: 1, endpoints: [{ id: 'peer-1', host: HOST, port: P.peer, variant: 'default' }] },
        { name: 'shadow', port: 2, endpoints: [{ id: 'shadow-1', host: HOST, port: P.shadow, variant: 'default' }] },
      ],
    };
    proxy = await startProxy({ id: 'sh-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { peer: P.out }, snapshot });
  });
  after(() => {
    proxy?.child.kill('SIGKILL');
    for (const s of servers) s.close();
  });

  test('the client gets the primary; mirrored answers are compared and counted', async () => {
    await waitFor('shadow diff loaded', async () => {
      await httpRequest(`http://${HOST}:${P.out}/warm`);
      return (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body.includes('berth_proxy_shadow_compared_total');
    });
    const before = JSON.parse((await httpRequest(`http://${HOST}:${P.admin}/mesh/shadow`)).body).counts[0];
    for (let i = 0; i < 5; i++) {
      const same = await httpRequest(`http://${HOST}:${P.out}/same/${i}`);
      assert.deepEqual({ ...JSON.parse(same.body), at: 0 }, { path: `/same/${i}`, price: 1, at: 0 });
      const diff = await httpRequest(`http://${HOST}:${P.out}/diff/${i}`);
      assert.deepEqual({ ...JSON.parse(diff.body), at: 0 }, { path: `/diff/${i}`, price: 10, at: 0 }, 'the client gets the primary');
    }
    const counts = await waitFor('10 comparisons', async () => {
      const c = JSON.parse((await httpRequest(`http://${HOST}:${P.admin}/mesh/shadow`)).body).counts[0];
      return c && c.same + c.diff + c.error - (before.same + before.diff + before.error) >= 10 ? c : undefined;
    });
    assert.deepEqual({ same: counts.same - before.same, diff: counts.diff - before.diff, error: counts.error - before.error }, { same: 5, diff: 5, error: 0 });
    assert.deepEqual([counts.service, counts.route], ['peer', 'shadowed']);
    const shadow = JSON.parse((await httpRequest(`http://${HOST}:${P.admin}/mesh/shadow`)).body);
    assert.deepEqual(shadow.recent.at(-1).fields, [{ path: '$.price', expected: '10', actual: '12' }]);
    const metrics = (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body;
    assert.match(metrics, /berth_proxy_shadow_compared_total\{proxy="sh-1",service="peer",route="shadowed",result="diff"\} 5/);
  });
});
