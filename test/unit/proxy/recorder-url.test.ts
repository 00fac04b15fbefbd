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
