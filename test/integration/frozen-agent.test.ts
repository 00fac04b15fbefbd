// A frozen node agent costs only its own key: with one node's agent SIGSTOPped (it accepts connections
// and never answers), a rolling update of a service on the other node takes about as long as the same
// rollout with every agent answering, measured in the same test. The node grace is long here so the
// frozen node is not fenced meanwhile (fencing is nodes.test.ts's business): the control plane keeps
// calling the frozen agent, and those calls must not hold up anything else. Also: the control plane's
// /metrics parses as Prometheus text and shows the node controller's stuck worker and failed pulls.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, portBlock, processAlive, tempApp, waitFor } from './harness/berth.js';
import type { PsRow } from './harness/berth.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus-text.js';

const appJs = `
import http from 'node:http';
const server = http.createServer((req, res) => {
  if (req.url === '/ready') return res.end('ok');
  res.setHeader('connection', 'close');
  res.end(JSON.stringify({ node: process.env.BERTH_NODE, version: process.env.VERSION }));
});
server.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeIdleConnections(); setTimeout(() => process.exit(0), 2000).unref(); });
`;

const spec = (port: number, version: string) => `app: frozen
nodes:
  - { name: calm, labels: { role: calm } }
  - { name: icy, labels: { role: icy } }
services:
  web:
    run: node app.mjs
    port: ${port}
    env: { VERSION: "${version}" }
    placement: { nodeSelector: { role: calm } }
    probes:
      readiness: { http: { path: /ready }, periodSeconds: 0.2 }
    stopGracePeriodSeconds: 2
  worker:
    run: node app.mjs
    port: ${port + 1}
    placement: { nodeSelector: { role: icy } }
`;

/** Raw API access (faster than a `berth` process per poll, so the rollout times are not blurred by CLI start-up). */
function api(dir: string, path: string): Promise<{ status: number; body: string }> {
  const state = join(dir, '.berth');
  const { port } = JSON.parse(readFileSync(join(state, 'control.json'), 'utf8')) as { port: number };
  const token = readFileSync(join(state, 'token'), 'utf8').trim();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 5000, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('API timeout')));
    req.on('error', reject);
  });
}

const instances = async (dir: string) => JSON.parse((await api(dir, '/api/v1/instances')).body) as PsRow[];
async function metrics(dir: string) {
  const r = await api(dir, '/metrics');
  assert.equal(r.status, 200);
  return parsePrometheusText(r.body);
}

test('a SIGSTOPped node agent does not slow a rollout on another node', { timeout: 180_000 }, async () => {
  const port = portBlock();
  const dir = tempApp({ 'app.mjs': appJs, 'berth.yaml': spec(port, 'v1') });
  // Grace long enough that the frozen node is never declared lost during the test; resync often, so the
  // control plane keeps going back to the frozen agent.
  const env = { BERTH_NODE_GRACE_MS: '120000', BERTH_RESYNC_MS: '1000' };
  const frozen: { pid?: number } = {};
  after(async () => {
    if (frozen.pid !== undefined && processAlive(frozen.pid)) process.kill(frozen.pid, 'SIGCONT');
    await berth(dir, ['down'], { env });
  });
  const run = async (args: string[]) => {
    const r = await berth(dir, args, { env });
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  };

  await run(['up', '-d', '--wait', '--timeout', '60']);
  const start = await instances(dir);
  assert.deepEqual(start.map((r) => [r.service, r.node]).sort(), [['web', 'calm'], ['worker', 'icy']]);

  /** Applies `version` and returns the ms until web's only instance is a ready one of the new revision. */
  const rollout = async (version: string): Promise<number> => {
    const old = (await instances(dir)).find((r) => r.service === 'web')!;
    writeFileSync(join(dir, 'berth.yaml'), spec(port, version));
    const t0 = performance.now();
    await run(['apply']);
    await waitFor(`web rolled out to ${version}`, async () => {
      const web = (await instances(dir)).filter((r) => r.service === 'web');
      return web.length === 1 && web[0].revision !== old.revision && web[0].ready;
    }, 60_000, 20);
    return performance.now() - t0;
  };

  const normalMs = await rollout('v2');

  const frozenPid = (JSON.parse(readFileSync(join(dir, '.berth', 'nodes', 'icy', 'agent.json'), 'utf8')) as { pid: number }).pid;
  frozen.pid = frozenPid;
  process.kill(frozenPid, 'SIGSTOP');
  // The control plane is inside a call to the frozen agent before the rollout begins (a node worker is stuck).
  await waitFor('a node reconcile stuck on the frozen agent', async () => (sampleValue(await metrics(dir), 'berth_workqueue_longest_running_processor_seconds', { controller: 'node' }) ?? 0) >= 0.5, 20_000);

  const frozenMs = await rollout('v3');
  const web = (await instances(dir)).filter((r) => r.service === 'web');
  assert.equal(web[0].node, 'calm');
  // The frozen agent was really in the way: its pulls time out and fail (and are retried) meanwhile.
  await waitFor('failed pulls of the frozen agent counted', async () => (sampleValue(await metrics(dir), 'berth_controller_reconcile_errors_total', { controller: 'node' }) ?? 0) >= 1, 20_000);
  assert.ok(readFileSync(`/proc/${frozenPid}/stat`, 'utf8').includes(') T '), 'the agent stayed stopped throughout');

  console.log(`rollout with every agent answering: ${normalMs.toFixed(0)} ms; with the other node's agent frozen: ${frozenMs.toFixed(0)} ms`);
  assert.ok(frozenMs <= Math.max(2 * normalMs, normalMs + 2500), `frozen-agent rollout took ${frozenMs.toFixed(0)} ms against ${normalMs.toFixed(0)} ms normally`);

  const fam = await metrics(dir);
  assert.ok((sampleValue(fam, 'berth_api_requests_total', { method: 'POST', route: '/api/v1/apply', code: '200' }) ?? 0) >= 3, 'API requests counted by route and status');
  assert.ok((sampleValue(fam, 'berth_store_write_duration_seconds_count', { op: 'insertInstance' }) ?? 0) >= 4, 'store writes timed');
  assert.ok((sampleValue(fam, 'berth_workqueue_work_duration_seconds_count', { controller: 'deployment' }) ?? 0) >= 1);
  assert.ok((sampleValue(fam, 'berth_controller_reconcile_total', { controller: 'node', result: 'success' }) ?? 0) >= 1);
});
