// HAR 1.2: the validator names the path of each violation; the writer's files are valid HAR,
// rotate at maxFileMiB and drop (counted) instead of blocking when the disk cannot keep up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HarWriter, readHar, validateHar, type HarEntry } from '../../../src/replay/index.js';

export function entry(i: number, over: Partial<HarEntry> = {}): HarEntry {
  return {
    startedDateTime: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i * 10)).toISOString(),
    time: 1.5,
    request: { method: 'GET', url: `http://shop/items/${i}?x=1`, httpVersion: 'HTTP/1.1', cookies: [], headers: [{ name: 'accept', value: 'application/json' }], queryString: [{ name: 'x', value: '1' }], headersSize: -1, bodySize: 0 },
    response: {
      status: 200,
      statusText: 'OK',
      httpVersion: 'HTTP/1.1',
      cookies: [],
      headers: [{ name: 'content-type', value: 'application/json' }],
      content: { size: 12, mimeType: 'application/json', text: JSON.stringify({ id: i }) },
      redirectURL: '',
      headersSize: -1,
      bodySize: 12,
    },
    cache: {},
    timings: { send: 0, wait: 1, receive: 0.5 },
    _instance: 'web-1',
    _revision: 'r1',
    _traceId: '0af7651916cd43dd8448eb211c80319c',
    ...over,
  };
}

const har = (entries: HarEntry[]) => ({ log: { version: '1.2', creator: { name: 'berth', version: '0.1.0' }, entries } });

test('a well-formed HAR with Berth extras has no violations', () => {
  assert.deepEqual(validateHar(har([entry(0), entry(1)])), []);
});

test('violations are reported with their JSON paths', () => {
  const bad = har([entry(0), entry(1)]) as unknown as { log: Record<string, unknown> & { entries: Record<string, unknown>[] } };
  delete (bad.log.entries[1].request as Record<string, unknown>).headers;
  (bad.log.entries[1].response as Record<string, unknown>).status = 'ok';
  (bad.log.entries[0] as Record<string, unknown>).startedDateTime = 'yesterday';
  (bad.log.entries[0].timings as Record<string, unknown>).wait = -3;
  (bad.log.entries[0] as Record<string, unknown>).instance = 'web-1'; // custom fields need a leading _
  (bad.log.entries[0] as Record<string, unknown>)._traceId = 'xyz';
  ((bad.log.entries[0].response as Record<string, unknown>).content as Record<string, unknown>).encoding = 'gzip';
  bad.log.version = '2.0';
  const paths = validateHar(bad).map((v) => v.path).sort();
  assert.deepEqual(paths, [
    '$.log.entries[0]._traceId',
    '$.log.entries[0].instance',
    '$.log.entries[0].response.content.encoding',
    '$.log.entries[0].startedDateTime',
    '$.log.entries[0].timings.wait',
    '$.log.entries[1].request.headers',
    '$.log.entries[1].response.status',
    '$.log.version',
  ]);
  assert.deepEqual(validateHar({}), [{ path: '$.log', message: 'is required' }]);
  assert.deepEqual(validateHar([]), [{ path: '$', message: 'must be an object, got array' }]);
});

test('the reader decodes base64 bodies, form params and skips pseudo/hop-by-hop headers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-har-'));
  const e = entry(0);
  e.request.method = 'POST';
  e.request.headers.push({ name: ':authority', value: 'shop' }, { name: 'Connection', value: 'keep-alive' }, { name: 'Content-Length', value: '3' });
  e.request.postData = { mimeType: 'application/x-www-form-urlencoded', params: [{ name: 'a', value: '1' }, { name: 'b', value: 'x y' }] };
  e.response.content = { size: 3, mimeType: 'application/octet-stream', text: Buffer.from([0, 1, 2]).toString('base64'), encoding: 'base64' };
  writeFileSync(join(dir, 'a.har'), '\ufeff' + JSON.stringify(har([e])));
  const { exchanges, warnings } = await readHar(join(dir, 'a.har'));
  assert.deepEqual(warnings, []);
  assert.equal(exchanges.length, 1);
  const x = exchanges[0];
  assert.equal(x.body?.toString(), 'a=1&b=x+y');
  assert.deepEqual(x.headers, [['accept', 'application/json']]);
  assert.deepEqual([...x.response.body!], [0, 1, 2]);
  assert.equal(x.url.pathname, '/items/0');
});

test('the reader refuses what cannot be replayed, naming the file and the path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-har-'));
  writeFileSync(join(dir, 'x.har'), '{"log":{"version":"1.2","creator":{"name":"a","version":"1"},"entries":[{"request":{"method":"GET"}}]}}');
  await assert.rejects(readHar(join(dir, 'x.har')), /x\.har: not a usable HAR file: .*\$\.log\.entries\[0\]\.request\.url is required/);
  writeFileSync(join(dir, 'y.har'), 'not json');
  await assert.rejects(readHar(join(dir, 'y.har')), /y\.har: not JSON/);
});

test('the writer writes valid HAR files and rotates them at maxFileMiB', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-harw-'));
  const w = new HarWriter({ dir, stem: 'web', maxFileMiB: 0.01 }); // ~10 KiB
  for (let i = 0; i < 200; i++) assert.equal(w.write(entry(i)), true);
  const stats = await w.close();
  assert.equal(stats.written, 200);
  assert.equal(stats.dropped, 0);
  assert.ok(stats.files.length >= 5, `expected rotation, got ${stats.files.length} files`);
  let total = 0;
  for (const f of stats.files) {
    const size = readFileSync(f).length;
    assert.ok(size <= 0.01 * 1024 * 1024, `${f} is ${size} bytes`);
    const doc = JSON.parse(readFileSync(f, 'utf8'));
    assert.deepEqual(validateHar(doc), []);
    total += doc.log.entries.length;
  }
  assert.equal(total, 200);
  assert.equal(w.write(entry(0)), false, 'a closed writer drops');
});

test('a writer whose queue is full drops and counts instead of waiting', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-harw-'));
  const w = new HarWriter({ dir, stem: 'web', maxFileMiB: 100, maxQueueBytes: 4096 });
  const t0 = performance.now();
  let accepted = 0;
  for (let i = 0; i < 1000; i++) if (w.write(entry(i))) accepted++;
  assert.ok(performance.now() - t0 < 500, 'write() returns at once');
  const stats = await w.close();
  assert.ok(accepted < 1000 && accepted > 0, `accepted ${accepted}`);
  assert.equal(stats.written, accepted);
  assert.equal(stats.dropped, 1000 - accepted + 0);
  assert.equal(JSON.parse(readFileSync(stats.files[0], 'utf8')).log.entries.length, accepted);
});

test('a failing disk drops the entries, counts them and reports the error; the caller never sees it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-harw-'));
  const notADir = join(dir, 'file');
  writeFileSync(notADir, 'x');
  const errs: Error[] = [];
  const w = new HarWriter({ dir: join(notADir, 'sub'), stem: 'web', maxFileMiB: 1, onError: (e) => errs.push(e) });
  for (let i = 0; i < 10; i++) w.write(entry(i));
  const stats = await w.close();
  assert.equal(stats.written, 0);
  assert.equal(stats.dropped, 10);
  assert.ok(errs.length >= 1 && /ENOTDIR|EEXIST/.test(String((errs[0] as NodeJS.ErrnoException).code)));
});

test('a recording cut short (writer killed) is still readable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-harw-'));
  const w = new HarWriter({ dir, stem: 'web', maxFileMiB: 1 });
  for (let i = 0; i < 3; i++) w.write(entry(i));
  await w.flush();
  const file = w.stats().files[0];
  const { exchanges } = await readHar(file); // the closing brackets were never written
  assert.equal(exchanges.length, 3);
  await w.close();
  // Killed in the middle of an entry: the entries before it are kept.
  const whole = readFileSync(file, 'utf8');
  writeFileSync(file, whole.slice(0, whole.lastIndexOf('"timings"')));
  assert.equal((await readHar(file)).exchanges.length, 2);
});

test('a second writer with the same stem continues the numbering instead of overwriting', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-harw-'));
  const a = new HarWriter({ dir, stem: 'web', maxFileMiB: 1 });
  a.write(entry(0));
  const sa = await a.close();
  const b = new HarWriter({ dir, stem: 'web', maxFileMiB: 1 });
  b.write(entry(1));
  const sb = await b.close();
  assert.deepEqual([sa.files.map((f) => f.slice(-12)), sb.files.map((f) => f.slice(-12))], [['web-0001.har'], ['web-0002.har']]);
  assert.equal(sb.dropped, 0);
});

test("Playwright's attach mode: a body in a file beside the HAR", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-har-'));
  const e = entry(0);
  e.response.content = { size: 5, mimeType: 'text/plain', _file: 'body-1.txt' };
  writeFileSync(join(dir, 'body-1.txt'), 'hello');
  writeFileSync(join(dir, 'a.har'), JSON.stringify(har([e])));
  assert.equal((await readHar(join(dir, 'a.har'))).exchanges[0].response.body?.toString(), 'hello');
});

test('a DevTools-style export: tolerated quirks are warnings, entries without a response or not http are not replayed', async () => {
  const { replay } = await import('../../../src/replay/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'berth-har-'));
  const ok = entry(0) as HarEntry & Record<string, unknown>;
  ok._initiator = { type: 'script' };
  ok._resourceType = 'fetch';
  ok.connection = '4711';
  ok.request.cookies.push({ name: 'sid', value: 'x', expires: null as unknown as string }); // session cookie
  const blocked = entry(1);
  blocked.response.status = 0; // blocked by the client: no response at all
  const dataUrl = entry(2);
  dataUrl.request.url = 'data:text/plain,hi';
  writeFileSync(join(dir, 'devtools.har'), JSON.stringify(har([ok, blocked, dataUrl])));
  const { exchanges, warnings } = await readHar(join(dir, 'devtools.har'));
  assert.equal(exchanges.length, 3);
  assert.deepEqual(warnings.map((w) => w.path), ['$.log.entries[0].request.cookies[0].expires']);
  const r = await replay({ exchanges: exchanges.slice(1), to: { name: 'nowhere', bases: [new URL('http://127.0.0.1:9')] }, rate: { kind: 'max' }, concurrency: 1 });
  assert.equal(r.progress.sent, 0);
  assert.equal(r.skipped.unreplayable, 2);
});
