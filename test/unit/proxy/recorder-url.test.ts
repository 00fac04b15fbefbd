// The HAR request.url of a recorded request is the Host plus the request-target the app received, byte
// for byte: an origin-form target starting with `//` is a path (not another host), dot segments,
// backslashes and escapes are kept as they were (`new URL()` would rewrite them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestUrl } from '../../../src/sidecar/proxy/har-entry-text.js';

test('request.url is the Host plus the target the app received', () => {
  const cases: [string, string, string, [string, string][]][] = [
    ['shop.local', '//evil.example/steal', 'http://shop.local//evil.example/steal', []],
    ['shop.local', '/a/../admin', 'http://shop.local/a/../admin', []],
    ['shop.local', '/sp/./x', 'http://shop.local/sp/./x', []],
    ['shop.local', '/a\\b', 'http://shop.local/a\\b', []],
    ['shop.local', '/x/%2e%2e/y', 'http://shop.local/x/%2e%2e/y', []],
    ['shop.local', '/t?q=a%20b+c', 'http://shop.local/t?q=a%20b+c', [['q', 'a b c']]],
    ['Shop.Local:80', '//x?a=1&b', 'http://shop.local//x?a=1&b', [['a', '1'], ['b', '']]],
    ['h:8080', '/plain?x=1', 'http://h:8080/plain?x=1', [['x', '1']]],
  ];
  for (const [host, target, href, query] of cases) assert.deepEqual(requestUrl(target, host), { href, query }, `${host} ${target}`);
  assert.ok(URL.canParse(requestUrl('//evil.example/steal', 'shop.local').href));
});

test('readHar keeps the recorded target byte for byte (what a replay sends), not what new URL() makes of it', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { readHar } = await import('../../../src/replay/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'berth-target-'));
  const urls = ['http://shop.local//evil.example/steal', 'http://shop.local/a/../admin', 'http://shop.local/a\\b?x=%2e', 'http://shop.local/plain?q=1#frag', 'http://shop.local/sp ace'];
  const entries = urls.map((url) => ({
    startedDateTime: new Date(0).toISOString(),
    time: 1,
    request: { method: 'GET', url, httpVersion: 'HTTP/1.1', cookies: [], headers: [], queryString: [], headersSize: -1, bodySize: 0 },
    response: { status: 200, statusText: 'OK', httpVersion: 'HTTP/1.1', cookies: [], headers: [], content: { size: 0, mimeType: '' }, redirectURL: '', headersSize: -1, bodySize: 0 },
    cache: {},
    timings: { send: 0, wait: 1, receive: 0 },
  }));
  const file = join(dir, 'r.har');
  writeFileSync(file, JSON.stringify({ log: { version: '1.2', creator: { name: 't', version: '1' }, entries } }));
  const { exchanges } = await readHar(file);
  // A URL with characters a request line cannot carry as they are falls back to the URL's own path.
  assert.deepEqual(
    exchanges.map((x) => x.target ?? `${x.url.pathname}${x.url.search}`),
    ['//evil.example/steal', '/a/../admin', '/a\\b?x=%2e', '/plain?q=1', '/sp%20ace'],
  );
});
