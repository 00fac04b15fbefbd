// A full disk never crashes the log agent (issue 12, point 3): the agent's disk buffer lives on a
// small tmpfs mounted by the test; the test fills it while the app writes. The agent must stay up,
// stop reading (the app's file stays where it is), say so, and ship every line once space returns.
// Needs root (mount); skipped with a printed reason otherwise (CI runs as root).
// The second test runs the whole platform (`berth up`) with `.berth/logs-agent` on the tmpfs: the
// pause and the resume must appear in `berth events --json`, attributed to the instance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { agentConfig, tempDir, waitFor, writeSeq } from '../unit/logs/helpers.js';
import { countSeq, fileSinkMessages, spawnAgent } from './logs-agent-proc.js';
import { writeStatus } from '../../src/sidecar/logs/status-file.js';
import { berth, berthOk, events, ps, tempApp, waitFor as waitForAsync, type EventRow } from './harness/berth.js';

function mountTmpfs(dir: string, size: string): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root (mounting a tmpfs needs root)';
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return `mount -t tmpfs failed: ${(r.stderr || r.error?.message || '').trim()}`;
  return undefined;
}

/** Writes until the file system says ENOSPC; returns the bytes written. */
function fill(path: string): number {
  const fd = openSync(path, 'a');
  const chunk = Buffer.alloc(16 * 1024, 0x61);
  let total = 0;
  try {
    for (;;) total += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return total;
}

test('a full disk pauses the log agent (disk buffer) instead of crashing it; every line arrives once space returns', async (t) => {
  const dir = tempDir();
  const stateDir = join(dir, '.berth');
  const agentDir = join(stateDir, 'logs-agent');
  mkdirSync(agentDir, { recursive: true });
  mkdirSync(join(dir, 'logs'));
  const why = mountTmpfs(agentDir, '2m');
  if (why) {
    process.stdout.write(`# skipped: ${why}\n`);
    t.skip(why);
    return;
  }
  const out = join(dir, 'out.jsonl');
  const app = join(dir, 'logs', 'app.log');
  const agent = spawnAgent(
    stateDir,
    agentConfig(dir, {
      buffer: { type: 'disk', maxRecords: 5000, maxBytes: 64 * 1024 * 1024, whenFull: 'block' },
      sinks: [{ type: 'file', name: 'out', path: out }],
    }),
  );
  try {
    writeSeq(app, 0, 500);
    await waitFor('the first 500 lines', () => countSeq(fileSinkMessages(out), 0, 500).missing.length === 0);

    const filler = join(agentDir, 'filler');
    fill(filler);
    // ~1 MB of lines: they cannot fit in the disk buffer while the disk is full.
    writeSeq(app, 500, 8000, 'y'.repeat(100));
    await waitFor('the agent to report the full disk (or exit)', () => agent.exited() !== undefined || /disk (is )?full/i.test(agent.stderr()), 20_000);
    assert.equal(agent.exited(), undefined, `the agent exited: ${agent.stderr()}`);
    // Still up while lines keep coming and the disk stays full.
    writeSeq(app, 8000, 9000, 'z'.repeat(100));

    rmSync(filler);
    await waitFor('every line after space returned', () => countSeq(fileSinkMessages(out), 0, 9000).missing.length === 0, 30_000).catch((err: Error) => {
      const c = countSeq(fileSinkMessages(out), 0, 9000);
      throw new Error(`${err.message}: ${c.missing.length} missing (first ${c.missing[0]}); agent: ${agent.stderr()}`);
    });
    const { missing, duplicates } = countSeq(fileSinkMessages(out), 0, 9000);
    assert.deepEqual(missing, []);
    assert.equal(duplicates, 0);
    assert.equal(agent.exited(), undefined, `the agent exited: ${agent.stderr()}`);
    assert.match(agent.stderr(), /resum/i);
  } finally {
    await agent.stop();
    spawnSync('umount', ['-l', agentDir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a full disk under the log buffer is said in berth events: Warning LogBufferDiskFull, then Normal LogBufferResumed, with the instance', async (t) => {
  const dir = tempApp({
    'idle.mjs': 'setInterval(() => {}, 1 << 30);\n',
    'berth.yaml': [
      'app: logs-disk-full-events',
      'services:',
      '  quiet:',
      '    run: node idle.mjs',
      '    logs:',
      '      files: [logs/app.log]',
      '      buffer: { type: disk, maxRecords: 5000 }',
      '      sinks: [{ type: file, name: out, path: out.jsonl }]',
      '',
    ].join('\n'),
  });
  const stateDir = join(dir, '.berth');
  const agentDir = join(stateDir, 'logs-agent');
  mkdirSync(agentDir, { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, 'logs'));
  writeFileSync(join(dir, 'logs', 'app.log'), '');
  const why = mountTmpfs(agentDir, '2m,mode=0700');
  if (why) {
    process.stdout.write(`# skipped: ${why}\n`);
    t.skip(why);
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  const app = join(dir, 'logs', 'app.log');
  const out = join(dir, 'out.jsonl');
  const logEvents = async (): Promise<EventRow[]> => (await events(dir)).filter((e) => e.reason.startsWith('LogBuffer'));
  try {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
    const instance = (await ps(dir))[0].instance;
    writeSeq(app, 0, 500);
    await waitFor('the first 500 lines', () => countSeq(fileSinkMessages(out), 0, 500).missing.length === 0, 30_000);
    assert.deepEqual(await logEvents(), [], 'no disk-full event before the disk is full');

    const filler = join(agentDir, 'filler');
    fill(filler);
    writeSeq(app, 500, 8000, 'y'.repeat(100));
    const full = await waitForAsync('LogBufferDiskFull in berth events', async () => (await logEvents()).find((e) => e.reason === 'LogBufferDiskFull'), 30_000);
    assert.equal(full.type, 'Warning');
    assert.equal(full.instance, instance);
    assert.equal(full.service, 'quiet');
    assert.match(full.message, /out: disk full: ENOSPC/, 'the message names the sink and the error');

    rmSync(filler);
    const resumed = await waitForAsync('LogBufferResumed in berth events', async () => (await logEvents()).find((e) => e.reason === 'LogBufferResumed'), 30_000);
    assert.equal(resumed.type, 'Normal');
    assert.equal(resumed.instance, instance);
    assert.equal(resumed.service, 'quiet');
    assert.ok(resumed.at >= full.at, 'resumed after the pause');
    await waitFor('every line after space returned', () => countSeq(fileSinkMessages(out), 0, 8000).missing.length === 0, 30_000);
  } finally {
    await berth(dir, ['down']);
    spawnSync('umount', ['-l', agentDir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('status.json is still written when the disk is full (the node agent reads diskFull from it)', async (t) => {
  const dir = tempDir();
  const why = mountTmpfs(dir, '64k');
  if (why) {
    process.stdout.write(`# skipped: ${why}\n`);
    t.skip(why);
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  try {
    const path = join(dir, 'status.json');
    writeStatus(path, JSON.stringify({ sinks: { out: { diskFull: false } } }) + '\n');
    fill(join(dir, 'filler'));
    const full = JSON.stringify({ sinks: { out: { diskFull: true, diskFullPauses: 1 } } }) + '\n';
    writeStatus(path, full);
    assert.equal(readFileSync(path, 'utf8'), full);
  } finally {
    spawnSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});
