// The dashboard's Components view data: where each component's data lives, never with a password;
// the states of the sidecars serving it summed (a real HTTP server as a sidecar's admin port); the
// subscriptions, declared and programmatic. And the recordings' entry count, read as files grow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { componentBackend, componentsView } from '../../../src/control/dashboard/components.js';
import { Recordings } from '../../../src/control/recordings.js';
import type { ComponentDecl } from '../../../src/lib/dapr-config.js';
import type { DesiredState } from '../../../src/plan/index.js';

const decl = (name: string, type: string, metadata: Record<string, string> = {}, extra: Partial<ComponentDecl> = {}): ComponentDecl => ({ name, type, version: 'v1', metadata, secretKeyRefs: {}, scopes: [], ignoreErrors: false, ...extra });

test('the backend names where the data lives, without credentials', () => {
  assert.equal(componentBackend(decl('a', 'state.redis', { redisHost: '127.0.0.1:6379', redisPassword: 'pw' })), 'redis 127.0.0.1:6379');
  assert.equal(componentBackend(decl('b', 'state.postgresql', { connectionString: 'host=db.local port=5432 user=app password=s3cret dbname=orders' })), 'postgresql db.local:5432/orders');
  assert.equal(componentBackend(decl('c', 'pubsub.rabbitmq', { connectionString: 'amqp://guest:s3cret@127.0.0.1:5672' })), 'rabbitmq 127.0.0.1:5672');
  assert.equal(componentBackend(decl('d', 'pubsub.jetstream', { natsURL: 'nats://u:p@127.0.0.1:4222' })), 'jetstream 127.0.0.1:4222');
  assert.equal(componentBackend(decl('e', 'state.in-memory')), 'in the sidecar (in memory)');
  assert.equal(componentBackend(decl('f', 'state.redis', {}, { secretKeyRefs: { redisHost: { name: 'r', key: 'r' } } })), 'redis (address from a secret)');
  assert.equal(componentBackend(decl('g', 'bindings.cron', { schedule: '@every 1s' })), 'cron @every 1s');
  assert.equal(componentBackend(decl('h', 'state.sqlite')), 'sqlite');
  for (const c of [decl('x', 'state.postgresql', { connectionString: 'postgres://app:s3cret@db:5432/orders' }), decl('y', 'state.redis', { redisHost: 'user:s3cret@redis:6379' })])
    assert.ok(!componentBackend(c).includes('s3cret'), componentBackend(c));
});

test('components with the summed states of their sidecars, and the subscriptions', async () => {
  const answers: Record<string, unknown> = {
    '127.0.0.2': {
      appId: 'front',
      components: [
        { name: 'statestore', type: 'state.sqlite', state: 'ready' },
        { name: 'broken', type: 'state.redis', state: 'failed', error: 'connect ECONNREFUSED 127.0.0.1:1' },
      ],
      subscriptions: [
        { pubsubname: 'pubsub', topic: 'orders', type: 'PROGRAMMATIC', routes: ['/orders'] },
        { pubsubname: 'pubsub', topic: 'declared', type: 'DECLARATIVE', routes: ['/d'] },
      ],
    },
    '127.0.0.3': { appId: 'front', components: [{ name: 'statestore', type: 'state.sqlite', state: 'unused' }, { name: 'broken', type: 'state.redis', state: 'unused' }], subscriptions: [{ pubsubname: 'pubsub', topic: 'orders', type: 'programmatic', routes: ['/orders'] }] },
  };
  const server = http.createServer((req, res) => {
    const body = JSON.stringify(req.url === '/mesh/components' ? answers[req.socket.localAddress!.replace('::ffff:', '')] : null);
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const statestore = decl('statestore', 'state.sqlite');
    const broken = decl('broken', 'state.redis', { redisHost: '127.0.0.1:1' });
    const desired = {
      components: [statestore, broken],
      subscriptions: [{ name: 's', pubsubname: 'pubsub', topic: 'declared', routes: { rules: [], default: '/d' }, metadata: {}, scopes: ['front'], declaredAt: { file: 'x', line: 1, col: 1 } }],
      services: [
        { name: 'front', dapr: { appId: 'front', apiToken: false, maxRequestBodyMiB: 4, components: [statestore, broken, decl('pubsub', 'pubsub.in-memory')], subscriptions: [] } },
        { name: 'back' },
      ],
    } as unknown as DesiredState;
    const targets = ['127.0.0.2', '127.0.0.3'].map((host, i) => ({ id: `front-${i}`, service: 'front', variant: 'default', host, adminPort: port }));
    const v = await componentsView(desired, [...targets, { id: 'back-0', service: 'back', variant: 'default', host: '127.0.0.4', adminPort: port }]);
    assert.deepEqual(
      v.components.map((c) => [c.name, c.status, c.default, c.services, c.instances.ready, c.instances.failed]),
      [
        ['broken', 'failed', false, ['front'], 0, 1],
        ['pubsub', 'unknown', true, ['front'], 0, 0],
        ['statestore', 'ready', false, ['front'], 1, 0],
      ],
    );
    assert.match(v.components[0].error ?? '', /ECONNREFUSED/);
    assert.deepEqual(
      v.subscriptions.map((s) => [s.topic, s.type, s.services, s.routes]),
      [
        ['declared', 'declarative', ['front'], ['/d']],
        ['orders', 'programmatic', ['front'], ['/orders']],
      ],
    );
  } finally {
    server.close();
  }
});

test('a recording\'s entries are counted from the bytes appended since the last count', async () => {
  const state = mkdtempSync(join(tmpdir(), 'berth-rec-count-'));
  const dir = join(state, 'recordings', 'spec-front');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'p-0001.har');
  const entry = (n: number) => JSON.stringify({ startedDateTime: '2026-12-05T14:00:00Z', request: { url: `/x/${n}` }, _downstream: [{ startedDateTime: 'nested, not counted' }] });
  writeFileSync(file, `{"log":{"version":"1.2","creator":{"name":"berth","version":"0"},"entries":[\n${entry(1)}`);
  const recs = new Recordings(state, { services: () => ['front'], specRecordings: () => ({ front: { id: 'spec-front', sample: 1, redactHeaders: [], maxBodyBytes: 1, maxFileMiB: 1 } }), changed: () => {}, synced: async () => {} });
  const count = async () => (await recs.list()).find((r) => r.id === 'spec-front')!.entries;
  assert.equal(await count(), 1);
  // The file ends with the separator's newline: the next entry's `{` comes in the next append.
  appendFileSync(file, ',\n');
  assert.equal(await count(), 1);
  appendFileSync(file, `${entry(2)},\n${entry(3)}`);
  assert.equal(await count(), 3);
  appendFileSync(file, '\n]}}\n');
  assert.equal(await count(), 3);
});
