// The node agent's reading of a log agent's status.json into LogBufferDiskFull / LogBufferResumed
// events: transitions, pauses shorter than a read, a restarted log agent, stale or torn files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logBufferEvents, readLogBufferState, type LogBufferState } from '../../../src/node/log-buffer-events.js';

const st = (full: boolean, pauses: number): LogBufferState => ({ full, pauses, detail: full ? 'out: ENOSPC' : '' });
const reasons = (prev: LogBufferState | undefined, next: LogBufferState): string[] => logBufferEvents(prev, next).map((e) => e.reason);

test('a pause and a resume are one event each; nothing while the state holds', () => {
  assert.deepEqual(reasons(undefined, st(false, 0)), []);
  assert.deepEqual(reasons(st(false, 0), st(true, 1)), ['LogBufferDiskFull']);
  assert.deepEqual(reasons(st(true, 1), st(true, 1)), []);
  assert.deepEqual(reasons(st(true, 1), st(false, 1)), ['LogBufferResumed']);
  assert.deepEqual(reasons(st(false, 1), st(false, 1)), []);
  const [full] = logBufferEvents(st(false, 0), st(true, 1));
  assert.equal(full.type, 'Warning');
  assert.match(full.message, /out: ENOSPC/);
  assert.equal(logBufferEvents(st(true, 1), st(false, 1))[0].type, 'Normal');
});

test('pauses between two reads are not lost', () => {
  assert.deepEqual(reasons(st(false, 0), st(false, 1)), ['LogBufferDiskFull', 'LogBufferResumed']);
  assert.deepEqual(reasons(st(true, 1), st(true, 2)), ['LogBufferResumed', 'LogBufferDiskFull']);
  assert.deepEqual(reasons(st(true, 1), st(false, 2)), ['LogBufferResumed', 'LogBufferDiskFull', 'LogBufferResumed']);
});

test('first sight says a pause in progress only; a restarted log agent counts from 0', () => {
  assert.deepEqual(reasons(undefined, st(true, 1)), ['LogBufferDiskFull']);
  assert.deepEqual(reasons(undefined, st(false, 3)), []);
  assert.deepEqual(reasons(st(true, 3), st(true, 1)), [], 'restarted while full and still full: no resume');
  assert.deepEqual(reasons(st(true, 3), st(false, 0)), ['LogBufferResumed']);
  assert.deepEqual(reasons(st(false, 3), st(true, 1)), ['LogBufferDiskFull']);
});

test('status.json: sinks summed, stale runs, torn files and long errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-logbuf-'));
  try {
    const path = join(dir, 'status.json');
    assert.equal(readLogBufferState(path), undefined, 'missing');
    writeFileSync(path, '{"at":"2026-01-01T00:00:01.000Z","sinks":{"out":{"diskFull":tr');
    assert.equal(readLogBufferState(path), undefined, 'torn');
    const status = {
      at: '2026-01-01T00:00:01.000Z',
      sinks: { out: { diskFull: true, diskFullPauses: 2, diskError: 'x'.repeat(5000), lastError: 'a sink error' }, loki: { diskFull: false, diskFullPauses: 1 }, bad: 'nope' },
    };
    writeFileSync(path, JSON.stringify(status));
    const s = readLogBufferState(path, '2026-01-01T00:00:00.000Z');
    assert.ok(s);
    assert.equal(s.full, true);
    assert.equal(s.pauses, 3);
    assert.ok(s.detail.startsWith('out: xxx'));
    assert.ok(s.detail.length <= 201, 'the error text from the file is capped');
    assert.equal(readLogBufferState(path, '2026-01-01T00:00:02.000Z'), undefined, 'written before the running log agent started');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
