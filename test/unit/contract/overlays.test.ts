// Environment overlays: deep merge rules, positions that point into the overlay, unknown names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSpecText, formatSpecErrors, mergeOverlay } from '../../../src/contract/index.js';
import { yaml } from './helpers.js';

const FILE = '/tmp/berth-overlays/berth.yaml';
const BASE = yaml`
  app: shop
  services:
    web:
      run: node web.js
      port: 8080
      env: { A: "1", B: "2" }
      uses: [orders]
      probes:
        readiness: { http: { path: /ready } }
    orders: { run: node orders.js, port: 8081 }
  environments:
    prod:
      services:
        web:
          replicas: 4
          env: { B: "20", C: "30" }
          uses: []
          probes:
            readiness: { periodSeconds: 5 }
        orders: { port: 9091 }
    dev:
      services:
        web: { replicas: 1 }
`;

test('mergeOverlay: maps merge, lists and scalars replace, null removes', () => {
  assert.deepEqual(mergeOverlay({ a: { x: 1, y: [1, 2] }, b: 1, c: 3 }, { a: { y: [3], z: 2 }, b: 'two', c: null }), {
    a: { x: 1, y: [3], z: 2 },
    b: 'two',
  });
});

test('an overlay deep-merges onto the base', () => {
  const r = validateSpecText(BASE, FILE, { env: 'prod' });
  assert.ok(r.ok, r.ok ? '' : formatSpecErrors(r.errors));
  const web = r.spec.services.web;
  assert.equal(web.replicas, 4);
  assert.deepEqual(web.env, { A: '1', B: '20', C: '30' });
  assert.deepEqual(web.uses, []);
  const readiness = web.probes.readiness;
  assert.ok(readiness && readiness !== 'none');
  assert.equal(readiness.periodSeconds, 5);
  assert.equal(readiness.http?.path, '/ready');
  assert.equal(r.spec.services.orders.port, 9091);
});

test('without env, the base is used as written', () => {
  const r = validateSpecText(BASE, FILE);
  assert.ok(r.ok);
  assert.equal(r.spec.services.web.replicas, 1);
  assert.ok('prod' in r.spec.environments);
});

test('errors in overlay values point at the overlay lines', () => {
  const text = yaml`
    app: shop
    services:
      web:
        run: node web.js
        port: 8080
    environments:
      prod:
        services:
          web:
            port: 99999
            replicas: two
  `;
  const r = validateSpecText(text, FILE, { env: 'prod' });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(
    r.errors.map((e) => [e.line, e.col, e.path]),
    [
      [10, 15, 'services.web.port'],
      [11, 19, 'services.web.replicas'],
    ],
  );
  assert.match(r.errors[0].message, /environments\.prod/);
  // Without the overlay the base is fine.
  assert.equal(validateSpecText(text, FILE).ok, true);
});

test('a base error stays at the base line when the overlay does not touch it', () => {
  const text = yaml`
    app: shop
    services:
      web:
        run: node web.js
        port: 0
    environments:
      prod: { services: { web: { replicas: 2 } } }
  `;
  const r = validateSpecText(text, FILE, { env: 'prod' });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.errors.map((e) => [e.line, e.col, e.path]), [[5, 11, 'services.web.port']]);
  assert.doesNotMatch(r.errors[0].message, /environments/);
});

test('an unknown environment lists the known ones', () => {
  const r = validateSpecText(BASE, FILE, { env: 'staging' });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0].path, 'environments');
  assert.match(r.errors[0].message, /unknown environment `staging`/);
  assert.match(r.errors[0].hint ?? '', /`prod`/);
  assert.match(r.errors[0].hint ?? '', /`dev`/);
});

test('unknown keys in overlays are reported even when not applied', () => {
  const text = yaml`
    app: shop
    services:
      web: { run: node web.js }
    environments:
      prod:
        services:
          web: { replicsa: 3, probes: { livenes: { tcp: {} } } }
        extra: true
  `;
  const r = validateSpecText(text, FILE);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(
    r.errors.map((e) => [e.line, e.col, e.path, e.hint]),
    [
      [7, 14, 'environments.prod.services.web.replicsa', 'did you mean `replicas`?'],
      [7, 37, 'environments.prod.services.web.probes.livenes', 'did you mean `liveness`?'],
      [8, 5, 'environments.prod.extra', 'allowed here: `app`, `services`, `nodes`, `ingress`, `mesh`, `secrets`, `kubernetes`, `componentsPath`, `components`, `analysisTemplates`, `policies` or `gitops`'],
    ],
  );
});

test('an overlay may add a service, which must then be complete', () => {
  const text = yaml`
    app: shop
    services:
      web: { run: node web.js }
    environments:
      prod:
        services:
          cache: { run: redis-server, port: 6379 }
  `;
  const r = validateSpecText(text, FILE, { env: 'prod' });
  assert.ok(r.ok, r.ok ? '' : formatSpecErrors(r.errors));
  assert.deepEqual(Object.keys(r.spec.services), ['web', 'cache']);
});
