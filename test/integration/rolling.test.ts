// Rolling replacement and scaling: `berth apply` with a changed service replaces instances with
// maxSurge 1 / maxUnavailable 0 while a looping client sees no failed request; `berth scale` and
// `berth restart` work; two applications run side by side without colliding.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, httpRequest, portBlock, processAlive, ps, tempApp, versionedLoad, waitFor } from './harness/berth.js';

// A small HTTP app that starts in ~100 ms, reports who served, and stops gracefully on SIGTERM.
const appJs = `
import http from 'node:http';
const server = http.createServer((req, res) => {
  if (req.url === '/ready') return res.end('ok');
  res.setHeader('connection', 'close');
  res.end(JSON.stringify({ instance: process.env.BERTH_INSTANCE, version: process.env.VERSION }));
});
setTimeout(() => server.listen(Number(process.env.PORT), process.env.HOST), 100);
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeIdleConnections(); setTimeout(() => process.exit(0), 3000).unref(); });
`;

const spec = (app: string, port: number, version: string, replicas = 2) => `app: ${app}
services:
  api:
    run: node app.mjs
    port: ${port}
    replicas: ${replicas}
    env: { VERSION: "${version}" }
    probes:
      readiness: { http: { path: /ready }, periodSeconds: 0.2 }
    stopGracePeriodSeconds: 5
`;

describe('rolling replacement', () => {
  const port = portBlock();
  const dir = tempApp({ 'app.mjs': appJs, 'berth.yaml': spec('roll', port, 'v1') });
  after(async () => {
    await berth(dir, ['down']);
  });

  test('apply with a changed service: new instances ready before old ones stop, 0 failed requests', async () => {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
    const v1 = await ps(dir);
    assert.equal(v1.length, 2);

    const load = versionedLoad(`http://127.0.0.1:${port}/`);
    await waitFor('some traffic', () => load.ok() > 20);

    writeFileSync(join(dir, 'berth.yaml'), spec('roll', port, 'v2'));
    const applied = await berthOk(dir, ['apply', '--wait', '--timeout', '30']);
    assert.match(applied.stdout, /api: revision/);
    await waitFor('only v2 serving', async () => {
      const rows = await ps(dir);
      return rows.length === 2 && rows.every((r) => r.ready && r.revision !== v1[0].revision);
    });
    const okBefore = load.ok();
    await waitFor('more traffic after the rollout', () => load.ok() > okBefore + 20);
    await load.stop();
    assert.deepEqual(load.failures, [], `failed requests during the rollout: ${load.failures.slice(0, 5).join('; ')}`);
    assert.ok(load.versions.has('v1') && load.versions.has('v2'));
    for (const r of v1) assert.equal(processAlive(r.pid!), false, 'old instances stopped');
    const all = await ps(dir, true);
    assert.ok(all.filter((r) => r.status === 'stopped').length >= 2, 'ps --all lists stopped instances');
  });

  test('berth scale and berth restart', async () => {
    await berthOk(dir, ['scale', 'api=3']);
    await waitFor('3 ready', async () => (await ps(dir)).filter((r) => r.ready).length === 3);
    await berthOk(dir, ['scale', 'api=1']);
    await waitFor('1 instance', async () => (await ps(dir)).length === 1);
    const before = (await ps(dir))[0];
    const r = await berthOk(dir, ['restart', 'api', '--json']);
    const { revision } = JSON.parse(r.stdout) as { revision: string };
    assert.notEqual(revision, before.revision);
    await waitFor('restarted instance ready', async () => {
      const rows = await ps(dir);
      return rows.length === 1 && rows[0].revision === revision && rows[0].ready;
    });
    assert.equal((await berth(dir, ['scale', 'nope=2'])).code, 2, 'unknown service is a usage error');
    assert.equal((await berth(dir, ['scale', 'api=x'])).code, 2);
  });
});

describe('two applications at once', () => {
  const portA = portBlock();
  const portB = portBlock();
  const a = tempApp({ 'app.mjs': appJs, 'berth.yaml': spec('alpha', portA, 'a') });
  const b = tempApp({ 'app.mjs': appJs, 'berth.yaml': spec('beta', portB, 'b') });
  after(async () => {
    await Promise.all([berth(a, ['down']), berth(b, ['down'])]);
  });

  test('disjoint address blocks, both reachable, each down stops only its own', async () => {
    await Promise.all([berthOk(a, ['up', '-d', '--wait', '--timeout', '30']), berthOk(b, ['up', '-d', '--wait', '--timeout', '30'])]);
    const [ra, rb] = await Promise.all([ps(a), ps(b)]);
    const block = (h: string) => h.split('.').slice(0, 3).join('.');
    assert.notEqual(block(ra[0].host), block(rb[0].host));
    const hostsA = new Set(ra.map((r) => r.host));
    for (const r of rb) assert.ok(!hostsA.has(r.host));
    assert.equal(JSON.parse((await httpRequest(`http://127.0.0.1:${portA}/`)).body).version, 'a');
    assert.equal(JSON.parse((await httpRequest(`http://127.0.0.1:${portB}/`)).body).version, 'b');
    await berthOk(a, ['down']);
    for (const r of ra) assert.equal(processAlive(r.pid!), false);
    for (const r of rb) assert.equal(processAlive(r.pid!), true, 'the other app keeps running');
    assert.equal(readFileSync(join(b, '.berth', 'control.pid'), 'utf8').trim().length > 0, true);
  });
});
