// Volumes on the cluster: a PersistentVolumeClaim per volume (storageClassName from the render
// option, absent by default so the cluster's default class is used), mounted at its path in the app
// and the service's own sidecars with BERTH_VOLUME_<NAME> = the path; variants mount the service's
// claim; the pod stays restricted with a read-only root filesystem; claims are valid objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRestricted, validateObjects } from '../../../../src/targets/kubernetes/index.js';
import { find, renderYaml } from './helpers.js';

const SPEC = `
app: notes
services:
  db:
    run: node db.js
    port: 8090
    rollout: { maxSurge: 0, maxUnavailable: 1 }
    volumes:
      - { name: data, path: /var/lib/db, sizeMiB: 1024 }
  web:
    run: node web.js
    port: 8091
    replicas: 2
    sidecars: [{ name: sweeper, run: node sweep.js }]
    variants: { v2: { env: { V: "2" } } }
    volumes:
      - { name: uploads, path: /srv/uploads, sizeMiB: 512, accessMode: ReadWriteMany }
`;

test('a PersistentVolumeClaim per volume; no storageClassName by default (the cluster default class)', async () => {
  const r = await renderYaml(SPEC);
  assert.deepEqual(await validateObjects(r.objects), []);
  const data = find(r, 'PersistentVolumeClaim', 'db-data');
  assert.deepEqual(data.spec, { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1024Mi' } } });
  assert.equal(data.metadata.labels['app.kubernetes.io/part-of'], 'notes');
  assert.equal(data.metadata.labels['app.kubernetes.io/version'], undefined, 'a claim outlives revisions');
  assert.deepEqual(data.metadata.annotations, { 'argocd.argoproj.io/sync-options': 'Prune=false', 'kustomize.toolkit.fluxcd.io/prune': 'disabled' }, 'GitOps never prunes data');
  assert.deepEqual(find(r, 'PersistentVolumeClaim', 'web-uploads').spec.accessModes, ['ReadWriteMany']);
  assert.equal(r.objects.filter((o) => o.kind === 'PersistentVolumeClaim').length, 2, 'the variant mounts its service\'s claim');
  // Claims come before the workloads that mount them.
  const kinds = r.objects.map((o) => o.kind);
  assert.ok(kinds.indexOf('PersistentVolumeClaim') < kinds.indexOf('Deployment'));
  assert.equal(r.options.storageClass, '');
});

test('the storageClass option (spec block or --set) becomes storageClassName; a bad name is refused', async () => {
  const fromSet = await renderYaml(SPEC, { set: ['storageClass=fast-ssd'] });
  assert.equal(find(fromSet, 'PersistentVolumeClaim', 'db-data').spec.storageClassName, 'fast-ssd');
  const fromBlock = await renderYaml(`${SPEC}kubernetes: { storageClass: gp3.encrypted }\n`);
  assert.equal(find(fromBlock, 'PersistentVolumeClaim', 'web-uploads').spec.storageClassName, 'gp3.encrypted');
  assert.deepEqual(await validateObjects(fromBlock.objects), []);
  await assert.rejects(renderYaml(SPEC, { set: ['storageClass=Fast SSD'] }), /storageClass must be a StorageClass name/);
});

test('mounted at its path in the app and its own sidecars, with BERTH_VOLUME_<NAME>; restricted, read-only root', async () => {
  const r = await renderYaml(SPEC);
  for (const name of ['web', 'web.v2']) {
    const pod = find(r, 'Deployment', name).spec.template.spec;
    assert.ok(pod.volumes.some((v: { name: string; persistentVolumeClaim?: { claimName: string } }) => v.name === 'volume-uploads' && v.persistentVolumeClaim?.claimName === 'web-uploads'), name);
    const app = pod.containers[0];
    assert.deepEqual(app.volumeMounts.find((m: { name: string }) => m.name === 'volume-uploads'), { name: 'volume-uploads', mountPath: '/srv/uploads' });
    assert.deepEqual(app.env.find((e: { name: string }) => e.name === 'BERTH_VOLUME_UPLOADS'), { name: 'BERTH_VOLUME_UPLOADS', value: '/srv/uploads' });
    assert.equal(app.securityContext.readOnlyRootFilesystem, true);
    const sweeper = pod.initContainers.find((c: { name: string }) => c.name === 'sweeper');
    assert.ok(sweeper.volumeMounts.some((m: { mountPath: string }) => m.mountPath === '/srv/uploads'), 'the service\'s own sidecar sees the volume');
    assert.ok(sweeper.env.some((e: { name: string; value: string }) => e.name === 'BERTH_VOLUME_UPLOADS' && e.value === '/srv/uploads'));
    for (const c of pod.initContainers.filter((c: { name: string }) => c.name !== 'sweeper')) {
      assert.ok(!c.volumeMounts?.some((m: { mountPath: string }) => m.mountPath === '/srv/uploads'), `platform sidecar ${c.name} does not mount the app's data`);
    }
  }
  assert.deepEqual(checkRestricted(r.objects), []);
  assert.ok(!r.warnings.some((w) => w.path.includes('volumes')), JSON.stringify(r.warnings));
});

test('a ReadWriteOnce volume with a surging rollout is warned about (the new pod could not attach it elsewhere)', async () => {
  const r = await renderYaml(`
app: x
services:
  db:
    run: node db.js
    volumes: [{ name: data, path: /data, sizeMiB: 10 }]
`);
  const w = r.warnings.find((x) => x.path === 'services.db.rollout.maxSurge');
  assert.ok(w, JSON.stringify(r.warnings));
  assert.match(w.message, /ReadWriteOnce volume `data`.*maxSurge: 0, maxUnavailable: 1/);
});
