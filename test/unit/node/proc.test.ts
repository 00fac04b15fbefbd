// Unit tests: /proc/PID/stat parsing (names with spaces and parentheses) and liveness checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { isProcessAlive, parseProcStat, readProcStat, selfStartTime, groupMembers, killGroup } from '../../../src/lib/proc.js';

const tail = '0 -1 4194304 98 0 0 0 0 0 0 0 20 0 1 0 36144 3133440 359 18446744073709551615';

test('parses a plain stat line', () => {
  const s = parseProcStat(`6687 (cat) R 6683 6683 5640 ${tail}`);
  assert.deepEqual(s, { pid: 6687, comm: 'cat', state: 'R', ppid: 6683, pgrp: 6683, session: 5640, startTime: 36144 });
});

test('comm containing spaces and parentheses', () => {
  const s = parseProcStat(`42 (my (weird) proc) name)) S 1 40 40 ${tail}`);
  assert.equal(s?.comm, 'my (weird) proc) name)');
  assert.equal(s?.state, 'S');
  assert.equal(s?.ppid, 1);
  assert.equal(s?.pgrp, 40);
  assert.equal(s?.startTime, 36144);
});

test('zombie state is reported', () => {
  assert.equal(parseProcStat(`7 (x) Z 1 7 7 ${tail}`)?.state, 'Z');
});

test('malformed input yields undefined', () => {
  assert.equal(parseProcStat(''), undefined);
  assert.equal(parseProcStat('12 cat R 1 2 3'), undefined);
  assert.equal(parseProcStat('12 (cat) R 1'), undefined);
});

test('reads this process and checks liveness with start time', () => {
  const me = readProcStat(process.pid);
  assert.equal(me?.pid, process.pid);
  assert.equal(me?.startTime, selfStartTime());
  assert.equal(isProcessAlive(process.pid), true);
  assert.equal(isProcessAlive(process.pid, selfStartTime()), true);
  assert.equal(isProcessAlive(process.pid, selfStartTime() + 1), false, 'start-time mismatch = PID reused');
  assert.equal(isProcessAlive(2 ** 22 + 12345), false);
  assert.equal(readProcStat(-1), undefined);
});

test('group members and killGroup on a detached child', async () => {
  const child = spawn('sh', ['-c', 'sleep 30 & sleep 30; wait'], { detached: true, stdio: 'ignore' });
  const pid = child.pid as number;
  const exited = new Promise((r) => child.once('exit', r));
  const deadline = Date.now() + 5000;
  while (groupMembers(pid).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(groupMembers(pid).length, 3);
  assert.equal(killGroup(pid, 'SIGKILL'), true);
  await exited;
  // The sleeps were orphaned when sh died; here nobody reaps them, so they may linger as zombies — which count as gone.
  while (groupMembers(pid).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(groupMembers(pid), []);
  assert.equal(isProcessAlive(pid), false);
  assert.equal(killGroup(2 ** 22 + 12345, 'SIGTERM'), false, 'ESRCH is ignored');
});
