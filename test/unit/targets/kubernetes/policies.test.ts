// The output against the checks a careful reviewer's cluster applies: published schemas and
// Kyverno's best-practice policies (a small evaluator of the same rules) on every example and
// fixture; every rule refuses what Kyverno refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BEST_PRACTICE_POLICIES, evaluateBestPractices, imageTag, validateObjects, type K8sObject } from '../../../../src/targets/kubernetes/index.js';
import { renderAll } from './fixtures.js';

test('every example and fixture: objects pass their published schemas and Kyverno best practices (missing probes are warned about)', async () => {
  for (const { label, result } of await renderAll()) {
    assert.deepEqual(await validateObjects(result.objects), [], label);
    for (const v of evaluateBestPractices(result.objects)) {
      // A service without probes is the spec's choice; the render must say so, and nothing else may fail.
      assert.equal(v.policy, 'require-pod-probes', `${label}: ${v.policy} on ${v.object} (${v.container ?? ''}): ${v.message}`);
      const name = v.object.split('/')[1].split('.')[0];
      assert.ok(result.warnings.some((w) => w.path.startsWith(`services.${name}`) && w.path.endsWith('.probes') && /require-pod-probes/.test(w.message)), `${label}: ${v.object} has no probe warning`);
    }
  }
});

test('the shop example passes every best-practice rule, probes included', async () => {
  const shop = (await renderAll()).filter((x) => x.label.startsWith('examples/shop'));
  assert.ok(shop.length > 0);
  for (const { label, result } of shop) assert.deepEqual(evaluateBestPractices(result.objects), [], label);
});

test('each best-practice rule refuses what Kyverno refuses', () => {
  const deployment = (containers: Record<string, unknown>[], volumes: Record<string, unknown>[] = []): K8sObject =>
    ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', labels: {} }, spec: { template: { spec: { containers, volumes } } } }) as unknown as K8sObject;
  const v = evaluateBestPractices([deployment([{ name: 'a', image: 'nginx:latest', securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }, { name: 'b', image: 'nginx' }], [{ name: 'h', hostPath: { path: '/' } }])]);
  const got = new Set(v.map((x) => x.policy));
  for (const p of BEST_PRACTICE_POLICIES) assert.ok(got.has(p), `${p} not reported: ${[...got].join(', ')}`);
  assert.ok(v.some((x) => x.policy === 'disallow-latest-tag' && x.container === 'a' && /latest/.test(x.message)));
  assert.ok(v.some((x) => x.policy === 'disallow-latest-tag' && x.container === 'b' && /tag is required/.test(x.message)));
  assert.equal(imageTag('registry:5000/a/b:1.2'), '1.2');
  assert.equal(imageTag('registry:5000/a/b'), '');
  assert.equal(imageTag(`a@sha256:${'0'.repeat(64)}`), '@digest');
});
