// Persistent volumes locally: the app writes into the directory BERTH_VOLUME_<NAME> names (under
// .berth/volumes/<service>/<volume>), and the file survives the app being killed and restarted and a
// `berth down` + `berth up`. Under root the app runs as nobody: the directory is nobody's, 0700, and
// another user cannot list or read it — while .berth/ itself stays closed to listing.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { berth, berthOk, httpRequest, portBlock, ps, tempApp, waitFor } from './harness/berth.js';

const app = `
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const file = join(process.env.BERTH_VOLUME_NOTE_DATA, 'note.txt');
http.createServer((req, res) => {
  if (req.method === 'POST') {
    writeFileSync(file, new URL(req.url, 'http://x').searchParams.get('text'));
    return res.end('written');
  }
  let note = null;
  try { note = readFileSync(file, 'utf8'); } catch { /* not written yet */ }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ dir: process.env.BERTH_VOLUME_NOTE_DATA, note, uid: process.getuid() }));
}).listen(Number(process.env.PORT));
process.on('SIGTERM', () => process.exit(0));
`;

interface Reply {
  dir: string;
  note: string | null;
  uid: number;
}

async function read(port: number): Promise<Reply> {
  const r = await httpRequest(`http://127.0.0.1:${port}/`);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as Reply;
}

test('a volume keeps what the app wrote across a kill and a down + up; only the app user can read it', async () => {
  const port = portBlock();
  const dir = tempApp({
    'app.mjs': app,
    'berth.yaml': `app: volumes
services:
  notes:
    run: node app.mjs
    port: ${port}
    probes:
      readiness: { tcp: {} }
    volumes:
      - { name: note-data, path: /var/lib/notes, sizeMiB: 16 }
`,
  });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
  const first = await read(port);
  const volume = join(dir, '.berth', 'volumes', 'notes', 'note-data');
  assert.equal(first.dir, volume, 'BERTH_VOLUME_NOTE_DATA names the directory under .berth/volumes');
  assert.equal(first.note, null);
  assert.equal((await httpRequest(`http://127.0.0.1:${port}/?text=kept-${port}`, 'POST')).status, 200);
  assert.equal((await read(port)).note, `kept-${port}`);

  // The app is killed: the node agent restarts it, the file is still there.
  const [row] = await ps(dir);
  assert.ok(row.pid);
  process.kill(row.pid, 'SIGKILL');
  await waitFor('restarted and ready', async () => {
    const r = (await ps(dir))[0];
    return r?.restarts >= 1 && r.ready && r.pid !== row.pid ? r : undefined;
  }, 20_000);
  assert.equal((await read(port)).note, `kept-${port}`, 'after a restart');

  // berth down keeps it; berth up gives it back to the new instance.
  await berthOk(dir, ['down']);
  assert.equal(readFileSync(join(volume, 'note.txt'), 'utf8'), `kept-${port}`, 'on disk after down');
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
  const again = await read(port);
  assert.equal(again.note, `kept-${port}`, 'after down + up');
  assert.notEqual((await ps(dir))[0].instance, row.instance, 'a new instance');

  const st = statSync(volume);
  assert.equal(st.mode & 0o777, 0o700, 'the volume directory is 0700');
  if (userInfo().uid === 0) {
    assert.equal(again.uid, 65534, 'the app runs as nobody');
    assert.equal(st.uid, 65534, 'the volume is the app user\'s');
    assert.equal(statSync(join(volume, 'note.txt')).uid, 65534);
    // Another user can neither list nor read the volume, nor list .berth/.
    for (const args of [['ls', volume], ['cat', join(volume, 'note.txt')], ['ls', join(dir, '.berth')]]) {
      const other = spawnSync('setpriv', ['--reuid=daemon', '--regid=daemon', '--clear-groups', ...args], { encoding: 'utf8' });
      assert.notEqual(other.status, 0, `daemon ran ${args.join(' ')}: ${other.stdout}`);
      assert.match(other.stderr, /Permission denied/);
    }
  } else {
    assert.equal(st.uid, userInfo().uid);
  }
  assert.ok(readdirSync(join(dir, '.berth')).includes('volumes'));
  assert.ok(existsSync(join(dir, '.berth', 'token')));
});
