// The differ: JSON per field with `$.items[3].price` paths, text by line, status and chosen
// headers, ignore rules, noise learnt from a baseline, route patterns and the per-endpoint report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DiffCollector, diffResponses, endpointKey, renderHtmlReport, routePattern, type ComparableResponse } from '../../../src/replay/index.js';

const json = (v: unknown, status = 200, extra: [string, string][] = []): ComparableResponse => ({ status, headers: [['content-type', 'application/json'], ...extra], body: Buffer.from(JSON.stringify(v)) });
const text = (s: string): ComparableResponse => ({ status: 200, headers: [['content-type', 'text/plain']], body: Buffer.from(s) });

test('JSON differences are reported per field with their paths', () => {
  const items = (p: number) => [0, 1, 2, 3].map((i) => ({ sku: `s${i}`, price: i === 3 ? p : 1 }));
  const d = diffResponses(json({ items: items(10), total: 4, meta: { 'odd key': 1 } }), json({ items: items(12), total: 4, extra: true, meta: { 'odd key': 2 } }));
  assert.deepEqual(d, [
    { path: '$.items[3].price', expected: '10', actual: '12' },
    { path: '$.meta["odd key"]', expected: '1', actual: '2' },
    { path: '$.extra', expected: '<missing>', actual: 'true' },
  ]);
  assert.deepEqual(diffResponses(json([1, 2]), json([1])), [{ path: '$[1]', expected: '2', actual: '<missing>' }]);
  assert.deepEqual(diffResponses(json({ a: 1 }), json({ a: 1 })), []);
});

test('status, chosen headers, text lines and bodies', () => {
  assert.deepEqual(diffResponses(json({}, 200), json({}, 500)), [{ path: 'status', expected: '200', actual: '500' }]);
  assert.deepEqual(diffResponses(json({}, 200, [['x-a', '1']]), json({}, 200, [['x-a', '2']]), { headers: ['x-a'] }), [{ path: 'header:x-a', expected: '1', actual: '2' }]);
  assert.deepEqual(diffResponses(json({}, 200, [['x-a', '1']]), json({}, 200, [['x-a', '2']])), [], 'only chosen headers are compared');
  assert.deepEqual(diffResponses(text('a\nb\nc\nd'), text('a\nB\nc\nd')), [{ path: 'line 2', expected: '"b"', actual: '"B"' }]);
  assert.deepEqual(diffResponses(text('a\nd'), text('a\nx\nd')), [{ path: 'line 2', expected: '<missing>', actual: '"x"' }]);
  const bin = (b: number[]): ComparableResponse => ({ status: 200, headers: [['content-type', 'image/png']], body: Buffer.from(b) });
  assert.equal(diffResponses(bin([0, 1, 2]), bin([0, 1, 3]))[0].path, 'body');
  // A truncated recording: only its prefix is compared.
  assert.deepEqual(diffResponses({ ...text('abc'), truncated: true }, text('abcdef')), []);
  assert.equal(diffResponses({ ...text('abX'), truncated: true }, text('abcdef'))[0].path, 'body');
  // A browser HAR without the body: not compared.
  assert.deepEqual(diffResponses({ status: 200, headers: [['content-type', 'text/plain']], body: undefined }, text('anything')), []);
});

test('ignore rules: JSON paths with [*] and what is under them, and header names', () => {
  const a = json({ meta: { now: 1, host: 'a' }, items: [{ id: 1, p: 1 }, { id: 2, p: 1 }] }, 200, [['x-req', '1']]);
  const b = json({ meta: { now: 2, host: 'b' }, items: [{ id: 7, p: 1 }, { id: 8, p: 2 }] }, 200, [['x-req', '2']]);
  const d = diffResponses(a, b, { ignore: ['$.meta', '$.items[*].id', 'X-Req'], headers: ['x-req'] });
  assert.deepEqual(d, [{ path: '$.items[1].p', expected: '1', actual: '2' }]);
});

test('route patterns collapse numbers, uuids and ids', () => {
  assert.equal(routePattern('/orders/42/items/9f1c2a4e-1b2c-4d5e-8f90-0123456789ab'), '/orders/{n}/items/{uuid}');
  assert.equal(routePattern('/u/507f1f77bcf86cd799439011/avatar'), '/u/{id}/avatar');
  assert.equal(routePattern('/t/01HZX3K8Q9V7M2N4P6R8S0T2V4/x'), '/t/{id}/x');
  assert.equal(routePattern('/api/v2/catalog'), '/api/v2/catalog');
  assert.equal(routePattern('/'), '/');
  assert.equal(endpointKey('get', '/items/3'), 'GET /items/{n}');
});

test('a field that differs between two runs of the same code is noise; a changed field is reported', () => {
  const c = new DiffCollector();
  for (let i = 0; i < 5; i++) {
    const recorded = json({ id: i, price: 10 + i, at: `2026-01-01T00:00:0${i}Z` });
    const baseline = json({ id: i, price: 10 + i, at: `2026-12-05T08:00:0${i}Z` }); // same code, later
    const candidate = json({ id: i, price: i === 3 ? 99 : 10 + i, at: `2026-12-05T08:00:1${i}Z` });
    c.compare({ method: 'GET', url: `http://x/items/${i}` }, recorded, candidate, baseline);
  }
  c.compare({ method: 'GET', url: 'http://x/health' }, text('ok'), text('ok'));
  c.failed({ method: 'GET', url: 'http://x/health' });
  const r = c.report();
  assert.equal(r.requests, 7);
  assert.equal(r.failed, 1);
  assert.equal(r.diffs, 1);
  const items = r.endpoints.find((e) => e.endpoint === 'GET /items/{n}')!;
  assert.deepEqual(items.noise, ['$.at']);
  assert.deepEqual(items.fields, [{ path: '$.price', count: 1, examples: [{ expected: '13', actual: '99', request: 'GET /items/3' }] }]);
  assert.equal(r.diffPercent, Math.round((1 / 6) * 10000) / 100);
  const html = renderHtmlReport(r, { title: 'replay <test>' });
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /replay &lt;test&gt;/);
  assert.match(html, /\$\.price/);
  assert.doesNotMatch(html, /<script|<link|src=/, 'self-contained');
});

test('noise learnt late still applies to earlier requests of the endpoint', () => {
  const c = new DiffCollector();
  c.compare({ method: 'GET', url: 'http://x/a' }, json({ t: 1 }), json({ t: 2 })); // no baseline yet
  c.compare({ method: 'GET', url: 'http://x/a' }, json({ t: 1 }), json({ t: 3 }), json({ t: 4 }));
  assert.equal(c.report().diffs, 0);
});

test('a long run folds old requests into counts and still reports them all', () => {
  const c = new DiffCollector();
  const a = json({ x: 1 });
  const b = json({ x: 2 });
  for (let i = 0; i < 30_000; i++) c.compare({ method: 'GET', url: `http://x/a/${i}` }, a, b);
  const r = c.report();
  assert.equal(r.requests, 30_000);
  assert.equal(r.diffs, 30_000);
  assert.deepEqual(r.endpoints[0].fields.map((f) => [f.path, f.count, f.examples.length]), [['$.x', 30_000, 3]]);
});
