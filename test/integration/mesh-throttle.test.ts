// Throttling primitives in a real berth-proxy process: token-bucket rate limits (429 + Retry-After)
// per route and per destination variant, concurrency limits, and slow start of a new endpoint. The
// snapshots come from a stand-in control plane speaking the documented watch protocol
// (lib/mesh-protocol.ts), so the test can add an endpoint at a chosen moment.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpRequest, portBlock, waitFor } from './harness/berth.js';
import { HOST, request, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(20);
const P = { inbound: base, app: base + 1, admin: base + 2, limited: base + 3, conc: base + 4, ramp: base + 5, variant: base + 6, split: base + 7, narrow: base + 8, spill: base + 9, old: base + 10, fresh: base + 11, slow: base + 12, cp: base + 13 };
const ep = (id: string, port: number, variant = 'default') => ({ id, host: HOST, port, variant });

function snapshot(version: number, withFresh: boolean): MeshSnapshot {
  return {
    version,
    app: 'throttle',
    services: [
      { name: 'self', port: P.inbound, endpoints: [ep('self-1', P.inbound)] },
      { name: 'limited', port: 1, endpoints: [ep('l-1', P.old)] },
      { name: 'conc', port: 2, endpoints: [ep('c-1', P.slow)] },
      { name: 'ramp', port: 3, endpoints: withFresh ? [ep('old', P.old), ep('fresh', P.fresh)] : [ep('old', P.old)] },
      { name: 'variant', port: 4, endpoints: [ep('v1', P.old, 'v1'), ep('v2', P.fresh, 'v2')] },
      { name: 'split', port: 5, endpoints: [ep('s-1', P.slow, 'stable'), ep('s-2', P.slow, 'canary')] },
      { name: 'narrow', port: 6, endpoints: [ep('n-1', P.slow, 'stable'), ep('n-2', P.slow, 'canary')] },
      { name: 'spill', port: 7, endpoints: [ep('sp-1', P.slow, 'stable'), ep('sp-2', P.slow, 'canary')] },
    ],
    config: {
      accessLog: false,
      services: {
        limited: { routes: [{ name: 'slow-lane', rateLimit: { requestsPerSecond: 0.5, burst: 5 } }] },
        conc: { policy: { balancer: 'round_robin', concurrencyLimit: 2 } },
        ramp: { policy: { balancer: 'round_robin', slowStart: { window: 3000, minWeightPercent: 10 } } },
        variant: {
          routes: [{ to: [{ service: 'variant', variant: 'v1', weight: 50 }, { service: 'variant', variant: 'v2', weight: 50 }] }],
          policy: { balancer: 'round_robin', variants: { v2: { rateLimit: { requestsPerSecond: 1, burst: 3 } } } },
        },
        // What a canary release renders: the service's own limits must still hold across the split.
        split: {
          routes: [{ to: [{ service: 'split', variant: 'stable', weight: 90 }, { service: 'split', variant: 'canary', weight: 10 }] }],
          policy: { balancer: 'round_robin', concurrencyLimit: 2 },
        },
        narrow: {
          routes: [{ to: [{ service: 'narrow', variant: 'stable', weight: 0 }, { service: 'narrow', variant: 'canary', weight: 100 }] }],
          policy: { balancer: 'round_robin', concurrencyLimit: 3, variants: { canary: { concurrencyLimit: 1 } } },
        },
        spill: {
          routes: [{ to: [{ service: 'spill', variant: 'stable', weight: 0 }, { service: 'spill', variant: 'canary', weight: 100 }] }],
          policy: { balancer: 'round_robin', variants: { canary: { concurrencyLimit: 1, overflowTo: 'stable' }, stable: { concurrencyLimit: 1 } } },
        },
      },
    },
  };
}

describe('throttling (berth-proxy process, stand-in control plane)', () => {
  const servers: http.Server[] = [];
  let proxy: ProxyUnderTest;
  let current = snapshot(1, false);
  const watchers = new Set<http.ServerResponse>();

  before(async () => {
    servers.push(await upstream(P.old, 'old'), await upstream(P.fresh, 'fresh'), await upstream(P.app, 'app'));
    servers.push(await upstream(P.slow, 'slow', (_req, res) => void setTimeout(() => res.end('slow'), 300)));
    servers.push(
      await upstream(P.cp, 'control plane', (req, res) => {
        if (req.url?.startsWith('/api/v1/mesh/watch')) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`event: snapshot\ndata: ${JSON.stringify(current)}\n\n`);
          watchers.add(res);
          req.on('close', () => watchers.delete(res));
          return;
        }
        req.resume();
        res.writeHead(204).end();
      }),
    );
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { limited: P.limited, conc: P.conc, ramp: P.ramp, variant: P.variant, split: P.split, narrow: P.narrow, spill: P.spill }, snapshot: current });
    writeFileSync(join(proxy.stateDir, 'token'), 'secret\n');
    writeFileSync(join(proxy.stateDir, 'control.json'), JSON.stringify({ pid: process.pid, startTime: 0, port: P.cp, app: 'throttle' }));
    await waitFor('proxy watching', () => watchers.size > 0, 10_000);
  });
  after(() => {
    proxy?.child.kill('SIGKILL');
    for (const w of watchers) w.destroy();
    for (const s of servers) s.close();
  });

  test('route rate limit: a burst of 5 passes, then 429 with Retry-After; a token comes back every 2 s', async () => {
    const replies = await Promise.all(Array.from({ length: 8 }, () => request(`http://${HOST}:${P.limited}/`)));
    assert.deepEqual(replies.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 429, 429, 429]);
    const limited = replies.find((r) => r.status === 429)!;
    assert.ok(['1', '2'].includes(limited.headers['retry-after'] as string), `Retry-After ${limited.headers['retry-after']}`);
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal((await request(`http://${HOST}:${P.limited}/`)).status, 200, 'a token was added');
  });

  test('per-variant rate limit: only the limited variant is throttled', async () => {
    const replies = await Promise.all(Array.from({ length: 40 }, () => request(`http://${HOST}:${P.variant}/`)));
    const limited = replies.filter((r) => r.status === 429).length;
    const v1 = replies.filter((r) => r.status === 200 && r.body.startsWith('old')).length;
    const v2 = replies.filter((r) => r.status === 200 && r.body.startsWith('fresh')).length;
    assert.ok(limited > 0 && v2 <= 3 && v1 > 5, JSON.stringify({ limited, v1, v2 }));
  });

  test('concurrency limit: over 2 in flight → 503 concurrency-limit', async () => {
    const replies = await Promise.all(Array.from({ length: 5 }, () => request(`http://${HOST}:${P.conc}/`)));
    assert.equal(replies.filter((r) => r.status === 200).length, 2);
    assert.ok(replies.filter((r) => r.status === 503).every((r) => r.headers['x-berth-reason'] === 'concurrency-limit'));
  });

  test("a service's concurrency limit holds when its route splits traffic into variants", async () => {
    const replies = await Promise.all(Array.from({ length: 6 }, () => request(`http://${HOST}:${P.split}/`)));
    assert.equal(replies.filter((r) => r.status === 200).length, 2, replies.map((r) => r.status).join(','));
    assert.ok(replies.filter((r) => r.status === 503).every((r) => r.headers['x-berth-reason'] === 'concurrency-limit'));
    // Both slots come back when the requests end.
    const again = await Promise.all(Array.from({ length: 2 }, () => request(`http://${HOST}:${P.split}/`)));
    assert.deepEqual(again.map((r) => r.status), [200, 200]);
  });

  test("a variant's refusal gives back the slot the service's limit had granted", async () => {
    // Service limit 3, canary limit 1: the 3 refused requests each took a service slot first.
    const replies = await Promise.all(Array.from({ length: 4 }, () => request(`http://${HOST}:${P.narrow}/`)));
    assert.deepEqual(replies.map((r) => r.status).sort(), [200, 503, 503, 503]);
    assert.equal((await request(`http://${HOST}:${P.narrow}/`)).status, 200, 'no service slot leaked');
  });

  test('a canary spilling to a stable also over its limit: each refusal counted once, against stable', async () => {
    const replies = await Promise.all(Array.from({ length: 6 }, () => request(`http://${HOST}:${P.spill}/`)));
    assert.deepEqual(replies.map((r) => r.status).sort(), [200, 200, 503, 503, 503, 503]);
    const metrics = (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body;
    const counted = metrics
      .split('\n')
      .filter((l) => l.startsWith('berth_proxy_throttled_total{') && l.includes('destination="spill/'))
      .map((l) => `${/destination="([^"]*)"/.exec(l)![1]} ${/reason="([^"]*)"/.exec(l)![1]} ${l.split(' ').pop()}`)
      .sort();
    assert.deepEqual(counted, ['spill/canary overflow 1', 'spill/stable concurrency 4']);
  });

  test('slow start: a new endpoint starts near minWeightPercent and ramps to an equal share over the window', async () => {
    current = snapshot(2, true);
    for (const w of watchers) w.write(`event: snapshot\ndata: ${JSON.stringify(current)}\n\n`);
    await waitFor('snapshot 2 applied', async () => JSON.parse((await httpRequest(`http://${HOST}:${P.admin}/mesh/state`)).body).version === 2);
    const share = async (n: number): Promise<number> => {
      let fresh = 0;
      for (let i = 0; i < n; i += 20) {
        const batch = await Promise.all(Array.from({ length: 20 }, () => request(`http://${HOST}:${P.ramp}/`)));
        fresh += batch.filter((r) => r.body.startsWith('fresh')).length;
      }
      return fresh / n;
    };
    const early = await share(100);
    await new Promise((r) => setTimeout(r, 3000));
    const late = await share(200);
    assert.ok(early < 0.3, `early share ${early}`);
    assert.ok(late > 0.4 && late < 0.6, `late share ${late}`);
  });
});
