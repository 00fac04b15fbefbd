// Issue 16 point 5: on a cluster real Dapr serves the building-block API. Services that use it get
// Dapr's injector annotations; components and subscriptions (inline and from componentsPath) render
// as Dapr's Component and Subscription resources — credentials as Secrets + secretKeyRef — and the
// embedded defaults as in-memory components with a warning naming the real ones to configure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { toYamlStream } from '../../../../src/targets/kubernetes/index.js';
import { find, renderFile, tempApp } from './helpers.js';

const SPEC = `
app: shop
secrets:
  redis-pass: { value: hunter2-in-spec }
components:
  cache:
    type: state.redis
    metadata:
      - { name: redisHost, value: "redis:6379" }
      - { name: redisPassword, secretKeyRef: { name: redis-pass } }
    scopes: [orders]
services:
  orders:
    run: node app.js
    port: 8080
    dapr: { apiToken: true, maxRequestBodyMiB: 16 }
  web:
    run: node app.js
    port: 8081
    dapr: { enabled: true, appId: storefront }
  plain:
    run: node app.js
    port: 8082
    dapr: { enabled: false }
`;
const FILES = {
  'app.js': '',
  'components/broker.yaml': `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: broker }
spec:
  type: pubsub.rabbitmq
  version: v1
  metadata:
    - { name: connectionString, value: "amqp://u:s3cret-amqp@rabbit:5672" }
    - { name: durable, value: "true" }
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: { name: orders-sub }
spec:
  pubsubname: broker
  topic: orders
  routes: { rules: [{ match: 'event.type == "big"', path: /big }], default: /orders }
  deadLetterTopic: orders-dead
scopes: [orders]
`,
};

async function render() {
  const dir = tempApp({ 'berth.yaml': SPEC, ...FILES });
  return renderFile(join(dir, 'berth.yaml'));
}

test('pods of services using the API carry dapr.io annotations; a service opted out has none', async () => {
  const r = await render();
  const ann = (name: string) => (find(r, 'Deployment', name).spec as { template: { metadata: { annotations?: Record<string, string> } } }).template.metadata.annotations;
  assert.deepEqual(ann('orders'), {
    'dapr.io/enabled': 'true',
    'dapr.io/app-id': 'orders',
    'dapr.io/app-port': '8080',
    'dapr.io/http-max-request-size': '16',
    'dapr.io/api-token-secret': 'shop-orders-dapr-api-token',
  });
  assert.deepEqual(ann('web'), { 'dapr.io/enabled': 'true', 'dapr.io/app-id': 'storefront', 'dapr.io/app-port': '8081' });
  assert.equal(ann('plain'), undefined);
  assert.ok(r.warnings.some((w) => w.path === 'services.orders.dapr.apiToken' && w.message.includes('shop-orders-dapr-api-token')));
});

test('components render as Dapr Components; credentials never appear in them, only Secret references', async () => {
  const r = await render();
  const cache = find(r, 'Component', 'cache');
  assert.equal(cache.apiVersion, 'dapr.io/v1alpha1');
  assert.deepEqual(cache.scopes, ['orders']);
  assert.deepEqual((cache.spec as { metadata: unknown }).metadata, [
    { name: 'redisHost', value: 'redis:6379' },
    { name: 'redisPassword', secretKeyRef: { name: 'redis-pass', key: 'value' } },
  ]);
  const broker = find(r, 'Component', 'broker');
  assert.deepEqual((broker.spec as { type: string; metadata: unknown }).metadata, [
    { name: 'connectionString', secretKeyRef: { name: 'broker-dapr-component', key: 'connectionString' } },
    { name: 'durable', value: 'true' },
  ]);
  const secret = find(r, 'Secret', 'broker-dapr-component');
  assert.equal(Buffer.from((secret.data as Record<string, string>).connectionString, 'base64').toString(), 'amqp://u:s3cret-amqp@rabbit:5672');
  const components = toYamlStream(r.objects.filter((o) => o.kind === 'Component'));
  assert.ok(!components.includes('s3cret-amqp') && !components.includes('hunter2'), 'no credential in a Component');
});

test('subscriptions render as dapr.io/v2alpha1 Subscriptions; embedded defaults as in-memory with a warning', async () => {
  const r = await render();
  const sub = find(r, 'Subscription', 'orders-sub');
  assert.equal(sub.apiVersion, 'dapr.io/v2alpha1');
  assert.deepEqual(sub.spec, { pubsubname: 'broker', topic: 'orders', routes: { rules: [{ match: 'event.type == "big"', path: '/big' }], default: '/orders' }, deadLetterTopic: 'orders-dead' });
  // web has no state store in scope: it gets the default statestore, which has no cluster counterpart.
  const def = find(r, 'Component', 'statestore');
  assert.equal((def.spec as { type: string }).type, 'state.in-memory');
  assert.deepEqual(def.scopes, ['storefront']);
  assert.ok(r.warnings.some((w) => w.path === 'components.statestore' && /state\.redis or state\.postgresql/.test(w.message)));
  assert.equal(r.objects.filter((o) => o.kind === 'Component' && o.metadata.name === 'pubsub').length, 0, 'broker is every service\'s pub/sub: no default pubsub');
  assert.ok(!r.warnings.some((w) => /not rendered yet/.test(w.message) && /dapr|components/.test(w.path)), 'dapr and components are covered');
});
