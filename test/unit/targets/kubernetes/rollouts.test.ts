// `release` rendered to Argo Rollouts (issue 14 point 5): the Deployment becomes a Rollout with the
// same pod template; canary steps, background analysis and Istio traffic routing over a VirtualService
// route and DestinationRule subsets; blue-green with active and preview Services; analysis templates
// with the berth provider's measures as Prometheus queries over Istio's standard metrics at the
// `prometheusUrl` option; every object validated against the published Argo Rollouts schemas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { find, renderYaml } from './helpers.js';

const canary = `app: shop
services:
  web:
    run: node web.js
    port: 8080
    replicas: 4
    probes: { readiness: { http: { path: /healthz } }, liveness: { http: { path: /healthz } } }
    release:
      strategy: canary
      rollbackWindow: { revisions: 3 }
      revisionHistoryLimit: 5
      canary:
        steps:
          - setWeight: 20
          - pause: { duration: 30s }
          - setHeaderRoute: { name: testers, match: [{ headerName: x-tester, headerValue: { exact: "yes" } }] }
          - analysis: { templates: [errors] }
          - pause: {}
        analysis: { templates: [errors], startingStep: 1 }
        throttle: { rps: 20 }
analysisTemplates:
  errors:
    metrics:
      - name: error-rate
        interval: 10s
        failureLimit: 1
        successCondition: result.canary.errorRate <= 0.01
        failureCondition: result.canary.errorRate > 0.05
        provider: { berth: {} }
      - name: p99-vs-stable
        interval: 5s
        successCondition: result.canary.p99Ms < result.stable.p99Ms * 1.2
        provider: { berth: {} }
      - name: external
        provider: { web: { url: "http://checks.example/ok", jsonPath: "{$.ok}" } }
        successCondition: result == true
`;

test('canary: a Rollout with the steps, background analysis and Istio traffic routing; no Deployment', async () => {
  const r = await renderYaml(canary, { set: ['prometheusUrl=http://prom.monitoring:9090'] });
  assert.ok(!r.objects.some((o) => o.kind === 'Deployment' && o.metadata.name === 'web'));
  const ro = find(r, 'Rollout', 'web');
  assert.equal(ro.apiVersion, 'argoproj.io/v1alpha1');
  assert.equal(ro.spec.replicas, 4);
  assert.equal(ro.spec.revisionHistoryLimit, 5);
  assert.deepEqual(ro.spec.rollbackWindow, { revisions: 3 });
  assert.ok(ro.spec.template.spec.containers.length >= 1, 'the pod template is the Deployment\'s');
  const c = ro.spec.strategy.canary;
  assert.deepEqual(c.steps, [
    { setWeight: 20 },
    { pause: { duration: '30s' } },
    { setHeaderRoute: { name: 'testers', match: [{ headerName: 'x-tester', headerValue: { exact: 'yes' } }] } },
    { analysis: { templates: [{ templateName: 'errors' }] } },
    { pause: {} },
  ]);
  assert.deepEqual(c.analysis, { templates: [{ templateName: 'errors' }], startingStep: 1 });
  assert.deepEqual(c.trafficRouting, {
    managedRoutes: [{ name: 'testers' }],
    istio: { virtualService: { name: 'web', routes: ['primary'] }, destinationRule: { name: 'web', canarySubsetName: 'canary', stableSubsetName: 'stable' } },
  });
  const vs = find(r, 'VirtualService', 'web');
  assert.deepEqual(vs.spec.http[0].route.map((d: { destination: { subset: string }; weight: number }) => [d.destination.subset, d.weight]), [
    ['stable', 100],
    ['canary', 0],
  ]);
  assert.deepEqual(find(r, 'DestinationRule', 'web').spec.subsets.map((s: { name: string }) => s.name), ['stable', 'canary']);
  assert.ok(r.warnings.some((w) => w.path === 'services.web.release.canary.throttle'));
  assert.ok(!r.warnings.some((w) => w.path === 'services.web.release' && /not rendered/.test(w.message)));
  assert.ok(!r.warnings.some((w) => w.path === 'analysisTemplates' && /not rendered/.test(w.message)));
  // The templates: the berth measure as a PromQL query over Istio's metrics, result[0] in the conditions.
  const t = find(r, 'AnalysisTemplate', 'errors');
  const [errorRate, p99, external] = t.spec.metrics;
  assert.equal(errorRate.name, 'error-rate');
  assert.equal(errorRate.interval, '10s');
  assert.equal(errorRate.failureLimit, 1);
  assert.equal(errorRate.successCondition, 'result[0] <= 0.01');
  assert.equal(errorRate.failureCondition, 'result[0] > 0.05');
  assert.equal(errorRate.provider.prometheus.address, 'http://prom.monitoring:9090');
  assert.match(errorRate.provider.prometheus.query, /istio_requests_total\{reporter="destination",destination_service_name="web",destination_canonical_revision="canary",response_code=~"5\.\."\}\[10s\]/);
  assert.deepEqual(external.provider, { web: { url: 'http://checks.example/ok', jsonPath: '{$.ok}' } });
  // canary against stable: the condition itself becomes the query (1 when it holds), Argo's condition reads it.
  assert.equal(p99.successCondition, 'result % 2 == 1');
  assert.equal(p99.failureCondition, undefined);
  const q = p99.provider.prometheus.query as string;
  assert.match(q, /^\(scalar\(histogram_quantile\(0\.99, .*destination_canonical_revision="canary".*\)\) < bool \(scalar\(histogram_quantile\(0\.99, .*destination_canonical_revision="stable".*\)\) \* 1\.2\)\)$/);
  assert.equal(t.spec.metrics.length, 3);
  assert.ok(!r.warnings.some((w) => w.path.startsWith('analysisTemplates.errors')), JSON.stringify(r.warnings));
});

test('blue-green: active and preview Services, promotion settings and analyses', async () => {
  const r = await renderYaml(`app: shop
services:
  web:
    run: node web.js
    port: 8080
    probes: { readiness: { http: { path: /healthz } }, liveness: { http: { path: /healthz } } }
    release:
      strategy: blueGreen
      blueGreen: { previewPort: 9090, autoPromotionEnabled: false, scaleDownDelaySeconds: 60, prePromotionAnalysis: { templates: [lat] } }
analysisTemplates:
  lat:
    metrics:
      - name: p99
        interval: 5s
        count: 3
        successCondition: result.canary.p99Ms < 250
        provider: { berth: { window: 30s } }
`);
  const ro = find(r, 'Rollout', 'web');
  assert.deepEqual(ro.spec.strategy.blueGreen, { activeService: 'web', previewService: 'web-preview', autoPromotionEnabled: false, scaleDownDelaySeconds: 60, prePromotionAnalysis: { templates: [{ templateName: 'lat' }] } });
  find(r, 'Service', 'web');
  assert.deepEqual(find(r, 'Service', 'web-preview').spec.ports, find(r, 'Service', 'web').spec.ports);
  const q = find(r, 'AnalysisTemplate', 'lat').spec.metrics[0];
  assert.match(q.provider.prometheus.query, /^histogram_quantile\(0\.99, sum\(rate\(istio_request_duration_milliseconds_bucket\{.*\}\[30s\]\)\) by \(le\)\)$/);
  assert.equal(q.successCondition, 'result[0] < 250');
  assert.equal(q.count, 3);
});

test('a service with its own routes keeps its VirtualService: the Rollout has no traffic routing, and says so', async () => {
  const r = await renderYaml(`app: shop
services:
  web:
    run: node web.js
    port: 8080
    probes: { readiness: { http: { path: /healthz } }, liveness: { http: { path: /healthz } } }
    routes: [{ match: { path: { prefix: /api } }, timeout: 2s }, {}]
    release: { strategy: canary, canary: { steps: [{ setWeight: 50 }] } }
`);
  assert.equal(find(r, 'Rollout', 'web').spec.strategy.canary.trafficRouting, undefined);
  assert.ok(r.warnings.some((w) => w.path === 'services.web.release' && /no traffic routing/.test(w.message)));
});

test('rolling (the default) still renders a Deployment', async () => {
  const r = await renderYaml(`app: shop
services:
  web:
    run: node web.js
    port: 8080
    probes: { readiness: { http: { path: /healthz } }, liveness: { http: { path: /healthz } } }
    release: { strategy: rolling, revisionHistoryLimit: 3 }
`);
  find(r, 'Deployment', 'web');
  assert.ok(!r.objects.some((o) => o.kind === 'Rollout'));
});

test('conditions over several measures: success + 2 × failure in one query; what has no PromQL form is left out with a warning', async () => {
  const r = await renderYaml(`app: shop
services:
  web:
    run: node web.js
    port: 8080
    probes: { readiness: { http: { path: /healthz } }, liveness: { http: { path: /healthz } } }
    release: { strategy: canary, canary: { steps: [{ analysis: { templates: [both] } }] } }
analysisTemplates:
  both:
    metrics:
      - name: compare
        successCondition: result.canary.errorRate <= result.stable.errorRate + 0.01 && !(result.canary.rps < 1)
        failureCondition: result.canary.errorRate > 2 * result.stable.errorRate || abs(result.canary.p50Ms - result.stable.p50Ms) > 100
        provider: { berth: { window: 1m } }
      - name: lengthy
        successCondition: len(result.canary) > 1
        provider: { berth: {} }
`);
  const [m] = find(r, 'AnalysisTemplate', 'both').spec.metrics;
  assert.equal(m.successCondition, 'result % 2 == 1');
  assert.equal(m.failureCondition, 'result >= 2');
  const q = m.provider.prometheus.query as string;
  assert.match(q, / \* \(1 - \(scalar\(sum\(rate\(istio_requests_total\{[^}]*canary"\}\[60s\]\)\)\) < bool 1\)\)\) \+ 2 \* scalar\(clamp_max\(vector\(/);
  assert.match(q, /scalar\(abs\(vector\(/);
  assert.equal(find(r, 'AnalysisTemplate', 'both').spec.metrics.length, 1);
  assert.ok(r.warnings.some((w) => w.path === 'analysisTemplates.both.metrics[1]' && /len\(\)/.test(w.message)), JSON.stringify(r.warnings));
});
