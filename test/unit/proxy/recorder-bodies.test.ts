// Recorded bodies (review of the recorder): a small compressed answer that decodes to far more than
// maxBodyBytes is never decoded whole (the entry is kept, its body marked as not kept), and a textual
// body whose bytes are not UTF-8 (iso-8859-1) is stored as base64, byte for byte, and read back so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Recorder } from '../../../src/sidecar/proxy/recorder.js';
import { readHar, validateHar, type RecordedExchange as ReplayExchange, type HarEntry } from '../../../src/replay/index.js';

async function record(fn: (r: Recorder) => void): Promise<{ entries: HarEntry[]; exchanges: ReplayExchange[]; rec: Recorder }> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-recorder-'));
  const rec = new Recorder({ id: 'u', sample: 1, redactHeaders: [], maxBodyBytes: 64 * 1024, maxFileMiB: 100 }, { stateDir: dir, proxyId: 'p-1', onError: (e) => assert.fail(e) });
  fn(rec);
  await new Promise((res) => setImmediate(res));
  await rec.close();
  const folder = join(dir, 'recordings', 'u');
  const { har, exchanges } = await readHar(join(folder, readdirSync(folder)[0]));
  assert.deepEqual(validateHar(har), []);
  return { entries: har.log.entries, exchanges, rec };
}

test('a compressed answer decoding past maxBodyBytes is not decoded whole: the entry is kept, its body marked', async () => {
  const bomb = gzipSync(Buffer.alloc(32 * 1024 * 1024)); // ~32 KiB on the wire (under maxBodyBytes), 32 MiB decoded
  const small = gzipSync(Buffer.from('{"ok":true}'));
  const t0 = performance.now();
  const { entries, exchanges, rec } = await record((r) => {
    const x = r.begin({ method: 'GET', url: '/bomb', headers: { host: 'svc' } }, '11111111111111111111111111111111')!;
    x.head(200, ['content-type', 'application/octet-stream', 'content-encoding', 'gzip']);
    for (let i = 0; i < bomb.length; i += 16384) x.data(bomb.subarray(i, i + 16384));
    x.finish(200);
    const y = r.begin({ method: 'GET', url: '/small', headers: { host: 'svc' } }, '22222222222222222222222222222222')!;
    y.head(200, ['content-type', 'application/json', 'content-encoding', 'gzip']);
    y.data(small);
    y.finish(200);
  });
  const ms = performance.now() - t0;
  assert.equal(rec.dropped, 0);
  assert.deepEqual(entries.map((e) => e.request.url), ['http://svc/bomb', 'http://svc/small']);
  const [b, s] = entries;
  assert.equal(b.response.bodySize, bomb.length);
  assert.equal(b.response.content.text, undefined);
  assert.equal(b.response._truncated, true);
  assert.match(b.response.content.comment ?? '', /maxBodyBytes/);
  assert.equal(exchanges[0].response.body, undefined); // a replay does not compare a body it does not have
  assert.deepEqual([s.response.content.text, s.response.content.size, s.response._truncated], ['{"ok":true}', 11, undefined]);
  assert.ok(ms < 2000, `recording took ${ms.toFixed(0)} ms`);
});

test('a textual body whose bytes are not UTF-8 is kept as base64, byte for byte, and replayed so', async () => {
  const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xff, 0xfe]);
  const { entries, exchanges } = await record((r) => {
    const x = r.begin({ method: 'POST', url: '/form', headers: { host: 'svc', 'content-type': 'text/plain; charset=iso-8859-1' } }, '33333333333333333333333333333333')!;
    x.requestBody(latin1);
    x.head(200, ['content-type', 'text/plain; charset=iso-8859-1']);
    x.data(latin1);
    x.finish(200);
    const y = r.begin({ method: 'GET', url: '/utf8', headers: { host: 'svc' } }, '44444444444444444444444444444444')!;
    y.head(200, ['content-type', 'text/plain; charset=utf-8']);
    y.data(Buffer.from('café'));
    y.finish(200);
  });
  const [e, u] = entries;
  assert.equal(e.response.content.encoding, 'base64');
  assert.deepEqual(Buffer.from(e.response.content.text!, 'base64'), latin1);
  assert.equal(e.request.postData?.encoding, 'base64');
  assert.deepEqual(exchanges[0].response.body, latin1);
  assert.deepEqual(exchanges[0].body, latin1);
  assert.deepEqual([u.response.content.text, u.response.content.encoding], ['café', undefined]);
});
