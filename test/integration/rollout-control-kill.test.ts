// The withdraw protocol under a control-plane crash: load runs through the service address while a
// rolling update replaces the instance, the control plane is SIGKILLed in the middle of it and started
// again — no request may fail. An old instance is stopped only once every proxy that could route to it
// acknowledged a snapshot without it (or after a wait longer than the proxies' reconnect back-off), also
// when the control plane that withdraws it has just restarted and the proxies are still reconnecting.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, httpRequest, portBlock, processAlive, ps, tempApp, waitFor } from './harness/berth.js';

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

test('control plane SIGKILLed mid-rollout and restarted: 0 failed requests through the service address', { timeout: 180_000 }, async () => {
  const port = portBlock();
  const dir = tempApp({ 'app.mjs': appJs, 'berth.yaml': spec(port, 'v1', 100) });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
  const v1 = await ps(dir);
  assert.equal(v1.length, 1);

  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const versions = new Set<string>();
  const workers = [0, 1].map(async () => {
    while (!stop) {
      try {
        const r = await httpRequest(`http://127.0.0.1:${port}/`, 'GET', 3000);
        if (r.status === 200) {
          ok++;
          versions.add((JSON.parse(r.body) as { version: string }).version);
        } else failures.push(`status ${r.status}: ${r.body.slice(0, 100)}`);
      } catch (err) {
        failures.push((err as Error).message);
        if (failures.length > 1000) stop = true; // bounded: a broken address must not spin forever
      }
    }
  });
  await waitFor('some traffic', () => ok > 20);

  writeFileSync(join(dir, 'berth.yaml'), spec(port, 'v2', 1500));
  await berthOk(dir, ['apply']);
  // Mid-rollout: the v2 instance exists (starting), v1 still serves.
  await waitFor('the v2 instance starting', async () => (await ps(dir)).some((r) => r.revision !== v1[0].revision), 30_000, 20);
  const cpPid = Number(readFileSync(join(dir, '.berth', 'control.pid'), 'utf8'));
  process.kill(cpPid, 'SIGKILL');
  await waitFor('control plane gone', () => !processAlive(cpPid));
  // The outage lasts long enough for v2 to become ready and for every proxy's reconnect back-off to reach
  // its maximum (2 s): the restarted control plane withdraws v1 while proxies are still reconnecting.
  const during = ok;
  const downSince = performance.now();
  await waitFor('traffic without a control plane', () => ok > during + 20 && performance.now() - downSince >= OUTAGE_MS, OUTAGE_MS + 20_000);
  await berthOk(dir, ['up', '-d', '--timeout', '30']);
  await waitFor('the rollout finished: only v2 serves', async () => {
    const rows = await ps(dir);
    return rows.length === 1 && rows[0].ready && rows[0].revision !== v1[0].revision && !processAlive(v1[0].pid!);
  }, 60_000);
  const okAfter = ok;
  await waitFor('traffic after the rollout', () => ok > okAfter + 20);
  stop = true;
  await Promise.all(workers);
  process.stdout.write(`# ${ok} requests served, ${failures.length} failed\n`);
  assert.deepEqual(failures, [], `failed requests (${failures.length} of ${ok + failures.length}): ${failures.slice(0, 5).join('; ')}`);
  assert.ok(versions.has('v1') && versions.has('v2'));
});
