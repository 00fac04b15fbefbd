// A control plane SIGKILLed in the middle of a two-node rolling update and started again converges to
// what the first one was doing: the new instance it had started is adopted (same id, same pid), not
// replaced; no extra instance is created; the rollout finishes with every old instance stopped.
// (Where the second new instance lands is the scheduler's spreading, which counts instances still
// stopping: not this test's subject.)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, portBlock, processAlive, ps, tempApp, waitFor } from './harness/berth.js';

const appJs = `
import http from 'node:http';
const server = http.createServer((req, res) => {
  if (req.url === '/ready') return res.end('ok');
  res.setHeader('connection', 'close');
  res.end(process.env.VERSION);
});
setTimeout(() => server.listen(Number(process.env.PORT), process.env.HOST), Number(process.env.LISTEN_AFTER_MS));
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeIdleConnections(); setTimeout(() => process.exit(0), 2000).unref(); });
`;

/** v2 is slow to become ready, so the control plane can be killed while the first v2 instance starts. */
const spec = (port: number, version: string, listenAfterMs: number) => `app: restartroll
nodes: 2
services:
  api:
    run: node app.mjs
    port: ${port}
    replicas: 2
    env: { VERSION: "${version}", LISTEN_AFTER_MS: "${listenAfterMs}" }
    probes:
      readiness: { http: { path: /ready }, periodSeconds: 0.2 }
    stopGracePeriodSeconds: 2
`;

test('control plane SIGKILLed mid-rollout on two nodes: the restarted one adopts and finishes the same rollout', { timeout: 180_000 }, async () => {
  const port = portBlock();
  const dir = tempApp({ 'app.mjs': appJs, 'berth.yaml': spec(port, 'v1', 0) });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
  const v1 = await ps(dir);
  assert.deepEqual(v1.map((r) => r.node).sort(), ['node-1', 'node-2']);

  writeFileSync(join(dir, 'berth.yaml'), spec(port, 'v2', 2500));
  await berthOk(dir, ['apply']);
  const starting = await waitFor('the first v2 instance running, not ready yet', async () => {
    const rows = await ps(dir);
    const v2 = rows.filter((r) => r.revision !== v1[0].revision);
    return v2.length === 1 && v2[0].pid !== null && !v2[0].ready ? v2[0] : undefined;
  }, 30_000, 20);
  const cpPid = Number(readFileSync(join(dir, '.berth', 'control.pid'), 'utf8'));
  process.kill(cpPid, 'SIGKILL');
  await waitFor('control plane gone', () => !processAlive(cpPid));

  await berthOk(dir, ['up', '-d', '--timeout', '60']);
  const done = await waitFor('the rollout finished: two ready v2 instances, no v1', async () => {
    const rows = await ps(dir);
    return rows.length === 2 && rows.every((r) => r.ready && r.revision === starting.revision) && v1.every((r) => !processAlive(r.pid!)) ? rows : undefined;
  }, 60_000);

  const adopted = done.find((r) => r.instance === starting.instance);
  assert.ok(adopted, `the v2 instance started before the crash (${starting.instance}) is kept: ${done.map((r) => r.instance).join(', ')}`);
  assert.equal(adopted.pid, starting.pid, 'adopted, not restarted');
  assert.equal(adopted.restarts, 0);
  const all = await ps(dir, true);
  assert.equal(all.filter((r) => r.revision === starting.revision).length, 2, `no extra v2 instance was created: ${all.map((r) => `${r.instance}/${r.status}`).join(', ')}`);
  assert.deepEqual(all.filter((r) => r.revision === v1[0].revision).map((r) => r.status), ['stopped', 'stopped']);
});
