// A request's further lines of fields node keeps once (two Authorization lines): found in raw
// header lists, carried beside the headers object (never in it: readers see the first value),
// dropped with the field by a route's rewrite, and carried between proxies over HTTP/2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyHeaderOps } from '../../../src/sidecar/proxy/forward.js';
import { parseRequestHead } from '../../../src/sidecar/proxy/lean-server.js';
import { EXTRA_LINE_HEADER, extraLineFields, extraLinesFromRaw, extraLinesOf, H1_KEPT_ASIDE, setExtraLines, takeH2ExtraLines } from '../../../src/sidecar/proxy/request-headers.js';

test('the lean parser keeps the first Authorization in headers and the second aside; node:http raw lists give the same, in any case', () => {
  const p = parseRequestHead('GET / HTTP/1.1\r\nhost: h\r\nAuthorization: one\r\nx-dup: a\r\nauthorization: two\r\nx-dup: b\r\nAUTHORIZATION: three');
  assert.equal(p?.headers.authorization, 'one');
  assert.equal(p?.headers['x-dup'], 'a, b');
  assert.deepEqual(p?.extra, [['authorization', 'two'], ['authorization', 'three']]);
  assert.equal(parseRequestHead('GET / HTTP/1.1\r\nhost: h\r\nauthorization: one')?.extra, undefined, 'none in the common case');
  assert.deepEqual(extraLinesFromRaw(['Host', 'h', 'Authorization', 'one', 'X-Dup', 'a', 'authorization', 'two', 'x-dup', 'b'], H1_KEPT_ASIDE), [['authorization', 'two']]);
  assert.equal(extraLinesFromRaw(['Host', 'h', 'Authorization', 'one'], H1_KEPT_ASIDE), undefined);
});

test('the extra lines stay out of the headers object\'s keys and go with a field a route removes or replaces', () => {
  const h: Record<string, string | string[] | undefined> = { authorization: 'one', 'user-agent': 'u1', referer: '/a' };
  setExtraLines(h, [['authorization', 'two'], ['user-agent', 'u2'], ['referer', '/b']]);
  assert.deepEqual(Object.keys(h), ['authorization', 'user-agent', 'referer']);
  assert.deepEqual(JSON.parse(JSON.stringify(h)), { authorization: 'one', 'user-agent': 'u1', referer: '/a' });
  applyHeaderOps(h, { remove: ['Authorization'], set: { 'User-Agent': 'mesh' } });
  assert.deepEqual(extraLinesOf(h), [['referer', '/b']]);
});

test('between proxies over HTTP/2 the extra lines travel in a mesh field that the receiver takes off', () => {
  const sent: Record<string, string | string[] | undefined> = { authorization: 'one', referer: '/a' };
  setExtraLines(sent, [['authorization', 'two'], ['referer', '/b']]);
  sent.referer = undefined; // cleared (Connection named it): its lines stay behind
  const fields = extraLineFields(sent);
  assert.deepEqual(fields, ['authorization:two']);
  // The receiver: node joined the field's values; the raw list has each. A line of a field the
  // request lacks, or of a name not kept once (host), is dropped.
  const raw = [':path', '/', 'authorization', 'one', 'authorization', 'one-b', EXTRA_LINE_HEADER, 'authorization:two', EXTRA_LINE_HEADER, 'host:evil', EXTRA_LINE_HEADER, 'from:x@y'];
  const got: Record<string, string | string[] | undefined> = { ':path': '/', authorization: 'one', [EXTRA_LINE_HEADER]: 'authorization:two, host:evil, from:x@y' };
  takeH2ExtraLines(got, raw);
  assert.equal(got[EXTRA_LINE_HEADER], undefined);
  assert.equal(got.authorization, 'one');
  assert.deepEqual(extraLinesOf(got), [['authorization', 'one-b'], ['authorization', 'two']]);
});
