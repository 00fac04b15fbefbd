// Parsing of --rate and --filter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFilter, parseRate, type RecordedExchange } from '../../../src/replay/index.js';

const x = (method: string, url: string, headers: [string, string][] = []): RecordedExchange =>
  ({ method, url: new URL(url), headers, body: undefined, source: 't', startedAt: 0, response: { status: 200, headers: [], body: undefined, truncated: false } }) as unknown as RecordedExchange;

test('--rate forms', () => {
  assert.deepEqual(parseRate('original'), { kind: 'original', factor: 1 });
  assert.deepEqual(parseRate('2x'), { kind: 'original', factor: 2 });
  assert.deepEqual(parseRate('0.5x'), { kind: 'original', factor: 0.5 });
  assert.deepEqual(parseRate('250/s'), { kind: 'fixed', perSecond: 250 });
  assert.deepEqual(parseRate('max'), { kind: 'max' });
  for (const bad of ['', '0x', '-1/s', 'fast', '10']) assert.throws(() => parseRate(bad), /--rate must be/);
});

test('--filter short form and route-match form', () => {
  const f1 = parseFilter('GET /api/');
  assert.equal(f1(x('GET', 'http://h/api/items')), true);
  assert.equal(f1(x('POST', 'http://h/api/items')), false);
  assert.equal(f1(x('GET', 'http://h/other')), false);
  const f2 = parseFilter('~/items/[0-9]+');
  assert.equal(f2(x('DELETE', 'http://h/items/12')), true);
  assert.equal(f2(x('DELETE', 'http://h/items/12/x')), false, 'a regex matches the whole path');
  const f3 = parseFilter('{path: {prefix: /api}, method: [GET, HEAD], headers: {x-tenant: {exact: a}}, query: {page: {present: true}}}');
  assert.equal(f3(x('GET', 'http://h/api/x?page=2', [['X-Tenant', 'a']])), true);
  assert.equal(f3(x('GET', 'http://h/api/x', [['X-Tenant', 'a']])), false);
  assert.equal(f3(x('GET', 'http://h/api/x?page=1', [['X-Tenant', 'b']])), false);
  assert.equal(parseFilter('HEAD,GET')(x('HEAD', 'http://h/z')), true);
  assert.throws(() => parseFilter('{path: {glob: "*"}}'), /unknown matcher/);
  assert.throws(() => parseFilter('{colour: red}'), /unknown match field/);
  assert.throws(() => parseFilter('~(['), /invalid RE2 regex/);
  assert.throws(() => parseFilter('GET api'), /must start with/);
});
