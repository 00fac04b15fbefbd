// Unit tests: the event ring buffer and its ndjson mirror (sequence continues across agent restarts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventLog } from '../../../src/node/event-log.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'berth-events-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('events get increasing seqs, are mirrored to the file and served after a seq', () =>
  withDir((dir) => {
    const path = join(dir, 'events.ndjson');
    const log = new EventLog(path, 'node-1', 3);
    for (let i = 0; i < 5; i++) log.append({ type: 'Normal', reason: 'Started', message: `e${i}` });
    assert.deepEqual(log.after(0).map((e) => e.seq), [3, 4, 5], 'ring keeps the last 3');
    assert.deepEqual(log.after(4).map((e) => e.message), ['e4']);
    assert.deepEqual(log.after(5), []);
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((e) => e.seq), [1, 2, 3, 4, 5]);
    assert.equal(lines[0].node, 'node-1');
  }));

test('a new event log continues the sequence from the file', () =>
  withDir((dir) => {
    const path = join(dir, 'events.ndjson');
    const first = new EventLog(path, 'node-1');
    first.append({ type: 'Normal', reason: 'A', message: 'a' });
    first.append({ type: 'Warning', reason: 'B', message: 'b' });
    const second = new EventLog(path, 'node-1');
    assert.equal(second.lastSeq, 2);
    assert.deepEqual(second.after(1).map((e) => e.reason), ['B']);
    assert.equal(second.append({ type: 'Normal', reason: 'C', message: 'c' }).seq, 3);
    renameSync(path, `${path}.1`);
    assert.equal(new EventLog(path, 'node-1').lastSeq, 3, 'falls back to the rotated file');
  }));
