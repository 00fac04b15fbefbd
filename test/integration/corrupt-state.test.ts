// Issue 12 point 13: damaged state and hostile input get clear answers, never a raw stack:
// a truncated state.db says what is wrong and how to recover (a backup the control plane keeps,
// `berth up --restore-backup`, or `berth down --force`); a garbage saved mesh snapshot is logged;
// the API answers 400 to malformed percent-escapes; `berth logs --files` refuses names with `../`.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { berth, berthOk, httpRequest, portBlock, processAlive, ps, repoRoot, tempApp, waitFor } from './harness/berth.js';

const app = `import http from 'node:http';
http.createServer((q, s) => { console.log('served ' + q.url); s.end('ok'); }).listen(Number(process.env.PORT), process.env.HOST);`;

/** Stops only the control plane (SIGTERM: a clean exit, which takes a backup); the node agent keeps the app running. */
async function stopControlPlane(dir: string): Promise<void> {
  const pid = (JSON.parse(readFileSync(join(dir, '.berth', 'control.json'), 'utf8')) as { pid: number }).pid;
  process.kill(pid, 'SIGTERM');
  await waitFor('the control plane to exit', () => !processAlive(pid), 15_000, 50);
}

test('a truncated state.db: a clear message naming the recovery; --restore-backup brings the app back; down --force starts afresh', async () => {
  const port = portBlock(1);
  const dir = tempApp({ 'app.mjs': app, 'berth.yaml': `app: damaged\nservices:\n  api:\n    run: node app.mjs\n    port: ${port}\n    probes:\n      readiness: { tcp: {} }\n` });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
  const before = await ps(dir);
  await stopControlPlane(dir);
  const db = join(dir, '.berth', 'state.db');
  assert.ok(existsSync(`${db}.backup`), 'the control plane kept a backup of its last good state');
  truncateSync(db, 4096); // the first page only: a header that promises pages that are gone
  for (const s of ['-wal', '-shm']) rmSync(db + s, { force: true });

  const r = await berth(dir, ['up', '-d', '--wait', '--timeout', '30']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /state database .*state\.db is damaged/);
  assert.match(r.stderr, /berth up --restore-backup/);
  assert.match(r.stderr, /berth down --force/);
  assert.doesNotMatch(r.stderr + readFileSync(join(dir, '.berth', 'control.log'), 'utf8'), /SqliteError|\n\s+at /, 'no raw SqliteError stack, neither on screen nor in control.log');

  // The backup restores the app's state: the running instance is adopted, not replaced.
  const restored = await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60', '--restore-backup']);
  assert.match(restored.stderr, /restored the state database from .*state\.db\.backup/);
  const rows = await ps(dir);
  assert.deepEqual(rows.map((x) => x.instance), before.map((x) => x.instance), 'the same instance, adopted');
  assert.equal((await httpRequest(`http://127.0.0.1:${port}/`)).status, 200);

  // Damaged again, without using the backup: down --force stops everything and moves the database aside.
  await stopControlPlane(dir);
  writeFileSync(db, 'this is not a database'.repeat(400));
  for (const s of ['-wal', '-shm']) rmSync(db + s, { force: true });
  const forced = await berthOk(dir, ['down', '--force']);
  assert.match(forced.stdout, /moved the state database aside to .*state\.db\.damaged-/);
  assert.ok(readdirSync(join(dir, '.berth')).some((n) => n.startsWith('state.db.damaged-')));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
  assert.equal((await ps(dir)).length, 1, 'a fresh start');
});

test('the API answers 400 to a malformed percent-escape; berth logs --files refuses ../ in names', async () => {
  const dir = tempApp({ 'berth.yaml': `app: escapes\nservices:\n  w:\n    run: [sh, -c, "echo hello; sleep 1000"]\n` });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d']);
  const state = join(dir, '.berth');
  const { port } = JSON.parse(readFileSync(join(state, 'control.json'), 'utf8')) as { port: number };
  const token = readFileSync(join(state, 'token'), 'utf8').trim();
  const get = (method: string, path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  for (const [method, path] of [['GET', '/api/v1/instances/%E0%A4%A'], ['POST', '/api/v1/nodes/%ZZ/cordon'], ['GET', '/api/v1/instances/%']]) {
    const r = await get(method, path);
    assert.equal(r.status, 400, `${method} ${path} → ${r.status} ${r.body}`);
    assert.match(r.body, /malformed percent-escape/);
  }
  assert.equal((await get('GET', '/api/v1/healthz')).status, 200, 'the control plane is still there');

  // A secret beside .berth/logs that a climbing name would reach.
  mkdirSync(join(state, 'secret', 'x'), { recursive: true });
  writeFileSync(join(state, 'secret', 'x', 'app.log'), '2026-01-01T00:00:00.000000000Z stdout F the secret line\n');
  for (const args of [['logs', '../secret', '--files'], ['logs', 'w', '--files', '--instance', '../../secret/x'], ['logs', 'w', '--files', '--container', '../../../secret/x/app']]) {
    const r = await berth(dir, args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /is not a name/);
    assert.doesNotMatch(r.stdout, /the secret line/);
  }
  await waitFor('the capture file has the line', async () => (await berth(dir, ['logs', 'w', '--files'])).stdout.includes('hello'), 20_000);
});

test('a garbage saved mesh snapshot is logged by the proxy, not silently ignored', async () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'berth-proxy-'));
  after(() => rmSync(stateDir, { recursive: true, force: true }));
  mkdirSync(join(stateDir, 'mesh'), { recursive: true });
  writeFileSync(join(stateDir, 'mesh', 'garbage-1.json'), '{"version": 3, "services": [');
  const base = portBlock(3);
  let out = '';
  const child = spawn(process.execPath, [join(repoRoot, 'dist', 'src', 'sidecar', 'proxy', 'main.js')], {
    env: { ...process.env, BERTH_PROXY_MODE: 'sidecar', BERTH_STATE_DIR: stateDir, BERTH_INSTANCE: 'garbage-1', BERTH_SERVICE: 'self', HOST: '127.0.0.1', BERTH_PROXY_PORT: String(base), BERTH_PROXY_APP_PORT: String(base + 1), BERTH_PROXY_ADMIN_PORT: String(base + 2), BERTH_PROXY_OUTBOUND: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  after(() => child.kill('SIGKILL'));
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('the proxy to say it ignores the bad saved snapshot', () => /ignoring the saved snapshot .*garbage-1\.json: not a valid snapshot/.test(out), 15_000, 50);
});
