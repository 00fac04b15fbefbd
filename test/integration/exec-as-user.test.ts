// Issue 12 point 2: everything run for an instance runs as its OS user, not only its app. An exec probe
// or a `berth exec` session run as root could read `.berth/token` and drive the whole app.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, events, portBlock, ps, tempApp, waitFor } from './harness/berth.js';

/** The real uid of a process, from /proc (what the OS enforces, not what the process believes). */
function uidOf(pid: number): string {
  return /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
}

test('as root, exec probes, `berth exec` and the spec\'s sidecars run as the instance user: `id -u` is the app\'s uid, .berth/token is unreadable', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root: Berth only switches users when it runs as root (CI runs as root)');
    return;
  }
  const port = portBlock(2);
  const app = `import http from 'node:http';
http.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), process.env.HOST);`;
  const dir = tempApp({ 'app.mjs': app, 'berth.yaml': '' });
  const token = join(dir, '.berth', 'token');
  // `probed` writes the probe's uid into its (app-user-owned) folder, atomically (a rename); `snoop`'s probe reads the admin token.
  const spec = `app: execuser
services:
  probed:
    run: node app.mjs
    port: ${port}
    sidecars:
      - { name: helper, run: sleep 1000 }
    probes:
      readiness: { exec: { command: ["sh", "-c", "id -u > probe-uid.tmp && mv probe-uid.tmp probe-uid"] }, periodSeconds: 0.2 }
  snoop:
    run: node app.mjs
    port: ${port + 1}
    probes:
      readiness: { exec: { command: ["cat", "${token}"] }, periodSeconds: 0.2 }
`;
  writeFileSync(join(dir, 'berth.yaml'), spec);
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d']);

  const probed = await waitFor('probed is ready', async () => (await ps(dir)).find((r) => r.service === 'probed' && r.ready && r.pid), 30_000);
  const appUid = uidOf(probed.pid!);
  assert.notEqual(appUid, '0', 'the app itself runs unprivileged');
  // The spec's own sidecars are the app's code: its user. Berth's proxy reads .berth/ and stays root.
  const sidecar = (name: string): number => probed.sidecars.find((s) => s.name === name)?.pid ?? assert.fail(`no running sidecar ${name}`);
  assert.equal(uidOf(sidecar('helper')), appUid, "the spec's sidecar runs with the app's uid");
  assert.equal(uidOf(sidecar('berth-proxy')), '0', 'the platform proxy sidecar stays root');
  await waitFor('the exec probe wrote its uid', () => existsSync(join(dir, 'probe-uid')), 10_000);
  assert.equal(readFileSync(join(dir, 'probe-uid'), 'utf8').trim(), appUid, "the exec probe runs with the app's uid");

  // The token-reading probe fails with the OS's refusal, so `snoop` never becomes ready.
  const refused = await waitFor(
    "snoop's readiness probe is refused the token",
    async () => {
      const row = (await ps(dir)).find((r) => r.service === 'snoop');
      const text = `${row?.message ?? ''} ${JSON.stringify((await events(dir)).filter((e) => e.message.includes(token)))}`;
      return /Permission denied/.test(text) ? row : undefined;
    },
    30_000,
  );
  assert.equal(refused.ready, false, 'an exec probe cannot read .berth/token');

  // `berth exec` runs as the instance's user too.
  const id = await berthOk(dir, ['exec', 'probed', '--', 'id', '-u']);
  assert.equal(id.stdout.trim(), appUid, "berth exec runs with the app's uid");
  const cat = await berth(dir, ['exec', 'probed', '--', 'cat', '.berth/token']);
  assert.notEqual(cat.code, 0, `berth exec could read .berth/token: ${cat.stdout}`);
  assert.match(cat.stderr, /Permission denied/);
  assert.ok(!cat.stdout.includes(readFileSync(token, 'utf8').trim()), 'the token was not printed');
});
