// scale → HPA (cpu/memory) or KEDA ScaledObject (request metrics via Prometheus, scale to zero),
// validated. The `scale` field belongs to the autoscaling work: the spec is given as data here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadSpec, type AppSpec } from '../../../../src/contract/index.js';
import { renderObjects, validateObjects, type MeshKind } from '../../../../src/targets/kubernetes/index.js';
import { find, tempApp } from './helpers.js';

async function withScale(scale: unknown, resources = '{ cpuMillis: 500, memoryMiB: 256 }', mesh: MeshKind = 'istio') {
  const dir = tempApp({ 'berth.yaml': `app: x\nservices:\n  web: { run: node w.js, port: 8080, replicas: 2, resources: ${resources} }\n` });
  const res = await loadSpec(join(dir, 'berth.yaml'));
  assert.ok(res.ok);
  const spec = structuredClone(res.spec) as AppSpec;
  (spec.services.web as unknown as Record<string, unknown>).scale = scale;
  return renderObjects({ spec, dir, mesh });
}

const BEHAVIOR = { scaleUp: { stabilizationSeconds: 0, maxStepPercent: 100, maxStepInstances: 4 }, scaleDown: { stabilizationSeconds: 30, maxStepPercent: 50 } };

test('cpu/memory → HorizontalPodAutoscaler with behavior; the Deployment leaves replicas to it', async () => {
  const r = await withScale({ min: 2, max: 10, metrics: [{ cpuPercent: 70 }, { memoryPercent: 80 }], behavior: BEHAVIOR });
  assert.deepEqual(await validateObjects(r.objects), []);
  const hpa = find(r, 'HorizontalPodAutoscaler', 'web');
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' });
  assert.equal(hpa.spec.minReplicas, 2);
  assert.equal(hpa.spec.maxReplicas, 10);
  assert.deepEqual(hpa.spec.metrics[0], { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } });
  assert.deepEqual(hpa.spec.behavior.scaleUp, {
    stabilizationWindowSeconds: 0,
    policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }, { type: 'Pods', value: 4, periodSeconds: 15 }],
    selectPolicy: 'Max',
  });
  assert.equal(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds, 30);
  assert.equal(find(r, 'Deployment', 'web').spec.replicas, undefined);
  assert.ok(r.warnings.some((w) => w.path === 'services.web.scale' && /every 15 s/.test(w.message)));
  assert.ok(!r.warnings.some((w) => /not rendered yet/.test(w.message)));
});

test('request metrics and scale to zero → KEDA ScaledObject with Prometheus queries', async () => {
  const r = await withScale({ min: 0, max: 5, idleSeconds: 60, metrics: [{ rps: 50 }, { concurrency: 10 }, { p99Ms: 200 }, { cpuPercent: 70 }], behavior: BEHAVIOR });
  assert.deepEqual(await validateObjects(r.objects), []);
  const so = find(r, 'ScaledObject', 'web');
  assert.equal(so.spec.minReplicaCount, 0);
  assert.equal(so.spec.maxReplicaCount, 5);
  assert.equal(so.spec.cooldownPeriod, 60);
  const byName = Object.fromEntries(so.spec.triggers.map((t: { name: string }) => [t.name, t]));
  assert.match(byName.rps.metadata.query, /^sum\(rate\(istio_requests_total\{reporter="destination",destination_workload="web"\}\[1m\]\)\)$/);
  assert.equal(byName.rps.metadata.threshold, '50');
  assert.equal(byName.rps.metricType, 'AverageValue');
  assert.match(byName.concurrency.metadata.query, /istio_request_duration_milliseconds_sum/);
  assert.equal(byName.p99Ms.metricType, 'Value');
  assert.match(byName.p99Ms.metadata.query, /histogram_quantile\(0\.99/);
  assert.deepEqual(byName.cpuPercent, { type: 'cpu', name: 'cpuPercent', metricType: 'Utilization', metadata: { value: '70' } });
  assert.equal(so.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds, 30);
  assert.ok(!r.objects.some((o) => o.kind === 'HorizontalPodAutoscaler'), 'KEDA owns the HPA');
});

test('what cannot work is a warning: percentages without requests, zero on cpu only, unknown shapes', async () => {
  const r = await withScale({ min: 0, max: 3, metrics: [{ cpuPercent: 50 }, { queueDepth: 5 }], future: 1 }, '{}');
  assert.ok(r.warnings.some((w) => /cpu request/.test(w.message)));
  assert.ok(r.warnings.some((w) => w.path === 'services.web.scale.min' && /cannot scale to zero/.test(w.message)));
  assert.ok(r.warnings.some((w) => w.path === 'services.web.scale.metrics.1.queueDepth'));
  assert.ok(r.warnings.some((w) => w.path === 'services.web.scale.future'));
  const odd = await withScale({ target: 3 });
  assert.ok(odd.warnings.some((w) => w.path === 'services.web.scale' && /not rendered yet/.test(w.message)));
  assert.equal(find(odd, 'Deployment', 'web').spec.replicas, 2);
});

test('the spec as written: Berth\'s default behavior is rendered explicitly (Kubernetes would wait 300 s to scale down)', async () => {
  const { renderYaml } = await import('./helpers.js');
  const r = await renderYaml('app: x\nservices:\n  web: { run: node w.js, port: 8080, resources: { cpuMillis: 200 }, scale: { max: 4, metrics: [{ cpuPercent: 60 }] } }\n  api: { run: node a.js, port: 8081, scale: { min: 0, max: 2, metrics: [{ rps: 20 }] } }\n');
  assert.deepEqual(await validateObjects(r.objects), []);
  const hpa = find(r, 'HorizontalPodAutoscaler', 'web');
  assert.equal(hpa.spec.minReplicas, 1);
  assert.equal(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds, 30);
  assert.deepEqual(hpa.spec.behavior.scaleUp.policies, [{ type: 'Percent', value: 100, periodSeconds: 15 }, { type: 'Pods', value: 4, periodSeconds: 15 }]);
  const so = find(r, 'ScaledObject', 'api');
  assert.equal(so.spec.cooldownPeriod, 60, "Berth's default idle time");
  assert.ok(find(r, 'PodDisruptionBudget', 'web'), 'may run more than one instance');
});
