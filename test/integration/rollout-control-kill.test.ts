// The withdraw protocol under a control-plane crash: load runs through the service address while a
// rolling update replaces the instance, the control plane is SIGKILLed in the middle of it and started
// again — no request may fail. An old instance is stopped only once every proxy that could route to it
// acknowledged a snapshot without it (or after a wait longer than the proxies' reconnect back-off), also
// when the control plane that withdraws it has just restarted and the proxies are still reconnecting.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, portBlock, processAlive, ps, tempApp, versionedLoad, waitFor } from './harness/berth.js';

const appJs = `
import http from 'node:http';
const server = http.createServer((req, res) => {
  res.setHeader('connection', 'close');
  res.end(JSON.stringify({ instance: process.env.BERTH_INSTANCE, version: process.env.VERSION }));
});
setTimeout(() => server.listen(Number(process.env.PORT), process.env.HOST), Number(process.env.LISTEN_AFTER_MS));
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeIdleConnections(); setTimeout(() => process.exit(0), 3000).unref(); });
`;

/** v2 is slow to listen, so the control plane can be killed while it starts and before v1 is withdrawn. */
const spec = (port: number, version: string, listenAfterMs: number) => `app: rollkill
services:
  api:
    run: node app.mjs
    port: ${port}
    replicas: 1
    env: { VERSION: "${version}", LISTEN_AFTER_MS: "${listenAfterMs}" }
    stopGracePeriodSeconds: 5
`;

/** How long the control plane stays down (a parameter, so CI can run it shorter or longer). */
const OUTAGE_MS = Number(process.env.BERTH_TEST_CONTROL_OUTAGE_MS ?? 4000);

// Regression history (2026-12-05): on this machine kind the test failed on older code with a few 503s
// "instance is not ready" (a withdrawn instance's own sidecar, having learnt the withdrawal before the
// gateway, refused what the gateway sent it — fixed by the snapshot's `leaving` list and x-berth-snapshot)
// and "cannot connect to <old instance>" (a restarted control plane counted the withdraw deadline from
// before proxies could find it, so the old instance stopped before the gateway reconnected — fixed:
// the deadline starts when control.json is written).
test('control plane SIGKILLed mid-rollout and restarted: 0 failed requests through the service address', { timeout: 180_000 }, async () => {
  const port = portBlock();
  const dir = tempApp({ 'app.mjs': appJs, 'berth.yaml': spec(port, 'v1', 100) });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
  const v1 = await ps(dir);
  assert.equal(v1.length, 1);

  const load = versionedLoad(`http://127.0.0.1:${port}/`, 2);
  await waitFor('some traffic', () => load.ok() > 20);

  writeFileSync(join(dir, 'berth.yaml'), spec(port, 'v2', 1500));
  await berthOk(dir, ['apply']);
  // Mid-rollout: the v2 instance exists (starting), v1 still serves.
  await waitFor('the v2 instance starting', async () => (await ps(dir)).some((r) => r.revision !== v1[0].revision), 30_000, 20);
  const cpPid = Number(readFileSync(join(dir, '.berth', 'control.pid'), 'utf8'));
  process.kill(cpPid, 'SIGKILL');
  await waitFor('control plane gone', () => !processAlive(cpPid));
  // The outage lasts long enough for v2 to become ready and for every proxy's reconnect back-off to reach
  // its maximum (2 s): the restarted control plane withdraws v1 while proxies are still reconnecting.
  const during = load.ok();
  const downSince = performance.now();
  await waitFor('traffic without a control plane', () => load.ok() > during + 20 && performance.now() - downSince >= OUTAGE_MS, OUTAGE_MS + 20_000);
  await berthOk(dir, ['up', '-d', '--timeout', '30']);
  await waitFor('the rollout finished: only v2 serves', async () => {
    const rows = await ps(dir);
    return rows.length === 1 && rows[0].ready && rows[0].revision !== v1[0].revision && !processAlive(v1[0].pid!);
  }, 60_000);
  const okAfter = load.ok();
  await waitFor('traffic after the rollout', () => load.ok() > okAfter + 20);
  await load.stop();
  process.stdout.write(`# ${load.ok()} requests served, ${load.failures.length} failed\n`);
  assert.deepEqual(load.failures, [], `failed requests (${load.failures.length} of ${load.ok() + load.failures.length}): ${load.failures.slice(0, 5).join('; ')}`);
  assert.ok(load.versions.has('v1') && load.versions.has('v2'));
});
