// Unit tests: CRI record formatting, line splitting, and the rotating capture file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { criTimestamp, CriLineSplitter, encodeCriRecord, MAX_RECORD_PAYLOAD, preciseNowNs } from '../../../src/node/cri-log.js';
import { LogFile } from '../../../src/node/log-file.js';

const text = (chunks: { tag: string; payload: Buffer }[]): string[] => chunks.map((c) => `${c.tag}:${c.payload.toString()}`);

test('timestamps have nine fractional digits in UTC', () => {
  const ns = BigInt(Date.UTC(2026, 10, 26, 22, 34, 19, 123)) * 1_000_000n + 456_789n;
  assert.equal(criTimestamp(ns), '2026-11-26T22:34:19.123456789Z');
  assert.equal(criTimestamp(BigInt(Date.UTC(2026, 0, 1)) * 1_000_000n), '2026-01-01T00:00:00.000000000Z');
  assert.match(criTimestamp(preciseNowNs()), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
});

test('the precise clock follows wall time and never goes backwards', () => {
  const a = preciseNowNs();
  const b = preciseNowNs();
  assert.ok(b >= a);
  const wallNs = BigInt(Date.now()) * 1_000_000n;
  assert.ok(a - wallNs < 1_000_000_000n && wallNs - a < 1_000_000_000n);
});

test('records are `<ts> <stream> <tag> <line>\\n`', () => {
  const rec = encodeCriRecord('2026-11-26T22:34:19.123456789Z', 'stderr', 'F', Buffer.from('hello world'));
  assert.equal(rec.toString(), '2026-11-26T22:34:19.123456789Z stderr F hello world\n');
});

test('splits complete lines across chunk boundaries', () => {
  const s = new CriLineSplitter();
  assert.deepEqual(text(s.push(Buffer.from('one\ntw'))), ['F:one']);
  assert.deepEqual(text(s.push(Buffer.from('o\n\nthree'))), ['F:two', 'F:']);
  assert.deepEqual(text(s.flush()), ['F:three'], 'a trailing line without newline is flushed as F');
  assert.deepEqual(s.flush(), []);
});

test('long lines become P records of at most the maximum, then F', () => {
  const s = new CriLineSplitter(4);
  assert.deepEqual(text(s.push(Buffer.from('abcdefghij\nxy'))), ['P:abcd', 'P:efgh', 'F:ij']);
  assert.deepEqual(text(s.push(Buffer.from('zw'))), [], 'exactly the maximum is held until we know whether the line ends');
  assert.deepEqual(text(s.push(Buffer.from('\n'))), ['F:xyzw']);
  assert.deepEqual(text(s.push(Buffer.from('12345'))), ['P:1234']);
});

test('the default maximum is 16 KiB and memory stays bounded', () => {
  const s = new CriLineSplitter();
  const out = s.push(Buffer.alloc(MAX_RECORD_PAYLOAD * 2 + 10, 0x61));
  assert.deepEqual(out.map((c) => [c.tag, c.payload.length]), [
    ['P', MAX_RECORD_PAYLOAD],
    ['P', MAX_RECORD_PAYLOAD],
  ]);
  assert.deepEqual(s.flush().map((c) => [c.tag, c.payload.length]), [['F', 10]]);
});

test('LogFile appends CRI records and rotates by size, keeping N files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-log-'));
  try {
    const log = new LogFile(dir, 'app', { maxBytes: 200, keep: 2 });
    const out = log.streamWriter('stdout');
    for (let i = 0; i < 30; i++) out.write(Buffer.from(`line ${i}\n`));
    out.end();
    log.close();
    assert.deepEqual(readdirSync(dir).sort(), ['app.log', 'app.log.1', 'app.log.2']);
    const current = readFileSync(join(dir, 'app.log'), 'utf8').trim().split('\n');
    assert.match(current[current.length - 1], /^\S+Z stdout F line 29$/);
    for (const f of readdirSync(dir)) assert.ok(readFileSync(join(dir, f)).length <= 200);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('LogFile: the lines of one event-loop turn are on disk, in order, once the turn has ended', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-log-'));
  try {
    const log = new LogFile(dir, 'app', { maxBytes: 1 << 20, keep: 1 });
    const out = log.streamWriter('stdout');
    const err = log.streamWriter('stderr');
    for (let i = 0; i < 1000; i++) (i % 10 === 0 ? err : out).write(Buffer.from(`line ${i}\n`));
    await new Promise((r) => setImmediate(r));
    const lines = readFileSync(join(dir, 'app.log'), 'utf8').trim().split('\n');
    assert.equal(lines.length, 1000);
    lines.forEach((l, i) => assert.match(l, new RegExp(`^\\S+Z ${i % 10 === 0 ? 'stderr' : 'stdout'} F line ${i}$`)));
    log.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
