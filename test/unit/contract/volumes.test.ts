// `volumes:` on a service: defaults, names and paths, and the rules a Kubernetes user expects (a
// ReadWriteOnce volume is not shared by several instances; per-instance volumes are refused for now).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSpecText, volumeEnv, type SpecError } from '../../../src/contract/index.js';
import { yaml } from './helpers.js';

const FILE = '/tmp/berth-volumes/berth.yaml';

function problems(text: string): SpecError[] {
  const r = validateSpecText(text, FILE);
  assert.equal(r.ok, false, 'expected errors');
  return r.ok ? [] : r.errors;
}

test('a volume gets its defaults: ReadWriteOnce, shared', () => {
  const r = validateSpecText(yaml`
    app: shop
    services:
      db:
        run: x
        volumes: [{ name: data, path: /var/lib/app, sizeMiB: 1024 }]
  `, FILE);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  assert.deepEqual(r.spec.services.db.volumes, [{ name: 'data', path: '/var/lib/app', sizeMiB: 1024, accessMode: 'ReadWriteOnce', perInstance: false }]);
});

test('BERTH_VOLUME_<NAME>: upper-cased, - becomes _', () => {
  assert.equal(volumeEnv('order-data'), 'BERTH_VOLUME_ORDER_DATA');
});

test('bad names, paths and sizes point at file:line:col', () => {
  const errs = problems(yaml`
    app: shop
    services:
      db:
        run: x
        volumes:
          - { name: Data, path: var/lib, sizeMiB: 0 }
          - { name: b, path: /a/../etc, sizeMiB: 1.5, accessMode: ReadOnlyMany }
          - { name: c, path: "/data:x", sizeMiB: 1 }
          - { name: d, path: /data/, sizeMiB: 1 }
          - { path: /e }
  `);
  const got = errs.map((e) => `${e.line}:${e.col} ${e.path}`);
  for (const want of [
    '6:17 services.db.volumes.0.name',
    '6:29 services.db.volumes.0.path',
    '6:47 services.db.volumes.0.sizeMiB',
    '7:26 services.db.volumes.1.path',
    '7:46 services.db.volumes.1.sizeMiB',
    '7:63 services.db.volumes.1.accessMode',
    '8:26 services.db.volumes.2.path',
    '9:26 services.db.volumes.3.path',
  ]) assert.ok(got.includes(want), `${want} in ${got.join(', ')}`);
  const missing = errs.filter((e) => e.path.startsWith('services.db.volumes.4'));
  assert.deepEqual(missing.map((e) => `${e.line}:${e.col} ${e.path}: ${e.message} (${e.hint ?? ''})`), [
    '10:9 services.db.volumes.4.name: missing required field `name` (name the volume, e.g. `name: data` (the app finds it in BERTH_VOLUME_DATA))',
    '10:9 services.db.volumes.4.sizeMiB: missing required field `sizeMiB` ()',
  ]);
});

test('names and paths are unique per service; /tmp is the cluster scratch space', () => {
  const errs = problems(yaml`
    app: shop
    services:
      db:
        run: x
        volumes:
          - { name: data, path: /data, sizeMiB: 1 }
          - { name: data, path: /other, sizeMiB: 1 }
          - { name: logs, path: /data, sizeMiB: 1 }
          - { name: scratch, path: /tmp, sizeMiB: 1 }
      other:
        run: x
        volumes: [{ name: data, path: /data, sizeMiB: 1 }]
  `);
  assert.deepEqual(
    errs.map((e) => `${e.line}:${e.col} ${e.path}: ${e.message}`),
    [
      '7:17 services.db.volumes.1.name: duplicate volume name `data`',
      '8:29 services.db.volumes.2.path: volume `data` is already mounted at /data',
      '9:32 services.db.volumes.3.path: /tmp is the scratch space every container gets on the cluster',
    ],
  );
});

test('a ReadWriteOnce volume shared by several instances is an error; ReadWriteMany is fine', () => {
  const errs = problems(yaml`
    app: shop
    services:
      a: { run: x, replicas: 2, volumes: [{ name: data, path: /data, sizeMiB: 1 }] }
      b: { run: x, scale: { max: 3, metrics: [{ rps: 5 }] }, port: 80, volumes: [{ name: data, path: /data, sizeMiB: 1, accessMode: ReadWriteOnce }] }
      c: { run: x, replicas: 3, volumes: [{ name: data, path: /data, sizeMiB: 1, accessMode: ReadWriteMany }] }
      d: { run: x, port: 81, variants: { v2: { env: { A: b } } }, volumes: [{ name: data, path: /data, sizeMiB: 1 }] }
  `);
  assert.deepEqual(
    errs.map((e) => `${e.line}:${e.col} ${e.path}`),
    ['3:39 services.a.volumes.0', '4:129 services.b.volumes.0.accessMode', '6:73 services.d.volumes.0'],
  );
  assert.match(errs[0].message, /runs up to 2 instances, but a ReadWriteOnce volume is mounted by one node only/);
  assert.match(errs[0].hint ?? '', /ReadWriteMany/);
  assert.match(errs[2].message, /up to 2 instances/);
});

test('per-instance volumes are refused with a reason; a variant cannot change volumes', () => {
  const errs = problems(yaml`
    app: shop
    services:
      a: { run: x, volumes: [{ name: data, path: /data, sizeMiB: 1, perInstance: true }] }
      b: { run: x, port: 80, volumes: [{ name: data, path: /data, sizeMiB: 1, accessMode: ReadWriteMany }], variants: { v2: { volumes: [] } } }
  `);
  assert.deepEqual(
    errs.map((e) => `${e.path}: ${e.message}`),
    [
      'services.a.volumes.0.perInstance: per-instance volumes are not supported yet: each instance would need a stable identity (a StatefulSet ordinal), which Berth does not give instances',
      'services.b.variants.v2.volumes: a variant cannot change `volumes`',
    ],
  );
});
