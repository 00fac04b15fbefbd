// Secrets used as files reach a local instance the way they reach a pod: the app reads the path in
// BERTH_SECRET_FILE_<NAME> (on the cluster, the mount path). The node agent writes the file — from a
// file, env or value source — readable only by the app's user, and removes it when the instance stops.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { berth, berthOk, httpRequest, portBlock, tempApp } from './harness/berth.js';

const app = `
import http from 'node:http';
import { readFileSync } from 'node:fs';
http.createServer((req, res) => {
  const paths = { tls: process.env.BERTH_SECRET_FILE_TLS, token: process.env.BERTH_SECRET_FILE_TOKEN };
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ paths, tls: readFileSync(paths.tls, 'utf8'), token: readFileSync(paths.token, 'utf8') }));
}).listen(Number(process.env.PORT));
process.on('SIGTERM', () => process.exit(0));
`;

test('a secret used as a file: the app reads it from BERTH_SECRET_FILE_<NAME>; only its user can; gone after down', async () => {
  const port = portBlock();
  process.env.BERTH_TEST_SECRET_TOKEN = 'tok-from-shell-42';
  const dir = tempApp({
    'app.mjs': app,
    'tls.pem': '-----BEGIN TEST CERT-----\n',
    'berth.yaml': `app: secretfiles
secrets:
  tls: { file: tls.pem }
  token: { env: BERTH_TEST_SECRET_TOKEN }
services:
  web:
    run: node app.mjs
    port: ${port}
    secrets:
      - { name: tls, file: /run/secrets/tls.pem }
      - { name: token, file: /run/secrets/token }
`,
  });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
  const r = await httpRequest(`http://127.0.0.1:${port}/`);
  assert.equal(r.status, 200, r.body);
  const got = JSON.parse(r.body) as { paths: { tls: string; token: string }; tls: string; token: string };
  assert.equal(got.tls, '-----BEGIN TEST CERT-----\n');
  assert.equal(got.token, 'tok-from-shell-42');
  // The written copy, not the spec's source file, and not somewhere under the app's folder.
  assert.ok(!got.paths.tls.startsWith(dir), got.paths.tls);
  for (const p of [got.paths.tls, got.paths.token]) {
    const st = statSync(p);
    assert.equal(st.mode & 0o777, 0o400, `${p} mode`);
    assert.equal(statSync(p.slice(0, p.lastIndexOf('/'))).mode & 0o777, 0o700, 'its folder');
  }
  if (userInfo().uid === 0) {
    // Apps run as nobody under root: the files are nobody's, and another user cannot read them.
    assert.equal(statSync(got.paths.tls).uid, 65534);
    const other = spawnSync('setpriv', ['--reuid=daemon', '--regid=daemon', '--clear-groups', 'cat', got.paths.tls], { encoding: 'utf8' });
    assert.notEqual(other.status, 0, 'another user read the secret');
    assert.match(other.stderr, /Permission denied/);
  }
  await berthOk(dir, ['down']);
  assert.ok(!existsSync(got.paths.tls) && !existsSync(got.paths.token), 'secret files left after down');
});
