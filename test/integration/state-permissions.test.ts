// Issue 12 point 1: `.berth/` holds secrets (env values in SQLite's WAL, the API token) and logs, so
// it is the owner's alone — folders 0700, files 0600, also for a state dir an older Berth left
// world-readable — and another local user (`nobody`) really cannot read the WAL or the logs.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, httpRequest, portBlock, tempApp, waitFor } from './harness/berth.js';

/** Every path under `root` whose mode is not 0700 (folders) / 0600 (files), with its mode. */
function loosePaths(root: string): string[] {
  const out: string[] = [];
  const visit = (p: string) => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return; // rotated or removed while walking
    }
    if (st.isSymbolicLink()) return;
    const want = st.isDirectory() ? 0o700 : 0o600;
    if ((st.mode & 0o777) !== want) out.push(`${p} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const n of readdirSync(p)) visit(join(p, n));
  };
  visit(root);
  return out;
}

function walkFiles(root: string): string[] {
  const out: string[] = [];
  const visit = (p: string) => {
    const st = lstatSync(p);
    if (st.isDirectory()) for (const n of readdirSync(p)) visit(join(p, n));
    else if (st.isFile()) out.push(p);
  };
  visit(root);
  return out;
}

test('.berth/ is 0700 with 0600 files (WAL, logs, node agent files), also when it existed world-readable; nobody cannot read it', async () => {
  const port = portBlock();
  const dir = tempApp({
    'app.mjs': `import http from 'node:http';
http.createServer((q, s) => { console.log('request ' + q.url); s.end('ok'); }).listen(Number(process.env.PORT), process.env.HOST);`,
    'berth.yaml': `app: perms\nservices:\n  api:\n    run: node app.mjs\n    port: ${port}\n    env: { DB_PASSWORD: hunter2-secret }\n    probes:\n      readiness: { tcp: {} }\n`,
  });
  // A state dir an older Berth (or a umask of 022) left readable: it must be tightened at start.
  chmodSync(dir, 0o755);
  const state = join(dir, '.berth');
  mkdirSync(join(state, 'logs', 'old'), { recursive: true, mode: 0o755 });
  chmodSync(state, 0o755);
  writeFileSync(join(state, 'logs', 'old', 'app.log.1'), 'an old rotated line\n', { mode: 0o644 });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
  for (let i = 0; i < 5; i++) assert.equal((await httpRequest(`http://127.0.0.1:${port}/hello-${i}`)).status, 200);
  await waitFor('the request lines in the embedded log store', async () => {
    const r = await berth(dir, ['logs', 'api']);
    return r.code === 0 && r.stdout.includes('request /hello-4');
  }, 30_000);
  for (const f of ['state.db', 'state.db-wal', 'logs.db', 'token']) assert.ok(existsSync(join(state, f)), `${f} exists`);
  assert.ok(existsSync(join(state, 'nodes')), 'node agent files exist');

  assert.deepEqual(loosePaths(state), [], 'every folder 0700 and every file 0600');

  if (process.getuid?.() !== 0) {
    console.log('# skipped the check as user nobody: it needs root to switch user (CI runs as root)');
    return;
  }
  const asNobody = (file: string) => spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'cat', file], { encoding: 'utf8' });
  // The harness works: nobody can read a world-readable file beside .berth/.
  assert.equal(asNobody(join(dir, 'berth.yaml')).status, 0, 'nobody reads the (world-readable) spec');
  const secrets = [join(state, 'state.db-wal'), join(state, 'logs.db'), join(state, 'token'), ...walkFiles(join(state, 'logs')).slice(0, 3)];
  for (const file of secrets) {
    const r = asNobody(file);
    assert.notEqual(r.status, 0, `nobody must not read ${file}`);
    assert.match(r.stderr, /Permission denied/, file);
  }
  // And with the folder opened up, the files themselves still refuse (0600, not just a 0700 parent).
  chmodSync(state, 0o755);
  try {
    const r = asNobody(join(state, 'state.db-wal'));
    assert.notEqual(r.status, 0, 'state.db-wal is 0600 itself');
  } finally {
    chmodSync(state, 0o700);
  }
});
