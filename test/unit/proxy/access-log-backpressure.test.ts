// The access log respects write()'s answer: while the output has not drained, at most 64 KiB are
// held and further lines are dropped and counted; after 'drain' logging resumes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Writable } from 'node:stream';
import { AccessLog } from '../../../src/sidecar/proxy/access-log.js';

test('a slow output: lines beyond 64 KiB held are dropped and counted, memory stays bounded, logging resumes after drain', async () => {
  const written: string[] = [];
  const pending: (() => void)[] = [];
  // A real stream whose writes complete only when the test says so (a stalled log reader).
  const out = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk.toString());
      pending.push(cb);
    },
  });
  const log = new AccessLog(out);
  const line = `${'x'.repeat(99)}\n`;
  for (let i = 0; i < 5000; i++) log.line(line);
  log.flush();
  await new Promise((r) => setImmediate(r));
  const held = (log as unknown as { held: string }).held.length;
  assert.ok(held <= 64 * 1024, `held ${held} bytes`);
  assert.ok(log.dropped > 0, 'lines were dropped');
  const writtenBytes = written.join('').length;
  assert.equal(writtenBytes + held + log.dropped * line.length, 5000 * line.length, 'every line is written, held or counted as dropped');
  // The reader catches up: held lines go out, and new lines are logged again.
  const dropped = log.dropped;
  while (pending.length > 0) pending.shift()!();
  await new Promise((r) => setImmediate(r));
  while (pending.length > 0) pending.shift()!();
  log.line('{"after":true}\n');
  log.flush();
  await new Promise((r) => setImmediate(r));
  assert.equal(log.dropped, dropped);
  assert.ok(written.join('').endsWith('{"after":true}\n'));
});
