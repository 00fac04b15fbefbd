// Ingress → Gateway API Gateway + HTTPRoute (validated), with warnings where Gateway API matches
// paths differently from the local gateway; Istio sidecar injection for services behind the mesh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateObjects } from '../../../../src/targets/kubernetes/index.js';
import { find, renderYaml } from './helpers.js';

const SPEC = `
app: x
ingress:
  port: 9000
  routes:
    - { match: { path: { prefix: /api } }, to: api }
    - { match: { path: { exact: /api/health } }, to: web }
    - { match: { path: { prefix: / } }, to: web }
services:
  web: { run: node w.js, port: 8080 }
  api: { run: node a.js, port: 8081 }
  job: { run: node j.js }
`;

test('ingress renders a Gateway with one HTTP listener and an HTTPRoute with the routes in order', async () => {
  const r = await renderYaml(SPEC);
  assert.deepEqual(await validateObjects(r.objects), []);
  const gw = find(r, 'Gateway', 'x-ingress');
  assert.equal(gw.spec.gatewayClassName, 'istio');
  assert.deepEqual(gw.spec.listeners, [{ name: 'http', protocol: 'HTTP', port: 9000, allowedRoutes: { namespaces: { from: 'Same' } } }]);
  const route = find(r, 'HTTPRoute', 'x-ingress');
  assert.deepEqual(route.spec.parentRefs, [{ name: 'x-ingress', sectionName: 'http' }]);
  assert.deepEqual(route.spec.rules, [
    { matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: [{ name: 'api', port: 8081 }] },
    { matches: [{ path: { type: 'Exact', value: '/api/health' } }], backendRefs: [{ name: 'web', port: 8080 }] },
    { matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'web', port: 8080 }] },
  ]);
  assert.equal(r.objects.at(-1)?.kind, 'HTTPRoute', 'routes are applied last');
  assert.ok(!r.warnings.some((w) => w.path === 'ingress'), 'ingress is handled, not "not rendered yet"');
});

test('what Gateway API cannot say the local way is a warning: segment-wise prefixes, most-specific-wins', async () => {
  const r = await renderYaml(SPEC);
  assert.ok(r.warnings.some((w) => w.path === 'ingress.routes.0.match.path.prefix' && /whole path segments/.test(w.message)));
  assert.ok(r.warnings.some((w) => w.path === 'ingress.routes.1' && /route 0 comes first/.test(w.message)));
  assert.ok(!r.warnings.some((w) => w.path === 'ingress.routes.2.match.path.prefix'), 'the root prefix means the same');
});

test('--gateway-class is honoured; with --mesh istio, pods of services with a port ask for the Istio sidecar', async () => {
  const r = await renderYaml(SPEC, { mesh: 'gateway-api', gatewayClass: 'eg' });
  assert.equal(find(r, 'Gateway', 'x-ingress').spec.gatewayClassName, 'eg');
  assert.equal(find(r, 'Deployment', 'web').spec.template.metadata.labels['sidecar.istio.io/inject'], undefined);
  const istio = await renderYaml(SPEC);
  assert.equal(find(istio, 'Deployment', 'web').spec.template.metadata.labels['sidecar.istio.io/inject'], 'true');
  assert.equal(find(istio, 'Deployment', 'job').spec.template.metadata.labels['sidecar.istio.io/inject'], undefined);
  assert.equal(find(istio, 'Deployment', 'web').spec.selector.matchLabels['sidecar.istio.io/inject'], undefined);
});
