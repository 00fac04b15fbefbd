import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Writable } from 'node:stream';
import { AccessLog } from '../../../src/sidecar/proxy/access-log.js';

function sink(): { out: Writable; writes: string[] } {
  const writes: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk.toString());
      cb();
    },
  });
  return { out, writes };
}

test('lines logged in one turn of the event loop go out in one write, in order', async () => {
  const { out, writes } = sink();
  const log = new AccessLog(out);
  for (let i = 0; i < 100; i++) log.line(`{"n":${i}}\n`);
  assert.equal(writes.length, 0);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(writes.length, 1);
  assert.deepEqual(writes[0].trimEnd().split('\n').map((l) => JSON.parse(l).n), Array.from({ length: 100 }, (_, i) => i));
});

test('a line after a quiet spell goes at the end of its turn; lines that keep coming go together every flushMs', async () => {
  const { out, writes } = sink();
  const log = new AccessLog(out, 80);
  const turn = async (): Promise<void> => {
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  };
  log.line('{"n":0}\n');
  await turn();
  assert.deepEqual(writes, ['{"n":0}\n'], 'the first line is not held');
  // A steady trickle (a line a turn, as requests at 1,000/s come): held until flushMs after the last write.
  const t0 = performance.now();
  for (let i = 1; i <= 5; i++) {
    log.line(`{"n":${i}}\n`);
    await turn();
  }
  assert.equal(writes.length, 1, 'the trickle waits for the gap');
  while (writes.length < 2) await new Promise((r) => setTimeout(r, 5));
  assert.ok(performance.now() - t0 >= 60, 'written about flushMs after the first');
  assert.equal(writes[1], [1, 2, 3, 4, 5].map((n) => `{"n":${n}}\n`).join(''), 'in one write, in order');
  // Quiet for longer than flushMs: the next line goes at once again.
  await new Promise((r) => setTimeout(r, 100));
  log.line('{"n":6}\n');
  await turn();
  assert.deepEqual(writes.slice(2), ['{"n":6}\n']);
});

test('at most 64 KiB are held; flush() writes the rest at once', () => {
  const { out, writes } = sink();
  const log = new AccessLog(out);
  const line = `${'x'.repeat(1023)}\n`;
  for (let i = 0; i < 100; i++) log.line(line);
  assert.equal(writes.length, 1, 'flushed when 64 KiB were held');
  assert.equal(writes[0].length, 64 * 1024);
  log.flush();
  assert.equal(writes.length, 2);
  assert.equal(writes.join('').length, 100 * 1024);
  log.flush();
  assert.equal(writes.length, 2, 'nothing held, nothing written');
});
