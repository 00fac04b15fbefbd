// `berth traces`: the query its flags make (bad values are usage errors, exit 2) and the text
// waterfall of `berth traces show` (hops in call order, each deeper than its caller, bars on one axis).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMinDuration, renderWaterfall, tracesQuery, waterfallOrder } from '../../../src/cli/commands/traces.js';
import type { TraceSpan } from '../../../src/lib/mesh-protocol.js';

test('flags become the API query; bad values are usage errors', () => {
  assert.equal(tracesQuery({}), '/api/v1/traces?limit=20');
  assert.equal(tracesQuery({ service: 'orders', status: 'error', minDuration: '1.5s', limit: '5' }), '/api/v1/traces?service=orders&status=error&minMs=1500&limit=5');
  assert.equal(parseMinDuration('50'), 50);
  assert.equal(parseMinDuration('50ms'), 50);
  assert.equal(parseMinDuration('2m'), 120_000);
  assert.equal(parseMinDuration('soon'), undefined);
  for (const bad of [{ status: 'bad' }, { minDuration: '-1' }, { limit: '0' }, { service: 'A B' }]) assert.throws(() => tracesQuery(bad), (err: { exitCode?: number; code?: string }) => err.code === 'BERTH_E_USAGE', JSON.stringify(bad));
});

const span = (spanId: string, parentId: string | undefined, kind: 'client' | 'server', service: string, source: string | undefined, start: number, durationMs: number, status = 200): TraceSpan => ({
  traceId: 'a'.repeat(32),
  spanId,
  ...(parentId ? { parentId } : {}),
  kind,
  service,
  ...(source ? { source } : {}),
  variant: 'default',
  route: 'default',
  method: 'GET',
  path: `/${service}`,
  status,
  start,
  durationMs,
  proxy: `${source ?? service}-1`,
});

test('the waterfall: hops depth-first in call order, a bar per span on the trace\'s axis', () => {
  // ingress → web (client), web inbound (server), web → orders (client), orders inbound (server); given out of order.
  const spans = [span('4', '3', 'server', 'orders', 'web', 1040, 20, 503), span('1', undefined, 'client', 'web', 'ingress', 1000, 100), span('3', '2', 'client', 'orders', 'web', 1030, 40, 503), span('2', '1', 'server', 'web', 'ingress', 1010, 80)];
  assert.deepEqual(waterfallOrder(spans).map(({ s, depth }) => [s.spanId, depth]), [['1', 0], ['2', 1], ['3', 2], ['4', 3]]);
  const text = renderWaterfall({ traceId: 'a'.repeat(32), start: 1000, durationMs: 100, root: 'web', services: ['web', 'orders'], status: 503, spans: 4 }, spans, 20);
  const lines = text.split('\n');
  assert.match(lines[0], /trace a{32} .* 2 hop\(s\), 4 span\(s\), 100 ms, status 503/);
  const row = (label: string) => lines.find((l) => l.includes(label))!;
  assert.match(row('ingress → web'), /\|█{20}\|$/, 'the first hop spans the whole trace');
  assert.match(row('web → orders'), /\| {6}█{8} {6}\|$/, '30–70 ms of 100, at 20 columns');
  assert.match(row('    web → orders'), /503/);
  assert.ok(!text.includes('\x1b['), 'no colour when stdout is not a terminal');
});

test('a span whose parent is missing is a root; a repeated span id does not loop', () => {
  const spans = [span('x', 'gone', 'server', 'orders', 'web', 5, 1), span('y', 'y', 'client', 'a', 'b', 1, 1)];
  assert.deepEqual(waterfallOrder(spans).map(({ s }) => s.spanId).sort(), ['x', 'y']);
});

test('a mirror copy\'s hop is marked (shadow) and the shadow\'s spans nest under it, below the primary hop', () => {
  // ingress → web (1) with its copy to web@v2 (5, a child of 1); the shadow's arrival (6) started a
  // millisecond "before" the primary hop on the wall clock: the tree, not the clock, puts it below.
  const copy = { ...span('5', '1', 'client', 'web', 'ingress', 1001, 20), shadow: true };
  const spans = [{ ...span('6', '5', 'server', 'web', 'ingress', 999, 18), variant: 'v2' }, copy, span('2', '1', 'server', 'web', 'ingress', 1002, 80), span('1', undefined, 'client', 'web', 'ingress', 1000, 100)];
  assert.deepEqual(waterfallOrder(spans).map(({ s, depth }) => [s.spanId, depth]), [['1', 0], ['5', 1], ['6', 2], ['2', 1]]);
  const lines = renderWaterfall({ traceId: 'a'.repeat(32), start: 999, durationMs: 101, root: 'web', services: ['web'], status: 200, spans: 4 }, spans, 20).split('\n');
  assert.ok(lines.some((l) => /^ {2}ingress → web \(shadow\)/.test(l)), lines.join('\n'));
  assert.equal(lines.filter((l) => l.includes('(shadow)')).length, 1);
  assert.ok(lines.some((l) => /^ {4}web \(inbound, v2\)/.test(l)), 'the shadow\'s arrival names its variant');
  assert.ok(lines.some((l) => /^ {2}web \(inbound\) /.test(l)), 'the default variant is not named');
});
