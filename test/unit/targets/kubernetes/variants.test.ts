// variants → a Deployment per variant (`<service>.<variant>`, own replicas, revision, env), all
// behind the service's Service; Istio subsets by the variant label; Gateway API a Service per
// variant that routes name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateObjects } from '../../../../src/targets/kubernetes/index.js';
import { find, renderYaml } from './helpers.js';

const SPEC = `
app: x
services:
  web: { run: node w.js, port: 8080, uses: [orders] }
  orders:
    run: node o.js
    port: 8081
    replicas: 3
    env: { IMPL: v1 }
    variants:
      v2: { env: { IMPL: v2 }, replicas: 1 }
      exp: { run: node o2.js, resources: { memoryMiB: 64 } }
    routes:
      - match: { headers: { x-beta: { exact: "1" } } }
        to: [{ service: orders, variant: v2 }]
      - to: [{ service: orders, variant: default, weight: 90 }, { service: orders, variant: exp, weight: 10 }]
        mirror: { service: orders, variant: v2, percent: 5 }
`;

test('each variant is its own Deployment behind the service; the Service selects them all', async () => {
  const r = await renderYaml(SPEC);
  assert.deepEqual(await validateObjects(r.objects), []);
  const base = find(r, 'Deployment', 'orders');
  const v2 = find(r, 'Deployment', 'orders.v2');
  const exp = find(r, 'Deployment', 'orders.exp');
  assert.equal(base.spec.replicas, 3);
  assert.equal(v2.spec.replicas, 1);
  assert.equal(exp.spec.replicas, 1, 'a variant runs 1 replica unless it says otherwise');
  assert.equal(v2.spec.selector.matchLabels['berth.dev/variant'], 'v2');
  assert.equal(base.spec.selector.matchLabels['berth.dev/variant'], 'default', 'selectors never overlap');
  const env = (d: typeof base) => Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]));
  assert.equal(env(v2).IMPL, 'v2');
  assert.equal(env(v2).BERTH_VARIANT, 'v2');
  assert.equal(env(v2).BERTH_SERVICE, 'orders');
  assert.deepEqual(exp.spec.template.spec.containers[0].command, ['node', 'o2.js']);
  assert.equal(exp.spec.template.spec.containers[0].resources.limits.memory, '64Mi');
  assert.equal(v2.spec.template.spec.containers[0].image, base.spec.template.spec.containers[0].image, 'same code, same image');
  assert.notEqual(v2.metadata.labels['app.kubernetes.io/version'], base.metadata.labels['app.kubernetes.io/version']);
  assert.equal(r.objects.filter((o) => o.kind === 'Service' && o.metadata.name.startsWith('orders')).length, 1);
  assert.ok(!r.warnings.some((w) => /not rendered yet/.test(w.message)));
});

test('Istio: subsets per variant; routes and mirrors name them', async () => {
  const r = await renderYaml(SPEC);
  const dr = find(r, 'DestinationRule', 'orders');
  assert.deepEqual(dr.spec.subsets, [
    { name: 'default', labels: { 'berth.dev/variant': 'default' } },
    { name: 'exp', labels: { 'berth.dev/variant': 'exp' } },
    { name: 'v2', labels: { 'berth.dev/variant': 'v2' } },
  ]);
  const [beta, split] = find(r, 'VirtualService', 'orders').spec.http;
  assert.deepEqual(beta.route, [{ destination: { host: 'orders', subset: 'v2', port: { number: 8081 } } }]);
  assert.deepEqual(split.route.map((d: { destination: { subset: string }; weight: number }) => [d.destination.subset, d.weight]), [['default', 90], ['exp', 10]]);
  assert.deepEqual(split.mirror, { host: 'orders', subset: 'v2', port: { number: 8081 } });
});

test('Gateway API: one Service per variant a route names, as backendRefs', async () => {
  const r = await renderYaml(SPEC, { mesh: 'gateway-api' });
  assert.deepEqual(await validateObjects(r.objects), []);
  for (const v of ['default', 'exp', 'v2']) {
    const svc = find(r, 'Service', `orders-${v}`);
    assert.equal(svc.spec.selector['berth.dev/variant'], v);
  }
  const rules = find(r, 'HTTPRoute', 'orders').spec.rules;
  assert.deepEqual(rules[1].backendRefs, [{ name: 'orders-default', port: 8081, weight: 90 }, { name: 'orders-exp', port: 8081, weight: 10 }]);
  assert.equal(rules[1].filters[0].requestMirror.backendRef.name, 'orders-v2');
});
