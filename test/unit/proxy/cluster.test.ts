import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import type { MeshEndpoint, MeshPolicy, MeshSnapshot } from '../../../src/lib/mesh-protocol.js';
import { Cluster, CONNECT_FAILURE } from '../../../src/sidecar/proxy/cluster.js';
import { EndpointRegistry, EndpointState } from '../../../src/sidecar/proxy/endpoints.js';
import { RoutingTable } from '../../../src/sidecar/proxy/routing-table.js';
import { ThrottleRegistry } from '../../../src/sidecar/proxy/throttle.js';
import type { RequestHead } from '../../../src/sidecar/proxy/routes.js';

const ep = (id: string, variant = 'default'): MeshEndpoint => ({ id, host: '127.0.0.1', port: 1, variant });
const req = (path = '/', headers: RequestHead['headers'] = {}): RequestHead => ({ url: path, method: 'GET', headers });
const outlier = (o: Partial<NonNullable<MeshPolicy['outlierDetection']>> = {}): NonNullable<MeshPolicy['outlierDetection']> => ({ consecutive5xxErrors: 1, consecutiveGatewayErrors: 0, interval: 10_000, baseEjectionTime: 30_000, maxEjectionPercent: 100, ...o });

test('maxEjectionPercent counts the whole service, also when routes pick variants (an ejection leaves every cluster)', () => {
  const policy: MeshPolicy = { balancer: 'round_robin', outlierDetection: outlier({ maxEjectionPercent: 25 }) };
  const snapshot: MeshSnapshot = {
    version: 1,
    app: 't',
    services: [{ name: 'svc', port: 3, endpoints: [ep('e0', 'v1'), ep('e1', 'v1'), ep('e2', 'v2'), ep('e3', 'v2')] }],
    config: {
      accessLog: false,
      services: {
        svc: {
          routes: [
            { name: 'v1', match: { path: { prefix: '/v1' } }, to: [{ service: 'svc', variant: 'v1', weight: 100 }] },
            { name: 'v2', match: { path: { prefix: '/v2' } }, to: [{ service: 'svc', variant: 'v2', weight: 100 }] },
          ],
          policy,
        },
      },
    },
  };
  const table = new RoutingTable(snapshot, new EndpointRegistry(), new ThrottleRegistry());
  const svc = table.services.get('svc')!;
  const v1 = svc.route(req('/v1'))!.destination();
  const v2 = svc.route(req('/v2'))!.destination();
  assert.equal(v1.name, 'svc/v1');
  assert.equal(v2.name, 'svc/v2');
  const [e0, , e2] = svc.cluster.endpoints;
  v1.record(e0, 500);
  v2.record(e2, 500);
  const now = performance.now();
  // 25 % of 4 endpoints is one: the second variant's failing endpoint stays in.
  assert.deepEqual(
    svc.cluster.endpoints.filter((e) => e.ejected(now)).map((e) => e.id),
    ['e0'],
  );
});

test('a cluster built without the service list counts its own endpoints (unchanged)', () => {
  const eps = [new EndpointState('a', ep('a')), new EndpointState('b', ep('b'))];
  const c = new Cluster('svc', eps, { balancer: 'round_robin', outlierDetection: outlier({ maxEjectionPercent: 50 }) });
  c.record(eps[0], 500);
  c.record(eps[1], 500);
  const now = performance.now();
  assert.deepEqual(eps.map((e) => e.ejected(now)), [true, false]);
});

/** Runs `fn` with performance.now() reading the returned clock (cluster.ts reads it through node:perf_hooks). */
function withClock(fn: (clock: { t: number }) => void): void {
  const clock = { t: 1_000_000 };
  const m = mock.method(performance, 'now', () => clock.t);
  try {
    fn(clock);
  } finally {
    m.mock.restore();
  }
}

/** Ejects `ep` (one failure trips) and returns how long it is out. */
function ejectFor(c: Cluster, e: EndpointState, clock: { t: number }): number {
  c.record(e, 500);
  assert.ok(e.ejected(clock.t), 'ejected');
  return e.ejectedUntil - clock.t;
}

test('ejection multiplier: falls by one for each interval the endpoint stays in, as Envoy', () => {
  withClock((clock) => {
    const eps = [new EndpointState('a', ep('a')), new EndpointState('b', ep('b'))];
    const c = new Cluster('svc', eps, { balancer: 'round_robin', outlierDetection: outlier({ interval: 100, baseEjectionTime: 200, maxEjectionPercent: 50 }) });
    const [a] = eps;
    // Ejected again as soon as it is back: 1, 2, 3 × base.
    const times = [];
    for (let i = 0; i < 3; i++) {
      times.push(ejectFor(c, a, clock));
      clock.t = a.ejectedUntil;
    }
    assert.deepEqual(times, [200, 400, 600]);
    // In for one interval: 3 → 2, then this ejection makes it 3 again.
    clock.t += 100;
    assert.equal(ejectFor(c, a, clock), 600);
    // In for 15 intervals: back to zero, so this ejection is one base time.
    clock.t = a.ejectedUntil + 1500;
    assert.equal(ejectFor(c, a, clock), 200);
  });
});

test('ejection time is capped at 300 s (Envoy max_ejection_time), or at the base time when that is longer', () => {
  withClock((clock) => {
    const eps = [new EndpointState('a', ep('a')), new EndpointState('b', ep('b'))];
    const c = new Cluster('svc', eps, { balancer: 'round_robin', outlierDetection: outlier({ interval: 1_000_000, baseEjectionTime: 120_000, maxEjectionPercent: 50 }) });
    const times = [];
    for (let i = 0; i < 5; i++) {
      times.push(ejectFor(c, eps[0], clock));
      clock.t = eps[0].ejectedUntil;
    }
    assert.deepEqual(times, [120_000, 240_000, 300_000, 300_000, 300_000]);
    const long = new Cluster('svc', eps, { balancer: 'round_robin', outlierDetection: outlier({ interval: 1_000_000, baseEjectionTime: 400_000, maxEjectionPercent: 50 }) });
    const b = eps[1];
    const longTimes = [];
    for (let i = 0; i < 3; i++) {
      longTimes.push(ejectFor(long, b, clock));
      clock.t = b.ejectedUntil;
    }
    assert.deepEqual(longTimes, [400_000, 400_000, 400_000]);
  });
});

/** Endpoints a and b seen in the first snapshot (old), c just joined (young for a 5 s slow start). */
function warmingUp(): EndpointState[] {
  const eps = [new EndpointState('a', ep('a')), new EndpointState('b', ep('b')), new EndpointState('c', ep('c'))];
  eps[0].firstSeen = -Infinity;
  eps[1].firstSeen = -Infinity;
  return eps;
}

test('slow start leaves consistent hash alone: a key keeps its endpoint while another warms up', () => {
  const eps = warmingUp();
  const hashOnly = new Cluster('svc', eps, { balancer: { consistentHash: { header: 'x-user' } } });
  const c = new Cluster('svc', eps, { balancer: { consistentHash: { header: 'x-user' } }, slowStart: { window: 5000, minWeightPercent: 10 } });
  for (const user of ['alice', 'bob', 'carol', 'dave']) {
    const r = req('/', { 'x-user': user });
    const home = hashOnly.pick(r, undefined)!.id;
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) seen.add(c.pick(r, undefined)!.id);
    assert.deepEqual([...seen], [home], user);
  }
});

test('slow start with least_request still steers by in-flight requests, and the new endpoint ramps', () => {
  const eps = warmingUp();
  const [a, b] = eps;
  a.active = 50;
  const c = new Cluster('svc', eps, { balancer: 'least_request', slowStart: { window: 5000, minWeightPercent: 10 } });
  const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
  const n = 2000;
  for (let i = 0; i < n; i++) counts[c.pick(req(), undefined)!.id]++;
  // Weights 1/(50+1), 1/(0+1), 0.1/(0+1): a gets about 2 %, c (warming up) about 9 %, b the rest.
  assert.ok(counts.a < n * 0.06, JSON.stringify(counts));
  assert.ok(counts.c > 0 && counts.c < n * 0.2, JSON.stringify(counts));
  assert.ok(counts.b > n * 0.75, JSON.stringify(counts));
  assert.equal(b.active, 0);
});

test('slow start with round_robin ramps the new endpoint from minWeightPercent', () => {
  const eps = warmingUp();
  const c = new Cluster('svc', eps, { balancer: 'round_robin', slowStart: { window: 5000, minWeightPercent: 10 } });
  const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
  const n = 2000;
  for (let i = 0; i < n; i++) counts[c.pick(req(), undefined)!.id]++;
  // Weights 1, 1, 0.1: c gets about 5 %.
  assert.ok(counts.c > 0 && counts.c < n * 0.12, JSON.stringify(counts));
});

test('round robin does not start over at the first endpoint with every snapshot (every proxy sent its next request there)', () => {
  // Each snapshot rebuilds every cluster (a change anywhere in the app: a rolling deploy sends one
  // every few seconds). A caller sending less than a round between snapshots sent everything to the
  // first endpoint, in every proxy at once (Envoy's round robin is rebuilt only when its own
  // cluster's hosts change). The position is kept across snapshots now.
  const registry = new EndpointRegistry();
  const throttles = new ThrottleRegistry();
  const picked = new Map<string, number>();
  for (let version = 1; version <= 60; version++) {
    const snapshot: MeshSnapshot = {
      version,
      app: 't',
      services: [
        { name: 'svc', port: 3, endpoints: [ep('e0'), ep('e1'), ep('e2')] },
        { name: 'other', port: 4, endpoints: [ep(`o${version}`)] },
      ],
      config: { accessLog: false, services: { svc: { policy: { balancer: 'round_robin' } } } },
    };
    const id = new RoutingTable(snapshot, registry, throttles).services.get('svc')!.cluster.pick(req(), undefined)!.id;
    picked.set(id, (picked.get(id) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(picked), { e0: 20, e1: 20, e2: 20 }, 'one request after each of 60 snapshots');
});

test('consecutive gateway errors: a 500 between them breaks the run, as in Envoy (only a success did)', () => {
  const e = new EndpointState('a', ep('a'));
  const other = new EndpointState('b', ep('b'));
  const c = new Cluster('svc', [e, other], { balancer: 'round_robin', outlierDetection: outlier({ consecutive5xxErrors: 0, consecutiveGatewayErrors: 3 }) });
  for (const status of [502, 500, 503, 500, 504]) c.record(e, status);
  assert.equal(e.ejected(performance.now()), false, 'no three gateway errors in a row');
  for (const status of [502, CONNECT_FAILURE, 504]) c.record(e, status);
  assert.equal(e.ejected(performance.now()), true, 'three in a row eject');
});
