// The JSON access log of a real berth-proxy process: every line is valid JSON whatever the route
// names hold (quotes, backslashes, newlines from a spec); a log reader that stops reading never
// stalls the proxy — lines are dropped and counted in berth_proxy_access_log_dropped_total.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { httpRequest, portBlock, waitFor } from './harness/berth.js';
import { HOST, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(6);
const P = { inbound: base, app: base + 1, admin: base + 2, out: base + 3, svc: base + 4 };
const WEIRD = 'we"ird\\route\nname';

const snapshot: MeshSnapshot = {
  version: 1,
  app: 'log',
  services: [{ name: 'self', port: P.svc, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] }],
  config: { accessLog: true, services: { self: { routes: [{ name: WEIRD }] } } },
};

describe('the access log', () => {
  let proxy: ProxyUnderTest | undefined;
  let app: http.Server | undefined;
  let out = '';
  const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });

  before(async () => {
    app = await upstream(P.app, 'app');
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { self: P.out }, snapshot });
    proxy.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  });

  after(() => {
    agent.destroy();
    proxy?.child.kill('SIGKILL');
    app?.close();
  });

  const get = (path: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: HOST, port: P.out, path, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
    });

  test('route names are escaped: every line parses, with the route name intact', async () => {
    assert.equal(await get('/escaped'), 200);
    await waitFor('outbound line logged', () => out.includes('/escaped') && out.split('\n').some((l) => l.includes('"outbound"')), 5000);
    const lines = out.split('\n').filter(Boolean);
    const parsed = lines.map((l) => JSON.parse(l) as { direction: string; route: string; path: string });
    const outbound = parsed.find((p) => p.direction === 'outbound' && p.path === '/escaped');
    assert.equal(outbound?.route, WEIRD);
  });

  test('a log reader that stops reading: requests keep being served, lines are dropped and counted', async () => {
    proxy!.child.stdout!.pause();
    // Enough lines to fill the pipe (64 KiB) and the proxy's 64 KiB hold several times over.
    const total = 3000;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < total) {
        next++;
        assert.equal(await get(`/flood/${next}`), 200);
      }
    };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`stalled after ${next} requests`)), 30_000)));
    await Promise.race([Promise.all(Array.from({ length: 20 }, worker)), deadline]).finally(() => clearTimeout(timer));
    const metrics = (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body;
    const m = /^berth_proxy_access_log_dropped_total\{[^}]*\} (\d+)$/m.exec(metrics);
    assert.ok(m && Number(m[1]) > 0, `dropped counter: ${m?.[0]}`);
    // The reader comes back: logging resumes.
    proxy!.child.stdout!.resume();
    await waitFor('logging resumed', async () => {
      await get('/resumed');
      return out.includes('/resumed');
    }, 10_000);
  });
});
