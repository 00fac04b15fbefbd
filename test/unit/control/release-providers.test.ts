// The analysis providers against real HTTP servers on loopback: a small server speaking the
// Prometheus HTTP API (/api/v1/query: vector, scalar, errors), a web endpoint (JSON, jsonPath,
// non-2xx, not JSON, too slow), and for the berth provider real mesh-proxy admin endpoints
// (/mesh/stats) on each instance's own address, read through the control plane's read model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AnalysisMetricSpec } from '../../../src/contract/index.js';
import { STATS_BUCKETS, type MeshStatsSeries } from '../../../src/lib/mesh-protocol.js';
import { AnalysisRunner, berthProvider, jsonPathValue, measurePrometheus, measureWeb, newAnalysisRun, windowStats, worldStatsSource, type MeasureContext } from '../../../src/control/release/index.js';
import { desiredState, makeWorld, observeAll, service } from '../../helpers/control-world.js';

const ctx = (): MeasureContext => ({ service: 'web', canary: 'canary', stable: 'default', signal: new AbortController().signal });
const metric = (provider: AnalysisMetricSpec['provider'], over: Partial<AnalysisMetricSpec> = {}): AnalysisMetricSpec => ({ name: 'm', failureLimit: 0, inconclusiveLimit: 0, consecutiveErrorLimit: 4, provider, ...over });

async function serve(handler: http.RequestListener, host = '127.0.0.1', port = 0): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const addr = server.address() as AddressInfo;
  return { url: `http://${host}:${addr.port}`, close: () => new Promise((r) => server.close(() => r())) };
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

/** The Prometheus HTTP API's /api/v1/query, for a few fixed queries. */
function prometheusApi(seen: string[]): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/api/v1/query') return json(res, 404, { status: 'error', errorType: 'not_found', error: 'no route' });
    const q = url.searchParams.get('query') ?? '';
    seen.push(q);
    const t = Number(url.searchParams.get('time'));
    if (q === 'sum(rate(ok[1m])) / sum(rate(all[1m]))') return json(res, 200, { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [t, '0.975'] }] } });
    if (q === 'nothing') return json(res, 200, { status: 'success', data: { resultType: 'vector', result: [] } });
    if (q === 'scalar(1)') return json(res, 200, { status: 'success', data: { resultType: 'scalar', result: [t, '1'] } });
    if (q === 'nan') return json(res, 200, { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [t, 'NaN'] }, { metric: {}, value: [t, '+Inf'] }] } });
    return json(res, 400, { status: 'error', errorType: 'bad_data', error: `1:1: parse error: unexpected "${q}"` });
  };
}

test('prometheus: a vector is a list of values (result[0]); scalar; NaN/Inf; an API error or an unreachable server is an Error', async () => {
  const seen: string[] = [];
  const prom = await serve(prometheusApi(seen));
  try {
    const m = (query: string) => metric({ prometheus: { address: prom.url, query } });
    assert.deepEqual(await measurePrometheus(m('sum(rate(ok[1m])) / sum(rate(all[1m]))'), ctx()), [0.975]);
    assert.deepEqual(await measurePrometheus(m('nothing'), ctx()), []);
    assert.equal(await measurePrometheus(m('scalar(1)'), ctx()), 1);
    const special = (await measurePrometheus(m('nan'), ctx())) as number[];
    assert.ok(Number.isNaN(special[0]) && special[1] === Infinity);
    await assert.rejects(measurePrometheus(m('sum(('), ctx()), /bad_data: 1:1: parse error/);
    assert.equal(seen[0], 'sum(rate(ok[1m])) / sum(rate(all[1m]))', 'the query reaches the server intact');
    // Through the runner, with Argo's usual condition: the verdict comes from the real answer.
    const runner = new AnalysisRunner({ providers: { prometheus: measurePrometheus, web: measureWeb, berth: measurePrometheus } });
    const defs = { t: { metrics: [{ ...m('sum(rate(ok[1m])) / sum(rate(all[1m]))'), successCondition: 'len(result) > 0 && result[0] >= 0.95' }] } };
    const run = await runner.runToCompletion(newAnalysisRun('r', ['t'], defs, { service: 'web' }, Date.now()));
    assert.equal(run.phase, 'Successful');
    const none = await runner.runToCompletion(newAnalysisRun('r', ['t'], { t: { metrics: [{ ...m('nothing'), successCondition: 'result[0] >= 0.95', consecutiveErrorLimit: 0 }] } }, { service: 'web' }, Date.now()));
    assert.equal(none.phase, 'Error', 'no data: result[0] cannot be read');
  } finally {
    await prom.close();
  }
  const closed = metric({ prometheus: { address: prom.url, query: 'up' } });
  await assert.rejects(measurePrometheus(closed, ctx()), /ECONNREFUSED/);
});

test('web: the JSON answer is result, jsonPath picks a part, headers are sent; non-2xx, not JSON and timeouts are Errors', async () => {
  const web = await serve((req, res) => {
    if (req.url === '/ok') return json(res, 200, { data: { ok: true, checks: [{ latencyMs: 12 }] }, token: req.headers['x-token'] ?? null });
    if (req.url === '/down') return json(res, 503, { error: 'down' });
    if (req.url === '/html') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hi</html>');
    if (req.url === '/slow') return void setTimeout(() => json(res, 200, {}), 3000).unref();
    json(res, 404, {});
  });
  try {
    const m = (path: string, over: Partial<NonNullable<AnalysisMetricSpec['provider']['web']>> = {}) => metric({ web: { url: `${web.url}${path}`, headers: [], ...over } });
    assert.deepEqual(await measureWeb(m('/ok', { headers: [{ key: 'x-token', value: 's3cret' }] }), ctx()), { data: { ok: true, checks: [{ latencyMs: 12 }] }, token: 's3cret' });
    assert.equal(await measureWeb(m('/ok', { jsonPath: '{$.data.ok}' }), ctx()), true);
    assert.equal(await measureWeb(m('/ok', { jsonPath: "$.data.checks[0]['latencyMs']" }), ctx()), 12);
    await assert.rejects(measureWeb(m('/ok', { jsonPath: '$.data.missing' }), ctx()), /no field missing/);
    await assert.rejects(measureWeb(m('/down'), ctx()), /status 503/);
    await assert.rejects(measureWeb(m('/html'), ctx()), /not JSON/);
    await assert.rejects(measureWeb(m('/slow', { timeoutSeconds: 1 }), ctx()), /no answer within 1s/);
  } finally {
    await web.close();
  }
  assert.throws(() => jsonPathValue({}, 'data.ok'), /must start with \$/);
});

/** Cumulative inbound counters after `n` requests with `errors` of them failed, all in the bucket at `ms`. */
function series(n: number, errors: number, ms: number): MeshStatsSeries[] {
  const bucket = STATS_BUCKETS.findIndex((b) => b * 1000 >= ms);
  return [
    { direction: 'inbound', destination: 'web', variant: 'x', count: n, errors, buckets: STATS_BUCKETS.map((_, i) => (i >= bucket ? n : 0)), sum: (n * ms) / 1000 },
    // Outbound calls of the instance are not its own traffic: ignored.
    { direction: 'outbound', destination: 'db', variant: 'default', count: 1000, errors: 1000, buckets: STATS_BUCKETS.map(() => 1000), sum: 1 },
  ];
}

test('windowStats: canary and stable over the same window; endpoints read once are left out; a restarted proxy counts from zero', () => {
  const before = [
    { id: 'c1', variant: 'canary', series: series(100, 0, 20) },
    { id: 's1', variant: 'default', series: series(1000, 0, 10) },
    { id: 's2', variant: 'default', series: series(500, 0, 10) },
  ];
  const after = [
    { id: 'c1', variant: 'canary', series: series(200, 10, 20) },
    { id: 's1', variant: 'default', series: series(1300, 3, 10) },
    { id: 's2', variant: 'default', series: series(50, 0, 10) }, // restarted: 50 since
    { id: 's3', variant: 'default', series: series(9999, 9999, 10) }, // new: no window of its own
  ];
  const r = windowStats(before, after, 2, 'canary', 'default');
  assert.equal(r.canary.requests, 100);
  assert.equal(r.canary.rps, 50);
  assert.equal(r.canary.errorRate, 0.1);
  assert.equal(r.canary.successRate, 0.9);
  assert.equal(r.stable.requests, 350);
  assert.equal(r.stable.errorRate, 0.008571);
  assert.ok(r.canary.p99Ms! > r.stable.p99Ms!, `${r.canary.p99Ms} > ${r.stable.p99Ms}`);
  assert.ok(r.canary.p50Ms! <= 25 && r.canary.p50Ms! > 10);
  const idle = windowStats(before, before, 2, 'canary', 'default');
  assert.equal(idle.canary.requests, 0);
  assert.equal(idle.canary.errorRate, null);
  assert.equal(idle.canary.p99Ms, null);
});

test('berth provider: reads every ready canary and stable instance on its proxy admin port, over one window', async () => {
  const t = makeWorld(desiredState([service('web', { port: 8080, replicas: 2 }), service('web.canary', { port: 8080, revision: 'webrev2bbbb' })]));
  // Instances at addresses of their own (as pods), each with a proxy admin port (15001 for port 8080).
  const hosts = { 'web-a': '127.203.77.2', 'web-b': '127.203.77.3', 'web-c': '127.203.77.4' };
  t.world.insertInstance({ id: 'web-a', service: 'web', revision: 'webrev1aaaa', node: '', host: '' });
  t.world.insertInstance({ id: 'web-b', service: 'web', revision: 'webrev1aaaa', node: '', host: '' });
  t.world.insertInstance({ id: 'web-c', service: 'web.canary', revision: 'webrev2bbbb', node: '', host: '' });
  for (const [id, host] of Object.entries(hosts)) t.world.bindInstance(id, 'node-1', host);
  observeAll(t);
  const reads = new Map<string, number>();
  // Each proxy's counters grow between the two reads of the window: stable fast and clean, canary slow with 10 % errors.
  const script: Record<string, [MeshStatsSeries[], MeshStatsSeries[]]> = {
    'web-a': [series(1000, 0, 8), series(1100, 0, 8)],
    'web-b': [series(2000, 1, 8), series(2100, 1, 8)],
    'web-c': [series(10, 0, 220), series(60, 5, 220)],
  };
  const proxies = await Promise.all(
    Object.entries(hosts).map(([id, host]) =>
      serve(
        (req, res) => {
          if (req.url !== '/mesh/stats') return json(res, 404, {});
          const n = reads.get(id) ?? 0;
          reads.set(id, n + 1);
          json(res, 200, script[id][Math.min(n, 1)]);
        },
        host,
        15001,
      ),
    ),
  );
  try {
    const provider = berthProvider(worldStatsSource(t.world));
    const m = metric({ berth: { window: 300 } }, { successCondition: 'result.canary.errorRate <= 0.01 && result.canary.p99Ms < result.stable.p99Ms * 1.2' });
    const started = performance.now();
    const value = (await provider(m, ctx())) as { canary: { requests: number; errorRate: number; p99Ms: number }; stable: { requests: number; errorRate: number; p99Ms: number }; windowSeconds: number };
    assert.ok(performance.now() - started >= 300, 'the window is waited');
    assert.equal(value.canary.requests, 50);
    assert.equal(value.canary.errorRate, 0.1);
    assert.equal(value.stable.requests, 200);
    assert.equal(value.stable.errorRate, 0);
    assert.ok(value.canary.p99Ms > 100 && value.stable.p99Ms < 10, JSON.stringify(value));
    assert.ok(value.windowSeconds >= 0.3);
    assert.deepEqual([...reads.values()], [2, 2, 2]);
    // Judged through the runner: 10 % errors and a slower p99 fail the canary.
    reads.clear();
    const runner = new AnalysisRunner({ providers: { berth: provider, prometheus: provider, web: provider } });
    const run = await runner.runToCompletion(newAnalysisRun('r', ['t'], { t: { metrics: [m] } }, { service: 'web', canary: 'canary', stable: 'default' }, Date.now()));
    assert.equal(run.phase, 'Failed');
    assert.match(run.metrics[0].measurements[0].message ?? '', /successCondition does not hold/);
    // No ready canary endpoint: the measurement cannot be taken (an Error, not a verdict on the canary).
    await assert.rejects(provider(m, { ...ctx(), canary: 'nope' }), /no ready canary endpoint \(variant nope\)/);
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
    t.close();
  }
});

test('berth provider: the next measurement of the same metric about one window later starts from the last reading (no wait)', async () => {
  let reads = 0;
  // Counters that grow by 100 requests (5 errors) per read, for one canary and one stable endpoint.
  const source = {
    sample: async () => {
      reads++;
      return [
        { id: 'c', variant: 'canary', series: series(100 * reads, 5 * reads, 20) },
        { id: 's', variant: 'default', series: series(1000 * reads, 0, 10) },
      ];
    },
  };
  let shift = 0;
  const provider = berthProvider(source, () => performance.now() + shift);
  const m = metric({ berth: {} }, { interval: 200 });
  const keyed = { ...ctx(), key: 'run-1/t.m' };
  let started = performance.now();
  const first = (await provider(m, keyed)) as { canary: { requests: number; errorRate: number } };
  // A 200 ms timer may fire a fraction of a millisecond early as performance.now() counts (CI saw it).
  assert.ok(performance.now() - started >= 199, 'the first measurement waits its window (the interval)');
  assert.equal(reads, 2);
  assert.equal(first.canary.requests, 100);
  shift += 200; // one interval later
  started = performance.now();
  const second = (await provider(m, keyed)) as { canary: { requests: number; errorRate: number }; stable: { requests: number }; windowSeconds: number };
  assert.ok(performance.now() - started < 150, 'no wait: the previous reading starts the window');
  assert.equal(reads, 3);
  assert.equal(second.canary.requests, 100);
  assert.equal(second.canary.errorRate, 0.05);
  assert.equal(second.stable.requests, 1000);
  assert.ok(second.windowSeconds >= 0.2);
  // Another metric (another key) has no reading of its own yet: it waits its window.
  started = performance.now();
  await provider(m, { ...ctx(), key: 'run-1/t.other' });
  assert.ok(performance.now() - started >= 199); // as above: the timer may fire a fraction of a millisecond early
});
