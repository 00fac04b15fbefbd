// The recorder's entries (issue 15 point 7's cheaper recording path): built after the response as
// JSON text, they are valid HAR 1.2 with the same content as before; a request body without a
// content-type is kept exactly (it was decoded as UTF-8 before, which broke binary bodies), an
// untyped UTF-8 body is text rather than base64; the fast request-URL path agrees with `new URL()`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Recorder } from '../../../src/sidecar/proxy/recorder.js';
import { requestUrl } from '../../../src/sidecar/proxy/har-entry-text.js';
import { readHar, validateHar, type HarEntry } from '../../../src/replay/index.js';

async function record(fn: (r: Recorder) => void): Promise<HarEntry[]> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-recorder-'));
  const r = new Recorder({ id: 'u', sample: 1, redactHeaders: ['x-secret'], maxBodyBytes: 1024, maxFileMiB: 100 }, { stateDir: dir, proxyId: 'p-1', revision: 'r1', onError: (e) => assert.fail(e) });
  fn(r);
  await new Promise((res) => setImmediate(res));
  await r.close();
  const folder = join(dir, 'recordings', 'u');
  const { har } = await readHar(join(folder, readdirSync(folder)[0]));
  assert.deepEqual(validateHar(har), []);
  return har.log.entries;
}

test('an untyped binary request body is kept byte for byte; an untyped UTF-8 answer is text', async () => {
  const binary = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41]);
  const [e] = await record((r) => {
    const x = r.begin({ method: 'POST', url: '/upload', headers: { host: 'svc' } }, '11111111111111111111111111111111')!;
    x.requestBody(binary);
    x.head(200, ['X-Kind', 'none']);
    x.data(Buffer.from('plain words'));
    x.finish(200);
  });
  assert.equal(e.request.postData?.encoding, 'base64');
  assert.deepEqual(Buffer.from(e.request.postData!.text!, 'base64'), binary);
  assert.deepEqual([e.response.content.text, e.response.content.encoding], ['plain words', undefined]);
});

test('entries: redaction, query, truncation, downstream calls, timings and Berth extras', async () => {
  const [e] = await record((r) => {
    const x = r.begin({ method: 'PUT', url: '/items/7?a=1&b=&c&&d=x=y', headers: { host: 'Shop:80', authorization: 'Bearer s', 'x-secret': 'k', 'content-type': 'application/json', 'x-multi': ['a', 'b'] } }, '22222222222222222222222222222222')!;
    x.requestBody(Buffer.from('{"n":'));
    x.requestBody(Buffer.from('1}'));
    const d = r.beginDownstream({ method: 'GET', url: '/stock/7', headers: { host: 'stock' } }, '22222222222222222222222222222222', 'stock')!;
    d.head(200, ['content-type', 'application/json']);
    d.data(Buffer.from('{"left":3}'));
    d.finish(200);
    x.head(201, ['Content-Type', 'application/json', 'Set-Cookie', 'sid=1', 'Location', '/items/7']);
    x.data(Buffer.from('x'.repeat(1500)));
    x.finish(201);
  });
  assert.equal(e.request.url, 'http://shop/items/7?a=1&b=&c&&d=x=y');
  assert.deepEqual(e.request.queryString, [{ name: 'a', value: '1' }, { name: 'b', value: '' }, { name: 'c', value: '' }, { name: 'd', value: 'x=y' }]);
  assert.deepEqual(e.request.headers.map((h) => `${h.name}=${h.value}`), ['host=Shop:80', 'authorization=REDACTED', 'x-secret=REDACTED', 'content-type=application/json', 'x-multi=a', 'x-multi=b']);
  assert.deepEqual(e.request.postData, { mimeType: 'application/json', text: '{"n":1}' });
  assert.deepEqual([e.response.status, e.response.statusText, e.response.redirectURL, e.response.bodySize, e.response.content.text?.length, e.response._truncated], [201, 'Created', '/items/7', 1500, 1024, true]);
  assert.equal(e.response.headers.find((h) => h.name === 'Set-Cookie')?.value, 'REDACTED');
  assert.deepEqual([e._instance, e._revision, e._traceId], ['p-1', 'r1', '22222222222222222222222222222222']);
  assert.equal(e._downstream?.length, 1);
  assert.deepEqual([e._downstream![0].service, e._downstream![0].request.url, e._downstream![0].response.content.text], ['stock', 'http://stock/stock/7', '{"left":3}']);
  assert.ok(e.time >= 0 && e.timings.wait >= 0 && e.timings.receive >= 0);
});

test('a Host no URL accepts drops the entry (counted), never throws into the request', async () => {
  let rec: Recorder | undefined;
  const entries = await record((r) => {
    rec = r;
    const bad = r.begin({ method: 'GET', url: '/', headers: { host: 'a b' } }, '33333333333333333333333333333333')!;
    bad.finish(200);
    const good = r.begin({ method: 'GET', url: '/ok', headers: { host: 'h' } }, '44444444444444444444444444444444')!;
    good.finish(204);
  });
  assert.deepEqual(entries.map((e) => e.request.url), ['http://h/ok']);
  assert.equal(rec!.unrecordable, 1);
});

test('request.url is the origin new URL() gives plus the target as received; the query is what new URL() reads', () => {
  const hosts = ['h', 'H.Example.COM', 'h:80', 'h:8080', '127.1', '127.0.0.1:9', '0x7f.1', 'localhost:080', '[::1]:81', 'xn--bcher-kva.example'];
  const targets = ['/', '/a/b', '/a//b', '/a/./b', '/a/../b', '/.well-known/x', "/it's", '/p%20q', '/q?x=1&y', '/q?a+b=c', '/q?%41=1', "/q?x='", '/q?x=1#f', '/sp ace', '/ü', '/q?&&a=&=b', '/q??x', '/q?x=a=b', '/q??%41', '/q?a+b=%2B', '/a:b@c', '/~user/(x)*!$,;'];
  for (const host of hosts)
    for (const url of targets) {
      const u = new URL(url, `http://${host}`);
      assert.deepEqual(requestUrl(url, host), { href: u.origin + url, query: [...u.searchParams] }, `${host} ${url}`);
    }
});
