// The default readiness probe on real processes: a service with a `port` and no readiness probe counts as
// ready only once its app accepts connections (not once its sidecar listens), so a rolling update of an
// app that is slow to listen loses no request, and the first request after a scale-from-zero is served.
// `readiness: none` opts out: ready once started.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, httpRequest, portBlock, ps, tempApp, versionedLoad, waitFor } from './harness/berth.js';

// An app that takes LISTEN_AFTER_MS to listen (a slow framework start) and stops gracefully on SIGTERM.
const slowJs = `
import http from 'node:http';
const server = http.createServer((req, res) => {
  res.setHeader('connection', 'close');
  res.end(JSON.stringify({ instance: process.env.BERTH_INSTANCE, version: process.env.VERSION }));
});
setTimeout(() => server.listen(Number(process.env.PORT), process.env.HOST), Number(process.env.LISTEN_AFTER_MS));
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeIdleConnections(); setTimeout(() => process.exit(0), 3000).unref(); });
`;

const rollingSpec = (port: number, version: string) => `app: slowroll
services:
  api:
    run: node slow.mjs
    port: ${port}
    replicas: 2
    env: { VERSION: "${version}", LISTEN_AFTER_MS: "1500" }
    stopGracePeriodSeconds: 5
  idle:
    run: node -e "setInterval(() => {}, 1000)"
    port: ${port + 1}
    probes:
      readiness: none
`;

describe('default readiness probe', () => {
  const port = portBlock();
  const dir = tempApp({ 'slow.mjs': slowJs, 'berth.yaml': rollingSpec(port, 'v1') });
  after(async () => {
    await berth(dir, ['down']);
  });

  test('an app slow to listen is not ready before it listens; its rolling update fails no request', async () => {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
    const rows = await ps(dir);
    // Every api instance counted ready answers at once on its own address.
    for (const r of rows.filter((x) => x.service === 'api')) {
      assert.ok(r.ready);
      assert.equal((await httpRequest(`http://${r.host}:${port}/`)).status, 200, `ready instance ${r.instance} serves`);
    }
    // readiness: none opts out: ready once started, although that app never listens.
    const idle = rows.filter((x) => x.service === 'idle');
    assert.equal(idle.length, 1);
    assert.ok(idle[0].ready, 'readiness: none → ready once started');

    const load = versionedLoad(`http://127.0.0.1:${port}/`);
    await waitFor('some traffic', () => load.ok() > 20);
    writeFileSync(join(dir, 'berth.yaml'), rollingSpec(port, 'v2'));
    await berthOk(dir, ['apply', '--wait', '--timeout', '60']);
    await waitFor('only v2 serving', async () => {
      const now = (await ps(dir)).filter((r) => r.service === 'api');
      return now.length === 2 && now.every((r) => r.ready && !rows.some((old) => old.revision === r.revision));
    }, 60_000);
    const okBefore = load.ok();
    await waitFor('more traffic after the rollout', () => load.ok() > okBefore + 20);
    await load.stop();
    assert.deepEqual(load.failures, [], `failed requests during the rollout (${load.failures.length} of ${load.ok() + load.failures.length}): ${load.failures.slice(0, 5).join('; ')}`);
    assert.ok(load.versions.has('v1') && load.versions.has('v2'));
  });
});

test('scale from zero with the default readiness probe: the first request is served by an app slow to listen', async () => {
  const port = portBlock();
  const dir = tempApp({
    'slow.mjs': slowJs,
    'berth.yaml': `app: slowzero
services:
  back:
    run: node slow.mjs
    port: ${port}
    replicas: 0
    env: { VERSION: "z", LISTEN_AFTER_MS: "1000" }
    scale: { min: 0, max: 1, idleSeconds: 30, activationTimeoutSeconds: 20, metrics: [{ rps: 100 }] }
`,
  });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
  assert.equal((await ps(dir)).length, 0, 'starts at zero');
  const t0 = performance.now();
  const first = await httpRequest(`http://127.0.0.1:${port}/`, 'GET', 20_000);
  const ms = performance.now() - t0;
  assert.equal(first.status, 200, `first request after scale-from-zero: ${first.status} ${first.body}`);
  assert.equal((JSON.parse(first.body) as { version: string }).version, 'z');
  assert.ok(ms >= 900, `held until the app listened (${Math.round(ms)} ms)`);
});
