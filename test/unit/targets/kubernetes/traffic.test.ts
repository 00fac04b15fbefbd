// Service routes and destination policy → Istio VirtualService + DestinationRule, or a Gateway API
// mesh HTTPRoute; validated against their schemas; what a mesh cannot express is a warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateObjects } from '../../../../src/targets/kubernetes/index.js';
import { find, renderYaml } from './helpers.js';

const SPEC = `
app: x
ingress: { port: 9000, routes: [{ to: orders }] }
services:
  web: { run: node w.js, port: 8080, uses: [orders] }
  orders:
    run: node o.js
    port: 8081
    routes:
      - name: canary
        match: { path: { prefix: /api }, method: [GET, POST], headers: { X-User: { exact: beta }, X-Debug: { present: true }, X-No: { present: false } }, query: { v: { prefix: "2" } } }
        to: [{ service: orders, weight: 2 }, { service: web, weight: 1 }]
        timeout: 2.5
        retries: { attempts: 3, perTryTimeout: 500ms, retryOn: [5xx, reset] }
        headers: { request: { set: { x-a: "1" } }, response: { remove: [server] } }
      - match: { path: { regex: "^/v[0-9]+/[a-z]+" } }
        retries: { attempts: 1, nonIdempotent: true }
      - fault: { delay: { percent: 10, fixedDelay: 1 }, abort: { percent: 5, status: 503 } }
        mirror: { service: web, percent: 20 }
    policy:
      balancer: least_request
      outlierDetection: { consecutive5xxErrors: 3, interval: 5, baseEjectionTime: 250ms }
      connectionPool: { maxConnections: 10, maxPendingRequests: 5, maxRequestsPerConnection: 100 }
`;

test('Istio: VirtualService with the routes in order, DestinationRule with the policy; all valid', async () => {
  const r = await renderYaml(SPEC);
  assert.deepEqual(await validateObjects(r.objects), []);
  const vs = find(r, 'VirtualService', 'orders');
  assert.deepEqual(vs.spec.hosts, ['orders']);
  const [noRetry, canary, v, faulty] = vs.spec.http;
  assert.equal(noRetry.name, 'canary-no-retry', 'POST is not retried unless asked, as locally: it gets a copy without retries, first');
  assert.deepEqual(noRetry.retries, { attempts: 0 });
  assert.deepEqual(noRetry.match[0].method, { exact: 'POST' });
  assert.deepEqual(canary.match[0].method, { exact: 'GET' });
  assert.deepEqual(canary.retries, { attempts: 3, perTryTimeout: '500ms', retryOn: '5xx,reset' });
  assert.equal(canary.timeout, '2500ms');
  assert.deepEqual(canary.match[0].uri, { prefix: '/api' });
  assert.deepEqual(canary.match[0].headers, { 'x-debug': { regex: '.*' }, 'x-user': { exact: 'beta' } });
  assert.deepEqual(canary.match[0].withoutHeaders, { 'x-no': { regex: '.*' } });
  assert.deepEqual(canary.match[0].queryParams, { v: { regex: '2.*' } });
  assert.deepEqual(canary.route, [
    { destination: { host: 'orders', port: { number: 8081 } }, weight: 67 },
    { destination: { host: 'web', port: { number: 8080 } }, weight: 33 },
  ]);
  assert.deepEqual(canary.headers, { request: { set: { 'x-a': '1' } }, response: { remove: ['server'] } });
  assert.deepEqual(v.retries, { attempts: 1, retryOn: 'connect-failure,reset' });
  assert.deepEqual(v.match, [{ uri: { regex: '^/v[0-9]+/[a-z]+' } }]);
  assert.deepEqual(faulty.fault, { delay: { percentage: { value: 10 }, fixedDelay: '1s' }, abort: { percentage: { value: 5 }, httpStatus: 503 } });
  assert.deepEqual(faulty.mirror, { host: 'web', port: { number: 8080 } });
  assert.deepEqual(faulty.mirrorPercentage, { value: 20 });
  assert.deepEqual(faulty.route, [{ destination: { host: 'orders', port: { number: 8081 } } }], 'no `to`: this service');
  const dr = find(r, 'DestinationRule', 'orders');
  assert.deepEqual(dr.spec, {
    host: 'orders',
    trafficPolicy: {
      loadBalancer: { simple: 'LEAST_REQUEST' },
      outlierDetection: { consecutive5xxErrors: 3, consecutiveGatewayErrors: 0, interval: '5s', baseEjectionTime: '250ms', maxEjectionPercent: 10 },
      connectionPool: { tcp: { maxConnections: 10 }, http: { http1MaxPendingRequests: 5, maxRequestsPerConnection: 100 } },
    },
  });
});

test('Istio: warnings for rounded weights, ingress traffic bypassing routes; none for what it expresses (an RE2 regex included)', async () => {
  const r = await renderYaml(SPEC);
  const paths = r.warnings.map((w) => w.path);
  assert.ok(r.warnings.some((w) => w.path === 'services.orders.routes.0.to' && /2:1 is rendered as 67:33/.test(w.message)));
  // What RE2 cannot run (lookaround, backreferences) is refused by the contract, before rendering.
  assert.ok(!r.warnings.some((w) => /RE2/.test(w.message)));
  assert.ok(r.warnings.some((w) => w.path === 'services.orders.routes' && /ingress Gateway/.test(w.message)));
  assert.ok(!paths.some((p) => /fault|mirror|retries|policy\.balancer/.test(p)));
  assert.ok(!r.warnings.some((w) => /not rendered yet/.test(w.message)));
});

test('consistent hash on a cookie; round_robin', async () => {
  const r = await renderYaml('app: x\nservices:\n  a: { run: node a.js, port: 8080, policy: { balancer: { consistentHash: { cookie: sid } } } }\n  b: { run: node b.js, port: 8081, policy: {} }\n');
  assert.deepEqual(await validateObjects(r.objects), []);
  assert.deepEqual(find(r, 'DestinationRule', 'a').spec.trafficPolicy.loadBalancer, { consistentHash: { httpCookie: { name: 'sid', ttl: '0s' } } });
  assert.deepEqual(find(r, 'DestinationRule', 'b').spec.trafficPolicy, { loadBalancer: { simple: 'ROUND_ROBIN' } });
  assert.ok(!r.objects.some((o) => o.kind === 'VirtualService'), 'no routes, no VirtualService');
});

test('Gateway API: a mesh HTTPRoute on the Service; what it cannot express is a warning', async () => {
  const r = await renderYaml(SPEC, { mesh: 'gateway-api' });
  assert.deepEqual(await validateObjects(r.objects), []);
  assert.ok(!r.objects.some((o) => o.kind === 'VirtualService' || o.kind === 'DestinationRule'));
  const route = find(r, 'HTTPRoute', 'orders');
  assert.deepEqual(route.spec.parentRefs, [{ group: '', kind: 'Service', name: 'orders', port: 8081 }]);
  const [canary, , faulty] = route.spec.rules;
  assert.deepEqual(canary.backendRefs, [{ name: 'orders', port: 8081, weight: 2 }, { name: 'web', port: 8080, weight: 1 }]);
  assert.deepEqual(canary.matches.map((m: { method: string }) => m.method), ['GET', 'POST']);
  assert.deepEqual(canary.matches[0].queryParams, [{ type: 'RegularExpression', name: 'v', value: '^2.*' }]);
  assert.deepEqual(canary.timeouts, { request: '2500ms' });
  assert.deepEqual(canary.filters[0], { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: '1' }] } });
  assert.deepEqual(faulty.filters, [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'web', port: 8080 } } }]);
  const has = (path: string) => assert.ok(r.warnings.some((w) => w.path === path), path);
  has('services.orders.policy');
  has('services.orders.routes');
  has('services.orders.routes.0.retries');
  has('services.orders.routes.0.match.headers.X-No');
  has('services.orders.routes.0.match.path.prefix');
  has('services.orders.routes.2.fault');
  has('services.orders.routes.2.mirror.percent');
});

test('mesh.accessLog: false → an Istio Telemetry turning access logs off for this app only; nothing at the default', async () => {
  const off = await renderYaml('app: x\nmesh: { accessLog: false }\nservices:\n  web: { run: node w.js, port: 8080 }\n');
  assert.deepEqual(await validateObjects(off.objects), []);
  const t = find(off, 'Telemetry', 'x-access-log');
  assert.deepEqual(t.spec, { selector: { matchLabels: { 'app.kubernetes.io/part-of': 'x' } }, accessLogging: [{ providers: [{ name: 'envoy' }], disabled: true }] });
  const on = await renderYaml('app: x\nmesh: { accessLog: true }\nservices:\n  web: { run: node w.js, port: 8080 }\n');
  assert.ok(!on.objects.some((o) => o.kind === 'Telemetry'));
  assert.ok(!on.warnings.some((w) => w.path.startsWith('mesh')));
  const gw = await renderYaml('app: x\nmesh: { accessLog: false }\nservices:\n  web: { run: node w.js, port: 8080 }\n', { mesh: 'gateway-api' });
  assert.ok(gw.warnings.some((w) => w.path === 'mesh.accessLog'));
});

test('slow start → Istio warmup; rate and concurrency limits are "not rendered yet" warnings, never silence', async () => {
  const r = await renderYaml(`
app: x
services:
  api:
    run: node a.js
    port: 8080
    variants: { v2: { env: { V: "2" } } }
    routes:
      - { match: { path: { prefix: /slow } }, rateLimit: { requestsPerSecond: 5 }, concurrencyLimit: 3 }
    policy:
      balancer: least_request
      slowStart: { window: 30, minWeightPercent: 20 }
      rateLimit: { requestsPerSecond: 100, burst: 20 }
      concurrencyLimit: 50
      variants: { v2: { rateLimit: { requestsPerSecond: 1 } } }
  other:
    run: node o.js
    port: 8081
    policy: { balancer: random, slowStart: { window: 10 } }
`);
  assert.deepEqual(await validateObjects(r.objects), []);
  assert.deepEqual(find(r, 'DestinationRule', 'api').spec.trafficPolicy.loadBalancer, { simple: 'LEAST_REQUEST', warmup: { duration: '30s', minimumPercent: 20, aggression: 1 } });
  for (const path of ['services.api.routes.0.rateLimit', 'services.api.routes.0.concurrencyLimit', 'services.api.policy.rateLimit', 'services.api.policy.concurrencyLimit', 'services.api.policy.variants']) {
    assert.ok(r.warnings.some((w) => w.path === path && /not rendered yet/.test(w.message)), path);
  }
  assert.ok(r.warnings.some((w) => w.path === 'services.other.policy.slowStart' && /round_robin or least_request/.test(w.message)));
  assert.equal(find(r, 'DestinationRule', 'other').spec.trafficPolicy.loadBalancer.warmup, undefined);
});
