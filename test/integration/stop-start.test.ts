// `berth stop` / `berth start` with real processes: a stopped service runs no instance, stays stopped
// across `berth up` and a control-plane restart (down, up), and `berth start` brings it back at the
// count it had, serving; `berth ps SERVICE` lists only that service's rows.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { berth, berthOk, events, httpRequest, portBlock, ps, tempApp, waitFor, type PsRow } from './harness/berth.js';

const appJs = `
import http from 'node:http';
const server = http.createServer((req, res) => res.end(req.url === '/ready' ? 'ok' : process.env.BERTH_INSTANCE));
server.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeIdleConnections(); setTimeout(() => process.exit(0), 2000).unref(); });
`;

const spec = (port: number) => `app: stopstart
services:
  web:
    run: node app.mjs
    port: ${port}
    replicas: 2
    probes:
      readiness: { http: { path: /ready }, periodSeconds: 0.2 }
  jobs:
    run: node app.mjs
    port: ${port + 1}
    replicas: 1
    probes:
      readiness: { http: { path: /ready }, periodSeconds: 0.2 }
`;

describe('berth stop / berth start', () => {
  const port = portBlock();
  const dir = tempApp({ 'app.mjs': appJs, 'berth.yaml': spec(port) });
  const of = (rows: PsRow[], s: string) => rows.filter((r) => r.service === s);
  after(async () => {
    await berth(dir, ['down']);
  });

  test('stop → 0 instances, kept across up and a restart; start → back at its count and serving', async () => {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
    await berthOk(dir, ['scale', 'web=3']);
    await waitFor('3 web ready', async () => of(await ps(dir), 'web').filter((r) => r.ready).length === 3);

    const stopped = await berthOk(dir, ['stop', 'web', '--json']);
    assert.deepEqual(JSON.parse(stopped.stdout), [{ service: 'web', replicas: 0, changed: true }]);
    await waitFor('no web instance', async () => of(await ps(dir), 'web').length === 0);
    assert.equal(of(await ps(dir), 'jobs').length, 1, 'jobs untouched');
    const human = await berthOk(dir, ['ps']);
    assert.match(human.stdout, /web: stopped by `berth stop`/);

    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
    assert.equal(of(await ps(dir), 'web').length, 0, 'berth up leaves a stopped service stopped');
    await berthOk(dir, ['down']);
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
    assert.equal(of(await ps(dir), 'web').length, 0, 'a new control plane keeps it stopped');
    assert.equal(of(await ps(dir), 'jobs').length, 1);

    await berthOk(dir, ['start', 'web']);
    await waitFor('3 web ready again', async () => of(await ps(dir), 'web').filter((r) => r.ready).length === 3);
    const reply = await waitFor('web serving', async () => {
      const r = await httpRequest(`http://127.0.0.1:${port}/`).catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    });
    assert.match(reply.body, /^web-/);
    const reasons = (await events(dir)).map((e) => e.reason);
    assert.ok(reasons.includes('Stopped') && reasons.includes('Started'));
  });

  test('berth ps SERVICE shows only its rows; unknown names are usage errors (exit 2)', async () => {
    const r = await berthOk(dir, ['ps', 'web', '--json']);
    const rows = JSON.parse(r.stdout) as PsRow[];
    assert.ok(rows.length === 3 && rows.every((x) => x.service === 'web'), r.stdout);
    const human = await berthOk(dir, ['ps', 'jobs']);
    assert.match(human.stdout, /jobs-/);
    assert.doesNotMatch(human.stdout, /web-/);
    assert.equal((await berth(dir, ['ps', 'nope'])).code, 2);
    assert.equal((await berth(dir, ['stop', 'web', 'nope'])).code, 2);
    assert.equal(of(await ps(dir), 'web').length, 3, 'nothing stopped when one name is unknown');
    assert.equal((await berth(dir, ['start', 'nope'])).code, 2);
  });
});
