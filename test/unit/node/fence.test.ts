// Fencing a recorded process group (src/lib/fence.ts) on real processes: members are found by their group
// id whether the leader lives or died, a recorded start time that does not match (PID reuse) fences
// nothing, and fencing leaves no member alive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fenceGroup, groupLeftAlive, leftoverMembers } from '../../../src/lib/fence.js';
import { groupMembers, readProcStat } from '../../../src/lib/proc.js';

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A shell leading its own group with two sleeping children (detached: the leader is the group id). */
async function wrapper(): Promise<{ pid: number; startTime: number }> {
  const child = spawn('sh', ['-c', 'sleep 1000 & sleep 1000 & wait'], { detached: true, stdio: 'ignore' });
  const pid = child.pid!;
  // The test reaps the leader itself (it is its parent), so a killed leader is gone, not a zombie.
  child.unref();
  await until(() => groupMembers(pid).length === 3, 'sh and two sleeps');
  return { pid, startTime: readProcStat(pid)!.startTime };
}

test('a group with a live leader: every member is found and fenced', async () => {
  const rec = await wrapper();
  assert.equal(leftoverMembers(rec).length, 3);
  assert.equal(fenceGroup(rec).length, 3);
  await until(() => !groupLeftAlive(rec), 'the group gone');
});

test('a group whose leader died: its orphaned members are still found and fenced', async () => {
  const rec = await wrapper();
  process.kill(rec.pid, 'SIGKILL');
  await until(() => groupMembers(rec.pid).length === 2, 'only the two sleeps left');
  assert.ok(groupLeftAlive(rec), 'members outlive the leader');
  assert.equal(fenceGroup(rec).length, 2);
  await until(() => groupMembers(rec.pid).length === 0, 'the orphans fenced');
});

test('a recorded start time that does not match the live pid (PID reuse) fences nothing', async () => {
  const rec = await wrapper();
  try {
    assert.deepEqual(leftoverMembers({ pid: rec.pid, startTime: rec.startTime - 1 }), []);
    assert.deepEqual(fenceGroup({ pid: rec.pid, startTime: rec.startTime - 1 }), []);
    assert.equal(groupMembers(rec.pid).length, 3, 'untouched');
  } finally {
    fenceGroup(rec);
  }
  await until(() => !groupLeftAlive(rec), 'cleaned up');
});

test('nothing recorded is alive: nothing to fence; bad ids are refused', () => {
  assert.deepEqual(fenceGroup({ pid: 0 }), []);
  assert.deepEqual(fenceGroup({ pid: 1 }), []);
  assert.deepEqual(fenceGroup({ pid: -5 }), []);
  assert.equal(groupLeftAlive({ pid: 2 ** 22 + 12345 }), false);
});
