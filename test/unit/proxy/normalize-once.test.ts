// Request-target normalisation leaves nothing a later parser resolves further: a `%` that starts no
// escape, followed by encoded hex digits, decoded into a new escape (`%%32e` → `%2e`), which routes
// took for a plain segment and WHATWG URL for a dot (a review, 2026-12-07; failed before the fix).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath } from '../../../src/sidecar/proxy/http-syntax.js';

test('a path is normalised until nothing changes: decoding never leaves a new escape behind', () => {
  const cases: [string, string | undefined][] = [
    ['/public/%%32e%%32e/admin', '/admin'],
    ['/public/%%32%65%%32%65/admin', '/admin'],
    ['/%%32e', '/'],
    ['/%2%65', '/'],
    ['/%%30%30', undefined], // a %00 made by decoding is refused as a sent one is
    ['/a%zz', '/a%zz'],
    ['/a%', '/a%'],
    ['/%%2541', '/%%2541'],
    ['/%252e%252e/x', '/%252e%252e/x'],
  ];
  for (const [from, to] of cases) assert.equal(normalizePath(from), to, from);
});

test('normalising a normalised target changes nothing (random targets of escapes, dots, slashes, lone %)', () => {
  const parts = ['/', '.', '..', '%', '%%', '%2e', '%2E', '%32', '%65', '%45', '%2', '\\', 'a', 'e', '2', '%2f', '%5c', ';', '%25', '%7e', '?', '=', '%30'];
  let seed = 11;
  const random = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < 50_000; i++) {
    let target = '/';
    for (let k = 1 + Math.floor(random() * 8); k > 0; k--) target += parts[Math.floor(random() * parts.length)];
    const once = normalizePath(target);
    if (once === undefined) continue;
    assert.equal(normalizePath(once), once, JSON.stringify(target));
    // What an app reading the path with WHATWG URL resolves is the path routes saw (a leading `//`
    // aside: URL reads it as an authority).
    const path = once.split('?')[0];
    if (!path.startsWith('//')) assert.equal(new URL(path, 'http://h').pathname, path, JSON.stringify(target));
  }
});
