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
  log.line('{"n":100}\n');
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(writes, [writes[0], '{"n":100}\n']);
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
