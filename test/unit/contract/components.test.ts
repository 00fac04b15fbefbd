// Building-block components: inline `components:`, Dapr Component/Subscription files in
// componentsPath (errors located in those files), `dapr:` per service, scopes and defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadSpec } from '../../../src/contract/index.js';
import { compile } from '../../../src/plan/index.js';
import { tempDir, yaml } from './helpers.js';

const SPEC = yaml`
  app: shop
  secrets:
    redis-pass: { value: s3cret }
  services:
    web:
      run: node web.js
    worker:
      run: node worker.js
      dapr: { appId: work }
    plain:
      run: node plain.js
      dapr: { enabled: false }
`;

const REDIS = yaml`
  apiVersion: dapr.io/v1alpha1
  kind: Component
  metadata:
    name: orders
  spec:
    type: state.redis
    version: v1
    metadata:
      - name: redisHost
        value: localhost:6379
      - name: redisPassword
        secretKeyRef:
          name: redis-pass
          key: password
      - name: keyPrefix
        value: none
  scopes:
    - web
`;

const SUB = yaml`
  apiVersion: dapr.io/v2alpha1
  kind: Subscription
  metadata:
    name: order-sub
  spec:
    topic: orders
    routes:
      rules:
        - match: event.type == "big"
          path: /big
      default: /orders
    pubsubname: pubsub
    deadLetterTopic: poison
  scopes: [work]
`;

const SUB_V1 = yaml`
  apiVersion: dapr.io/v1alpha1
  kind: Subscription
  metadata: { name: old-sub }
  spec: { topic: t, route: /t, pubsubname: pubsub }
`;

test('components: Dapr files in ./components are read unchanged, normalized and scoped per service', async () => {
  const dir = tempDir({ 'berth.yaml': SPEC, 'components/redis.yaml': REDIS, 'components/subs.yaml': `${SUB}---\n${SUB_V1}`, 'components/README.md': 'not yaml' });
  const r = await loadSpec(dir);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const d = compile(r.spec, { dir: r.dir, specFile: r.file });
  assert.equal(d.components?.length, 1);
  const c = d.components![0];
  assert.deepEqual(
    { name: c.name, type: c.type, version: c.version, metadata: c.metadata, refs: c.secretKeyRefs, scopes: c.scopes },
    { name: 'orders', type: 'state.redis', version: 'v1', metadata: { redisHost: 'localhost:6379', keyPrefix: 'none' }, refs: { redisPassword: { name: 'redis-pass', key: 'password' } }, scopes: ['web'] },
  );
  assert.equal(c.declaredAt?.file, join(dir, 'components/redis.yaml'));
  assert.deepEqual(d.subscriptions?.map((s) => [s.name, s.routes.default, s.routes.rules.length]), [
    ['order-sub', '/orders', 1],
    ['old-sub', '/t', 0],
  ]);
  const svc = (n: string) => d.services.find((s) => s.name === n);
  // web: the redis store is in its scope; it gets the default pubsub, not the default statestore.
  assert.deepEqual(svc('web')?.dapr?.components.map((x) => `${x.name}:${x.type}`), ['orders:state.redis', 'pubsub:pubsub.sqlite']);
  assert.equal(svc('web')?.dapr?.appId, 'web');
  // The sidecar gets the secret's value; the app-wide list keeps the reference (a cluster renders a Secret).
  assert.equal(svc('web')?.dapr?.components[0].metadata.redisPassword, 's3cret');
  assert.deepEqual(svc('web')?.dapr?.components[0].secretKeyRefs, {});
  assert.equal(svc('web')?.dapr?.maxRequestBodyMiB, 4);
  // worker: no component in scope of app ID "work" → does not use the API (enabled not set).
  assert.equal(svc('worker')?.dapr, undefined);
  assert.equal(svc('plain')?.dapr, undefined);
});

test('components: dapr.enabled with nothing declared gives the embedded statestore and pubsub', async () => {
  const dir = tempDir({ 'berth.yaml': yaml`
    app: a
    services:
      s:
        run: node s.js
        dapr: { enabled: true, apiToken: true, maxRequestBodyMiB: 16 }
  ` });
  const r = await loadSpec(dir);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const d = compile(r.spec, { dir: r.dir, specFile: r.file });
  const dapr = d.services[0].dapr;
  assert.deepEqual(dapr?.components.map((x) => `${x.name}:${x.type}`), ['statestore:state.sqlite', 'pubsub:pubsub.sqlite']);
  assert.equal(dapr?.components[0].metadata.connectionString, join(dir, '.berth/components/statestore.db'));
  assert.equal(dapr?.apiToken, true);
  assert.equal(dapr?.maxRequestBodyMiB, 16);
  assert.equal(d.components, undefined);
});

test('components: inline components take a mapping or a list of metadata; unscoped ones enable every service', async () => {
  const dir = tempDir({ 'berth.yaml': yaml`
    app: a
    services:
      s:
        run: node s.js
      t:
        run: node t.js
    components:
      cache:
        type: state.in-memory
      kv:
        type: state.postgresql
        metadata:
          - { name: connectionString, value: "host=127.0.0.1 user=postgres" }
          - { name: timeout, value: 20 }
        scopes: [t]
  ` });
  const r = await loadSpec(dir);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const d = compile(r.spec, { dir: r.dir, specFile: r.file });
  assert.deepEqual(d.components?.map((c) => [c.name, c.version, c.metadata]), [
    ['cache', 'v1', {}],
    ['kv', 'v1', { connectionString: 'host=127.0.0.1 user=postgres', timeout: '20' }],
  ]);
  assert.deepEqual(d.services.find((s) => s.name === 's')?.dapr?.components.map((c) => c.name), ['cache', 'pubsub']);
  assert.deepEqual(d.services.find((s) => s.name === 't')?.dapr?.components.map((c) => c.name), ['cache', 'kv', 'pubsub']);
});

test('components: errors in a component file point at file:line:col', async () => {
  const bad = yaml`
    apiVersion: dapr.io/v1alpha1
    kind: Component
    metadata:
      name: orders
    spec:
      type: state.mongo
      version: v1
      metadata:
        - name: host
          valeu: x
  `;
  const dir = tempDir({ 'berth.yaml': SPEC, 'components/bad.yaml': bad });
  const r = await loadSpec(dir);
  assert.ok(!r.ok);
  const e = r.errors.find((x) => x.file === join(dir, 'components/bad.yaml'));
  assert.ok(e, JSON.stringify(r.errors));
  assert.equal(e.line, 10);
  assert.match(e.message, /valeu/);
});

test('components: an unsupported type is an error at its line, with the supported ones named', async () => {
  const dir = tempDir({ 'berth.yaml': SPEC, 'components/m.yaml': REDIS.replace('state.redis', 'state.mongodb') });
  const r = await loadSpec(dir);
  assert.ok(!r.ok);
  assert.equal(r.errors[0].line, 6);
  assert.equal(r.errors[0].col, 9);
  assert.match(r.errors[0].message, /state\.mongodb.*not supported/);
});

test('components: YAML syntax errors, duplicates, unknown pub/sub and a missing componentsPath are reported', async () => {
  const dup = tempDir({ 'berth.yaml': SPEC, 'components/a.yaml': REDIS, 'components/b.yaml': REDIS });
  const r1 = await loadSpec(dup);
  assert.ok(!r1.ok);
  assert.match(r1.errors[0].message, /declared twice/);
  assert.equal(r1.errors[0].file, join(dup, 'components/b.yaml'));

  const syntax = tempDir({ 'berth.yaml': SPEC, 'components/a.yaml': 'apiVersion: dapr.io/v1alpha1\nkind: [Component\n' });
  const r2 = await loadSpec(syntax);
  assert.ok(!r2.ok);
  assert.match(r2.errors[0].message, /YAML syntax error/);
  assert.deepEqual([r2.errors[0].line, r2.errors[0].file], [3, join(syntax, 'components/a.yaml')]);
  // A broken YAML file that is not a Dapr resource, in the implicit ./components: only a warning.
  const foreign = tempDir({ 'berth.yaml': SPEC, 'components/ui.yaml': 'button: [oops\n' });
  const r2b = await loadSpec(foreign);
  assert.ok(r2b.ok, JSON.stringify(!r2b.ok && r2b.errors));
  assert.ok(r2b.warnings.some((w) => /not read as a Dapr resource/.test(w.message)));

  const sub = tempDir({ 'berth.yaml': SPEC, 'components/s.yaml': SUB.replace('pubsubname: pubsub', 'pubsubname: rabbit') });
  const r3 = await loadSpec(sub);
  assert.ok(!r3.ok);
  assert.match(r3.errors[0].message, /`rabbit`, which is not declared/);

  const missing = tempDir({ 'berth.yaml': `${SPEC}componentsPath: ./dapr\n` });
  const r4 = await loadSpec(missing);
  assert.ok(!r4.ok);
  assert.match(r4.errors[0].message, /does not exist/);
  assert.equal(r4.errors[0].line, 13);
});

test('components: other Dapr kinds and non-Dapr YAML are ignored with a warning; bad appId and scope typos', async () => {
  const dir = tempDir({
    'berth.yaml': `${SPEC}components:\n  c:\n    type: state.in-memory\n    scopes: [wbe]\n`,
    'components/conf.yaml': 'apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: { name: c }\nspec: {}\n',
    'components/other.yaml': 'foo: bar\n',
  });
  const r = await loadSpec(dir);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  assert.ok(r.warnings.some((w) => /Configuration/.test(w.message)));
  assert.ok(r.warnings.some((w) => /not a Dapr resource/.test(w.message)));
  assert.ok(r.warnings.some((w) => /scope `wbe`/.test(w.message) && w.hint === 'did you mean `web`?'));

  const fileScope = tempDir({ 'berth.yaml': SPEC, 'components/r.yaml': REDIS.replace('- web', '- wbe') });
  const r1 = await loadSpec(fileScope);
  assert.ok(r1.ok, JSON.stringify(!r1.ok && r1.errors));
  const w = r1.warnings.find((x) => /scope `wbe`/.test(x.message));
  assert.deepEqual([w?.file, w?.line, w?.col, w?.hint], [join(fileScope, 'components/r.yaml'), 18, 5, 'did you mean `web`?']);

  const bad = tempDir({ 'berth.yaml': SPEC.replace('appId: work', 'appId: web') });
  const r2 = await loadSpec(bad);
  assert.ok(!r2.ok);
  assert.match(r2.errors[0].message, /app ID `web`/);
});

test('components: a secretKeyRef must name a declared secret, and auth.secretStore a declared secret store', async () => {
  const dir = tempDir({ 'berth.yaml': SPEC, 'components/r.yaml': REDIS.replace('name: redis-pass', 'name: redis-pas') });
  const r = await loadSpec(dir);
  assert.ok(!r.ok);
  assert.deepEqual([r.errors[0].file, r.errors[0].line, r.errors[0].col], [join(dir, 'components/r.yaml'), 13, 15]);
  assert.match(r.errors[0].message, /secret `redis-pas`, which is not declared/);
  assert.equal(r.errors[0].hint, 'did you mean `redis-pass`?');

  const withStore = REDIS.replace('scopes:', 'auth:\n  secretStore: vault\nscopes:');
  const r2 = await loadSpec(tempDir({ 'berth.yaml': SPEC, 'components/r.yaml': withStore }));
  assert.ok(!r2.ok);
  assert.match(r2.errors[0].message, /`vault`, which is not a declared secret store/);

  const store = 'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: { name: vault }\nspec: { type: secretstores.local.env, version: v1 }\n';
  const dir3 = tempDir({ 'berth.yaml': SPEC, 'components/r.yaml': withStore, 'components/vault.yaml': store });
  const r3 = await loadSpec(dir3);
  assert.ok(r3.ok, JSON.stringify(!r3.ok && r3.errors));
  const d = compile(r3.spec, { dir: r3.dir, specFile: r3.file });
  const orders = d.services.find((s) => s.name === 'web')?.dapr?.components.find((c) => c.name === 'orders');
  assert.equal(orders?.secretStore, 'vault');
  assert.deepEqual(orders?.secretKeyRefs, { redisPassword: { name: 'redis-pass', key: 'password' } }, 'left for the secret store at run time');
});

test('a service using the building-block API without a port gets an API-only proxy (no inbound listener)', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'berth-dapr-noport-'));
  writeFileSync(join(dir, 'berth.yaml'), 'app: x\nservices:\n  worker:\n    run: node w.js\n    dapr: { enabled: true }\n  plain:\n    run: node w.js\n');
  const r = await loadSpec(join(dir, 'berth.yaml'));
  assert.ok(r.ok);
  assert.deepEqual(r.warnings, []);
  const d = compile(r.spec, { dir: r.dir, specFile: r.file });
  const worker = d.services.find((s) => s.name === 'worker')!;
  const proxy = worker.template.sidecars.find((s) => s.name === 'berth-proxy')!;
  assert.ok(proxy, 'worker has a proxy');
  assert.equal(proxy.env.BERTH_PROXY_PORT, undefined);
  assert.equal(proxy.env.BERTH_DAPR_HTTP_PORT, '$(DAPR_HTTP_PORT)');
  assert.equal(worker.template.main.env.DAPR_HTTP_PORT, '$(DAPR_HTTP_PORT)');
  const plain = d.services.find((s) => s.name === 'plain')!;
  assert.equal(plain.template.sidecars.some((s) => s.name === 'berth-proxy'), false, 'no API, no port: no proxy');
});
