// The control plane's metrics registry renders Prometheus text format 0.0.4: checked with a strict,
// independent parser (test/helpers/prometheus-text.ts), which is itself shown to reject broken input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricsRegistry } from '../../../src/control/metrics.js';
import { routeOf } from '../../../src/control/api-metrics.js';
import { WorkQueue } from '../../../src/control/reconciler.js';
import { parsePrometheusText, sampleValue } from '../../helpers/prometheus-text.js';

test('counters, gauges and histograms render as valid exposition text, values and labels intact', () => {
  const reg = new MetricsRegistry();
  const c = reg.counter('berth_things_total', 'Things done.\nSecond line with a \\ backslash.', ['kind', 'code']);
  c.inc({ kind: 'a', code: '200' });
  c.inc({ kind: 'a', code: '200' }, 2);
  c.inc({ kind: 'weird "quoted" \\ back\nslash', code: '500' });
  const g = reg.gauge('berth_depth', 'Depth.', ['controller']);
  g.set({ controller: 'node' }, 3);
  const off = g.collectFrom(() => [{ labels: { controller: 'deployment' }, value: 7 }]);
  const h = reg.histogram('berth_latency_seconds', 'Latency.', ['op'], [0.01, 0.1, 1]);
  for (const v of [0.005, 0.05, 0.05, 0.5, 5]) h.observe({ op: 'write' }, v);
  h.observe({ op: 'read' }, 0.01);
  reg.counter('berth_unlabelled_total', 'No labels.').inc();

  const text = reg.render();
  const fam = parsePrometheusText(text);
  assert.deepEqual([...fam.keys()], ['berth_things_total', 'berth_depth', 'berth_latency_seconds', 'berth_unlabelled_total']);
  assert.equal(fam.get('berth_things_total')?.type, 'counter');
  assert.equal(fam.get('berth_things_total')?.help, 'Things done.\\nSecond line with a \\\\ backslash.');
  assert.equal(sampleValue(fam, 'berth_things_total', { kind: 'a', code: '200' }), 3);
  assert.equal(sampleValue(fam, 'berth_things_total', { kind: 'weird "quoted" \\ back\nslash' }), 1, 'escaped label value parses back to the original');
  assert.equal(sampleValue(fam, 'berth_depth', { controller: 'node' }), 3);
  assert.equal(sampleValue(fam, 'berth_depth', { controller: 'deployment' }), 7);
  assert.equal(fam.get('berth_latency_seconds')?.type, 'histogram');
  assert.equal(sampleValue(fam, 'berth_latency_seconds_bucket', { op: 'write', le: '0.01' }), 1);
  assert.equal(sampleValue(fam, 'berth_latency_seconds_bucket', { op: 'write', le: '0.1' }), 3);
  assert.equal(sampleValue(fam, 'berth_latency_seconds_bucket', { op: 'write', le: '1' }), 4);
  assert.equal(sampleValue(fam, 'berth_latency_seconds_bucket', { op: 'write', le: '+Inf' }), 5);
  assert.equal(sampleValue(fam, 'berth_latency_seconds_count', { op: 'write' }), 5);
  assert.ok(Math.abs(sampleValue(fam, 'berth_latency_seconds_sum', { op: 'write' })! - 5.605) < 1e-9);
  assert.equal(sampleValue(fam, 'berth_latency_seconds_bucket', { op: 'read', le: '0.01' }), 1, 'le is inclusive');
  assert.equal(sampleValue(fam, 'berth_unlabelled_total'), 1);
  off();
  assert.equal(sampleValue(parsePrometheusText(reg.render()), 'berth_depth', { controller: 'deployment' }), undefined, 'a collector can be removed');
});

test('a work queue in use renders valid text with every controller series', async () => {
  const reg = new MetricsRegistry();
  const q = new WorkQueue(() => {}, { metrics: reg, retryBaseMs: 10_000 });
  q.register({ kind: 'node', reconcile: async () => {} });
  q.register({ kind: 'deployment', workers: 1, reconcile: async (k) => { if (k === 'bad') throw new Error('x'); } });
  q.add('node', 'n1');
  q.add('deployment', 'web');
  q.add('deployment', 'bad');
  await new Promise((r) => setTimeout(r, 30));
  const fam = parsePrometheusText(reg.render());
  for (const controller of ['node', 'deployment']) {
    assert.equal(sampleValue(fam, 'berth_workqueue_depth', { controller }), 0);
    assert.ok(sampleValue(fam, 'berth_workqueue_work_duration_seconds_count', { controller })! >= 1);
  }
  assert.equal(sampleValue(fam, 'berth_controller_reconcile_errors_total', { controller: 'deployment' }), 1);
  q.stop();
});

test('the parser is strict: broken expositions are rejected', () => {
  const ok = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 2\n';
  assert.doesNotThrow(() => parsePrometheusText(ok));
  const broken: [string, RegExp][] = [
    ['a_total{x="1"} 2', /end with a newline/],
    ['# TYPE a_total counter\na_total{x="1} 2\n', /unterminated|not a sample/],
    ['# TYPE a_total counter\na_total{x="a\\q"} 2\n', /bad escape/],
    ['# TYPE a_total counter\na_total{1x="a"} 2\n', /bad label name/],
    ['# TYPE a_total counter\na_total{x="1",x="2"} 2\n', /twice/],
    ['# TYPE a_total counter\na_total 1\na_total 2\n', /twice/],
    ['# TYPE a_total counter\na_total -1\n', /≥ 0/],
    ['# TYPE a_total counter\na_total one\n', /not a sample/],
    ['# TYPE a_total counter\n# TYPE a_total gauge\n', /second TYPE/],
    ['# TYPE a_total counter\na_total 1\n# TYPE b gauge\nb 1\na_total{y="2"} 1\n', /not grouped|continues/],
    ['# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', /\+Inf/],
    ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="2"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n', /cumulative/],
    ['# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n', /≠ _count/],
    ['# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 2\n', /_sum are required/],
    ['# TYPE a_total countr\n', /malformed TYPE/],
  ];
  for (const [text, why] of broken) assert.throws(() => parsePrometheusText(text), why, JSON.stringify(text));
});

test('metric and label names are checked; one name cannot be two kinds of metric', () => {
  const reg = new MetricsRegistry();
  assert.throws(() => reg.counter('bad-name', 'x'), /invalid metric name/);
  assert.throws(() => reg.histogram('h', 'x', ['le']), /invalid label name/);
  assert.throws(() => reg.gauge('g', 'x', ['__reserved']), /invalid label name/);
  reg.counter('c_total', 'x', ['a']);
  assert.equal(reg.counter('c_total', 'x', ['a']), reg.counter('c_total', 'x', ['a']), 'asked again: the same counter');
  assert.throws(() => reg.gauge('c_total', 'x', ['a']), /already registered/);
  assert.throws(() => reg.histogram('h2', 'x', [], [1, 1]), /must increase/);
});

test('API routes are counted by template, so ids and stray paths cannot grow the series', () => {
  assert.equal(routeOf('/api/v1/instances'), '/api/v1/instances');
  assert.equal(routeOf('/api/v1/instances/web-abcde-12345'), '/api/v1/instances/:id');
  assert.equal(routeOf('/api/v1/history/web.v2'), '/api/v1/history/:service');
  assert.equal(routeOf('/api/v1/nodes/node-2/drain'), '/api/v1/nodes/:name/drain');
  assert.equal(routeOf('/api/v1/nodes/node-2/heartbeat'), '/api/v1/nodes/:name/heartbeat');
  assert.equal(routeOf('/metrics'), '/metrics');
  assert.equal(routeOf('/etc/passwd'), 'other');
  assert.equal(routeOf('/api/v1/nodes/a/b/c'), 'other');
});
