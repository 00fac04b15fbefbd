// The exec probe runs as the instance's user: a user that cannot be resolved fails the check with the
// resolver's message and never runs the command (as the agent's root) instead; as root, the command
// runs with the named uid and gid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecProbe } from '../../../src/node/probes/exec-probe.js';

test('an exec probe whose user does not exist fails with a clear message and does not run its command', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-exec-probe-'));
  const probe = new ExecProbe({ command: ['touch', 'ran'], env: process.env, cwd: dir, user: 'no-such-user-here' });
  const r = await probe.check({ timeoutMs: 5000 });
  assert.equal(r.ok, false);
  assert.match(r.message, /user "no-such-user-here" does not exist on this machine/);
  assert.equal(existsSync(join(dir, 'ran')), false, 'the command did not run as anyone');
});

test('as root, an exec probe runs with the uid and gid of its user', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root: only root can switch users (CI runs as root)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'berth-exec-probe-'));
  chmodSync(dir, 0o777);
  const probe = new ExecProbe({ command: ['sh', '-c', 'echo "$(id -u):$(id -g):$(id -G)" > ids'], env: process.env, cwd: dir, user: '4242:4343' });
  const r = await probe.check({ timeoutMs: 5000 });
  assert.equal(r.ok, true, r.message);
  assert.equal(readFileSync(join(dir, 'ids'), 'utf8').trim(), '4242:4343:4343', 'uid, gid, and no supplementary groups of root');
});
