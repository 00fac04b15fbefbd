// Foreground `berth up`: streams what happens (not a TTY here), and Ctrl-C (SIGINT) stops every
// process of the app gracefully before it exits 0. Also `berth logs -f` following new lines.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { berth, berthOk, httpRequest, portBlock, processAlive, ps, spawnBerth, tempApp, waitFor } from './harness/berth.js';

const appJs = `
import http from 'node:http';
let n = 0;
const server = http.createServer((req, res) => { if (req.url !== '/ready') console.log('request ' + (++n)); res.end('ok'); });
server.listen(Number(process.env.PORT), process.env.HOST, () => console.log('listening'));
process.on('SIGTERM', () => { console.log('bye'); server.close(() => process.exit(0)); });
`;

test('foreground up prints progress and addresses; SIGINT stops everything and exits 0', async () => {
  const port = portBlock();
  const dir = tempApp({
    'app.mjs': appJs,
    'berth.yaml': `app: fg\nservices:\n  api:\n    run: node app.mjs\n    port: ${port}\n    replicas: 2\n    probes:\n      readiness: { http: { path: /ready } }\n`,
  });
  after(() => berth(dir, ['down']));
  const child = spawnBerth(dir, ['up']);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const rows = await waitFor('2 ready instances', async () => {
    const r = await ps(dir).catch(() => []);
    return r.length === 2 && r.every((x) => x.ready) ? r : undefined;
  });
  await waitFor('events streamed', () => /Ready/.test(out) && new RegExp(`127\\.0\\.0\\.1:${port}`).test(out));
  // The service address is served by the mesh gateway, which may still be starting: wait for it.
  await waitFor('the service address answers', async () => (await httpRequest(`http://127.0.0.1:${port}/`)).status === 200);

  // logs -f sees a line written after it started.
  const follower = spawnBerth(dir, ['logs', 'api', '-f']);
  let followed = '';
  follower.stdout!.on('data', (d: Buffer) => (followed += d.toString()));
  const requests = () => (followed.match(/request \d+/g) ?? []).length;
  await waitFor('existing lines printed', () => /listening/.test(followed) && requests() >= 1);
  const seen = requests();
  await httpRequest(`http://127.0.0.1:${port}/`);
  await waitFor('new line followed', () => requests() > seen);
  follower.kill('SIGTERM');

  child.kill('SIGINT');
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
  assert.equal(code, 0, out);
  for (const r of rows) assert.equal(processAlive(r.pid!), false, `instance ${r.instance} stopped`);
  const logs = await berthOk(dir, ['logs', 'api']);
  assert.match(logs.stdout, /bye/, 'apps got SIGTERM and stopped gracefully');
});
