// Pod Security Standard "restricted": every pod rendered from every example and spec fixture is
// admitted, and the checker itself refuses what the standard refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRestricted, type K8sObject } from '../../../../src/targets/kubernetes/index.js';
import { renderAll } from './fixtures.js';
import { find, renderYaml } from './helpers.js';

test('every pod of every example and fixture passes the restricted Pod Security profile', async () => {
  const all = await renderAll();
  assert.ok(all.length >= 4);
  for (const { label, result } of all) {
    assert.ok(result.objects.some((o) => o.kind === 'Deployment'), label);
    assert.deepEqual(checkRestricted(result.objects), [], label);
  }
});

test('security context, /tmp emptyDir, requests and limits, no service account token', async () => {
  const r = await renderYaml(`
app: x
services:
  web:
    run: node w.js
    port: 8080
    resources: { memoryMiB: 300 }
    sidecars: [{ name: tick, run: node tick.js }]
  worker:
    run: node q.js
    resources: { memoryMiB: 64, cpuMillis: 250 }
`);
  const pod = find(r, 'Deployment', 'web').spec.template.spec;
  assert.equal(pod.automountServiceAccountToken, false);
  assert.deepEqual(pod.securityContext, { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
  for (const c of [...pod.containers, ...pod.initContainers]) {
    assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, privileged: false, readOnlyRootFilesystem: true, runAsNonRoot: true }, c.name);
    assert.ok(c.volumeMounts.some((m: { name: string; mountPath: string }) => m.name === 'tmp' && m.mountPath === '/tmp'), c.name);
  }
  assert.deepEqual(pod.volumes[0], { name: 'tmp', emptyDir: {} });
  assert.deepEqual(pod.containers[0].resources, { limits: { memory: '300Mi' }, requests: { cpu: '100m', memory: '300Mi' } });
  assert.ok(r.warnings.some((w) => w.path === 'services.web.resources.cpuMillis' && /requests 100m/.test(w.message)));
  const worker = find(r, 'Deployment', 'worker').spec.template.spec.containers[0];
  assert.deepEqual(worker.resources, { limits: { cpu: '250m', memory: '64Mi' }, requests: { cpu: '250m', memory: '64Mi' } });
});

test('the restricted check refuses root, escalation, kept capabilities, hostPath and unconfined seccomp', () => {
  const pod = (spec: Record<string, unknown>): K8sObject => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { spec } } }) as unknown as K8sObject;
  const problems = checkRestricted([
    pod({
      securityContext: { seccompProfile: { type: 'Unconfined' } },
      volumes: [{ name: 'h', hostPath: { path: '/' } }],
      containers: [{ name: 'a', securityContext: { runAsUser: 0, capabilities: { add: ['SYS_ADMIN'] } } }],
    }),
  ]);
  const fields = problems.map((p) => p.field);
  for (const f of ['volumes[h].hostPath', 'containers[a].securityContext.allowPrivilegeEscalation', 'containers[a].securityContext.runAsNonRoot', 'containers[a].securityContext.runAsUser', 'containers[a].securityContext.capabilities.drop', 'containers[a].securityContext.capabilities.add', 'securityContext.seccompProfile.type']) {
    assert.ok(fields.includes(`spec.template.spec.${f}`), `${f} in ${fields.join(', ')}`);
  }
});
