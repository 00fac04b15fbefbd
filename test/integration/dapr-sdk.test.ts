// Issue 16: the official Dapr JS SDK (@dapr/dapr, DaprClient and DaprServer over HTTP) works
// unchanged against Berth's building-block API, served by each instance's berth-proxy. Two apps run
// under `berth up`: one on the embedded defaults (statestore = state.sqlite, pubsub = pubsub.sqlite,
// plus a local.file secret store and lock.redis from a components folder), one on real servers
// (state.redis, state.postgresql, pubsub.redis). The SDK client in this test talks to an instance's
// sidecar through that instance's DAPR_HTTP_PORT; the apps themselves use DaprServer for
// subscriptions and invocation targets and `new DaprClient()` with no options.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DaprClient, HttpMethod, CommunicationProtocolEnum } from '@dapr/dapr';
import pg from 'pg';
import { berth, berthOk, portBlock, ps, tempApp, waitFor, type PsRow } from './harness/berth.js';
import { daprSdkApp, daprSdkWorker } from './dapr-sdk-app.js';

const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;

/** A variable of a running process, from its environment. */
const envVar = (pid: number, name: string): string | undefined =>
  readFileSync(`/proc/${pid}/environ`, 'utf8')
    .split('\0')
    .find((e) => e.startsWith(`${name}=`))
    ?.slice(name.length + 1);

const service = (name: string, port: number, replicas: number, env: Record<string, string>, dapr: string): string => `  ${name}:
    run: node app.mjs
    port: ${port}
    replicas: ${replicas}
    env: ${JSON.stringify(env)}
    dapr: ${dapr}
    probes:
      readiness: { http: { path: /ready }, periodSeconds: 0.2 }
    stopGracePeriodSeconds: 5
`;

/** A raw call to a sidecar, for what the SDK hides (status codes, error bodies). */
async function raw(port: number, path: string, init: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: init.method ?? 'GET', ...(init.body !== undefined ? { body: init.body } : {}), headers: init.headers ?? {} });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

interface Running {
  dir: string;
  rows: PsRow[];
  port: (row: PsRow) => number;
  client: (row: PsRow) => DaprClient;
}

async function bringUp(dir: string, services: string[]): Promise<Running> {
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60'], { timeoutMs: 120_000 });
  const rows = await waitFor('every instance ready', async () => {
    const r = await ps(dir);
    return services.every((s) => r.some((x) => x.service === s)) && r.every((x) => x.ready && x.pid !== null) ? r : undefined;
  });
  const port = (row: PsRow): number => Number(envVar(row.pid!, 'DAPR_HTTP_PORT'));
  const client = (row: PsRow): DaprClient =>
    new DaprClient({ daprHost: '127.0.0.1', daprPort: String(port(row)), communicationProtocol: CommunicationProtocolEnum.HTTP, ...(envVar(row.pid!, 'DAPR_API_TOKEN') ? { daprApiToken: envVar(row.pid!, 'DAPR_API_TOKEN') } : {}) });
  return { dir, rows, port, client };
}

/** The state checks every store passes through the SDK: save/get/bulk/delete/etag/transaction/TTL. */
async function stateChecks(c: DaprClient, port: number, store: string): Promise<void> {
  const k = (s: string): string => `${run}-${store}-${s}`;
  assert.deepEqual(await c.state.save(store, [{ key: k('a'), value: { n: 1, tags: ['x'] } }, { key: k('b'), value: 'text' }]), {});
  assert.deepEqual(await c.state.get(store, k('a')), { n: 1, tags: ['x'] });
  assert.equal(await c.state.get(store, k('b')), 'text');
  assert.equal(await c.state.get(store, k('missing')), '', 'a missing key is 204: the SDK gives an empty string');
  const g = await raw(port, `/v1.0/state/${store}/${k('missing')}`);
  assert.equal(g.status, 204);

  const bulk = (await c.state.getBulk(store, [k('a'), k('missing')])) as { key: string; data?: unknown; etag?: string }[];
  const a = bulk.find((x) => x.key === k('a'))!;
  assert.deepEqual(a.data, { n: 1, tags: ['x'] });
  assert.ok(a.etag, 'bulk get gives the ETag');
  assert.deepEqual(bulk.find((x) => x.key === k('missing')), { key: k('missing') });
  const got = await raw(port, `/v1.0/state/${store}/${k('a')}`);
  assert.equal(got.headers.get('etag'), a.etag, 'GET answers the ETag header');

  // ETag: a stale one is refused with 409; the current one wins and changes it.
  const stale = await raw(port, `/v1.0/state/${store}`, { method: 'POST', body: JSON.stringify([{ key: k('a'), value: 2, etag: store === 'pgstore' ? '00000000-0000-0000-0000-000000000000' : '999999' }]) });
  assert.equal(stale.status, 409, stale.body);
  assert.equal(JSON.parse(stale.body).errorCode, 'ERR_STATE_SAVE');
  assert.ok(JSON.parse(stale.body).message.includes(`"${k('a')}"`) && !stale.body.includes('||'), 'the key as the app knows it, no store prefix');
  const sdkStale = await c.state.save(store, [{ key: k('a'), value: 2, etag: store === 'pgstore' ? '00000000-0000-0000-0000-000000000000' : '999999' }]);
  assert.ok(sdkStale.error, 'the SDK reports the conflict');
  assert.deepEqual(await c.state.save(store, [{ key: k('a'), value: 2, etag: a.etag }]), {});
  assert.equal(await c.state.get(store, k('a')), 2);
  // first-write: a write without an ETag to an existing key fails.
  const fw = await raw(port, `/v1.0/state/${store}`, { method: 'POST', body: JSON.stringify([{ key: k('a'), value: 3, options: { concurrency: 'first-write' } }]) });
  assert.equal(fw.status, 409, fw.body);

  // Delete with a stale If-Match: 409; without: gone.
  const del = await raw(port, `/v1.0/state/${store}/${k('a')}`, { method: 'DELETE', headers: { 'if-match': a.etag! } });
  assert.equal(del.status, 409, del.body);
  assert.equal(JSON.parse(del.body).errorCode, 'ERR_STATE_DELETE');
  assert.deepEqual(await c.state.delete(store, k('a')), {});
  assert.equal(await c.state.get(store, k('a')), '');

  // Transaction: all or nothing.
  await c.state.transaction(store, [
    { operation: 'upsert', request: { key: k('t1'), value: { t: 1 } } },
    { operation: 'upsert', request: { key: k('t2'), value: { t: 2 } } },
    { operation: 'delete', request: { key: k('b') } },
  ]);
  assert.deepEqual(await c.state.get(store, k('t1')), { t: 1 });
  assert.equal(await c.state.get(store, k('b')), '');
  await assert.rejects(
    c.state.transaction(store, [
      { operation: 'upsert', request: { key: k('t1'), value: 'changed' } },
      { operation: 'delete', request: { key: k('t2'), etag: { value: store === 'pgstore' ? '00000000-0000-0000-0000-000000000000' : '999999' } } },
    ]),
    /409/,
  );
  assert.deepEqual(await c.state.get(store, k('t1')), { t: 1 }, 'a failed transaction changes nothing');

  // TTL: the item is gone after it; GET reports when it expires.
  await c.state.save(store, [{ key: k('ttl'), value: 'short', metadata: { ttlInSeconds: '1' } }]);
  const t = await raw(port, `/v1.0/state/${store}/${k('ttl')}`);
  assert.equal(t.status, 200);
  assert.ok(t.headers.get('metadata.ttlexpiretime'), 'metadata.ttlExpireTime header');
  await waitFor('TTL expired', async () => (await c.state.get(store, k('ttl'))) === '', 5000, 200);
  // Request-level metadata overrides the item's TTL.
  const over = await raw(port, `/v1.0/state/${store}?metadata.ttlInSeconds=1`, { method: 'POST', body: JSON.stringify([{ key: k('ttl2'), value: 1, metadata: { ttlInSeconds: '3600' } }]) });
  assert.equal(over.status, 204, over.body);
  await waitFor('request TTL won', async () => (await c.state.get(store, k('ttl2'))) === '', 5000, 200);
}

describe('Dapr SDK against Berth: embedded defaults', { timeout: 240_000 }, () => {
  const base = portBlock(4);
  const secrets = { 'db-password': 's3cret', nested: { user: 'ada' } };
  const dir = tempApp({
    'app.mjs': daprSdkApp,
    'worker.mjs': daprSdkWorker,
    'berth.yaml': `app: dapr-sdk-${run}
services:
${service('orders', base, 2, { SUBSCRIBE: '1', BINDING: '1' }, '{ enabled: true, maxRequestBodyMiB: 1 }')}${service('audit', base + 1, 1, {}, '{ enabled: true, apiToken: true }')}  worker:
    run: node worker.mjs
    dapr: { enabled: true }
    stopGracePeriodSeconds: 2
`,
  });
  mkdirSync(join(dir, 'components'));
  writeFileSync(join(dir, 'secrets.json'), JSON.stringify(secrets));
  writeFileSync(
    join(dir, 'components', 'stores.yaml'),
    `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: secretstore }
spec:
  type: secretstores.local.file
  version: v1
  metadata:
    - { name: secretsFile, value: secrets.json }
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: lockstore }
spec:
  type: lock.redis
  version: v1
  metadata:
    - { name: redisHost, value: "127.0.0.1:6379" }
    - { name: keyPrefix, value: "berth-sdk-${run}" }
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: { name: lost }
spec:
  pubsubname: pubsub
  topic: lost
  routes: { default: /nowhere }
  deadLetterTopic: poison-dead
scopes: [orders]
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: tick }
spec:
  type: bindings.cron
  version: v1
  metadata:
    - { name: schedule, value: "@every 1s" }
scopes: [orders]
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: web }
spec:
  type: bindings.http
  version: v1
  metadata:
    - { name: url, value: "http://127.0.0.1:${base + 1}" }
`,
  );
  let r: Running;
  before(async () => {
    r = await bringUp(dir, ['orders', 'audit', 'worker']);
  });
  after(async () => {
    await berth(dir, ['down']);
  });
  const orders = (i = 0): PsRow => r.rows.filter((x) => x.service === 'orders')[i];
  const audit = (): PsRow => r.rows.find((x) => x.service === 'audit')!;

  test('each instance has its own DAPR_HTTP_PORT, APP_ID and a sidecar answering there', async () => {
    const [o1, o2] = [orders(0), orders(1)];
    assert.notEqual(r.port(o1), r.port(o2));
    assert.equal(envVar(o1.pid!, 'APP_ID'), 'orders');
    assert.equal(envVar(o1.pid!, 'DAPR_HTTP_ENDPOINT'), `http://127.0.0.1:${r.port(o1)}`);
    for (const row of [o1, o2]) {
      const who = (await r.client(row).invoker.invoke('orders', 'whoami', HttpMethod.GET)) as { appId: string };
      assert.equal(who.appId, 'orders');
      assert.equal((await raw(r.port(row), '/v1.0/healthz')).status, 204);
      assert.equal((await raw(r.port(row), '/v1.0/healthz/outbound')).status, 204);
    }
    // The app's own `new DaprClient()` (no options) reaches its sidecar.
    const self = (await r.client(o1).invoker.invoke('orders', 'selfcheck', HttpMethod.GET)) as { stored: { instance: string }; metadataId: string };
    assert.equal(self.metadataId, 'orders');
    assert.match(self.stored.instance, /^orders-/);
  });

  test('state on the embedded state.sqlite: save/get/bulk/delete/etag/transaction/TTL', async () => {
    await stateChecks(r.client(orders()), r.port(orders()), 'statestore');
  });

  test('state written through one instance is read through the other (one store, keys <appId>||key)', async () => {
    await r.client(orders(0)).state.save('statestore', [{ key: `${run}-shared`, value: { v: 1 } }]);
    assert.deepEqual(await r.client(orders(1)).state.get('statestore', `${run}-shared`), { v: 1 });
  });

  test('query API (alpha1) on state.sqlite: EQ, sort, page', async () => {
    const c = r.client(orders());
    await c.state.save('statestore', [1, 2, 3, 4].map((i) => ({ key: `${run}-q${i}`, value: { run, team: i % 2 ? 'odd' : 'even', i } })));
    const res = await c.state.query('statestore', { filter: { AND: [{ EQ: { run } }, { EQ: { team: 'odd' } }] }, sort: [{ key: 'i', order: 'DESC' }], page: { limit: 10 } } as never);
    assert.deepEqual(res.results.map((x) => (x.data as { i: number }).i), [3, 1]);
  });

  test('publish + programmatic subscriptions: delivery as a CloudEvent, RETRY redelivered, DROP to the dead-letter topic, rules', async () => {
    const c = r.client(orders());
    const id = `${run}-m1`;
    await c.pubsub.publish('pubsub', 'orders', { id, total: 12 });
    await c.pubsub.publish('pubsub', 'flaky', { id });
    await c.pubsub.publish('pubsub', 'poison', { id });
    await c.pubsub.publish('pubsub', 'routed', { id, kind: 'big' });
    await c.pubsub.publish('pubsub', 'routed', { id: `${id}-s`, kind: 'small' });
    const get = (k: string): Promise<unknown> => c.state.get('statestore', k);
    const recv = (await waitFor('delivered', async () => (await get(`recv-${id}`)) || undefined, 15_000, 100)) as { data: unknown };
    assert.deepEqual(recv.data, { id, total: 12 });
    assert.equal(await waitFor('three attempts (RETRY, RETRY, SUCCESS)', async () => ((await get(`attempts-${id}`)) === 3 ? 3 : undefined), 15_000, 100), 3);
    assert.deepEqual(await waitFor('dropped to the dead-letter topic', async () => (await get(`dead-${id}`)) || undefined, 15_000, 100), { id });
    assert.deepEqual(await waitFor('rule match', async () => (await get(`big-${id}`)) || undefined, 15_000, 100), { id, kind: 'big' });
    assert.deepEqual(await waitFor('default route', async () => (await get(`small-${id}-s`)) || undefined, 15_000, 100), { id: `${id}-s`, kind: 'small' });
    assert.equal(await get(`small-${id}`), '', 'the matched message did not also go to the default route');
    // A declarative subscription to a route the app does not serve: 404 → dropped → dead-letter topic.
    await c.pubsub.publish('pubsub', 'lost', { id: `${id}-lost` });
    assert.deepEqual(await waitFor('404 dropped to the dead-letter topic', async () => (await get(`dead-${id}-lost`)) || undefined, 15_000, 100), { id: `${id}-lost` });
    // The dead letter is in `berth events`, attributed to the instance that dropped it.
    const ev = await waitFor('DeadLetter event', async () => {
      const r = await berth(dir, ['events', '--json']);
      const rows = r.stdout.trim().split('\n').filter(Boolean).flatMap((l) => { try { const v = JSON.parse(l) as unknown; return Array.isArray(v) ? v : [v]; } catch { return []; } }) as { reason: string; message: string; service?: string }[];
      return rows.find((e) => e.reason === 'DeadLetter' && e.message.includes('pubsub/poison') && e.message.includes('dead-letter topic poison-dead'));
    }, 15_000, 500);
    assert.equal(ev.service, 'orders');
    // Exactly one instance of the group took each message, and stayed on it (no second delivery of attempts).
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(await get(`attempts-${id}`), 3);
  });

  test('publish: raw payloads, the caller’s own CloudEvent, bulk publish, and Dapr’s error codes', async () => {
    const port = r.port(orders());
    const rawPub = await raw(port, '/v1.0/publish/pubsub/orders?metadata.rawPayload=true', { method: 'POST', body: JSON.stringify({ id: `${run}-raw` }), headers: { 'content-type': 'application/json' } });
    assert.equal(rawPub.status, 204);
    const ce = { specversion: '1.0', id: `${run}-ce`, source: 'elsewhere', type: 'com.example.order', datacontenttype: 'application/json', data: { id: `${run}-ce` } };
    assert.equal((await raw(port, '/v1.0/publish/pubsub/orders', { method: 'POST', body: JSON.stringify(ce), headers: { 'content-type': 'application/cloudevents+json' } })).status, 204);
    const bulk = await r.client(orders()).pubsub.publishBulk('pubsub', 'orders', [{ id: `${run}-b1` }, { id: `${run}-b2` }]);
    assert.deepEqual(bulk.failedMessages, []);
    const c = r.client(orders());
    for (const id of [`${run}-raw`, `${run}-ce`, `${run}-b1`, `${run}-b2`]) {
      const got = (await waitFor(`delivered ${id}`, async () => (await c.state.get('statestore', `recv-${id}`)) || undefined, 15_000, 100)) as { data: unknown };
      assert.deepEqual(got.data, { id });
    }
    const dup = await raw(port, '/v1.0-alpha1/publish/bulk/pubsub/orders', { method: 'POST', body: JSON.stringify([{ entryId: '1', event: 'a', contentType: 'text/plain' }, { entryId: '1', event: 'b', contentType: 'text/plain' }]) });
    assert.equal(dup.status, 400);
    const badCe = await raw(port, '/v1.0/publish/pubsub/orders', { method: 'POST', body: JSON.stringify({ specversion: '0.3', id: 'x', source: 's', type: 't' }), headers: { 'content-type': 'application/cloudevents+json' } });
    assert.equal(badCe.status, 400);
    assert.equal(JSON.parse(badCe.body).errorCode, 'ERR_PUBSUB_CLOUD_EVENTS_SER');
    const nopub = await raw(port, '/v1.0/publish/nope/orders', { method: 'POST', body: '{}' });
    assert.equal(nopub.status, 400);
    assert.equal(JSON.parse(nopub.body).errorCode, 'ERR_PUBSUB_NOT_FOUND');
  });

  test('service invocation between two services through the mesh, any verb, body and query passed through', async () => {
    const c = r.client(orders());
    const res = (await c.invoker.invoke('audit', 'ping?x=1', HttpMethod.POST, { hello: 'audit' })) as { from: string; got: unknown };
    assert.equal(res.from, 'audit');
    assert.deepEqual(res.got, { hello: 'audit' });
    // The dapr-app-id header form.
    const viaHeader = await raw(r.port(orders()), '/ping', { method: 'POST', body: '{"h":1}', headers: { 'dapr-app-id': 'audit', 'content-type': 'application/json' } });
    assert.equal(viaHeader.status, 200);
    assert.equal(JSON.parse(viaHeader.body).from, 'audit');
    const unknown = await raw(r.port(orders()), '/v1.0/invoke/ghost/method/x');
    assert.equal(unknown.status, 500);
    assert.equal(JSON.parse(unknown.body).errorCode, 'ERR_DIRECT_INVOKE');
    const missing = await raw(r.port(orders()), '/v1.0/invoke/audit/method/nothing-here');
    assert.equal(missing.status, 404, 'the callee’s status passes through');
  });

  test('secrets: get and bulk from secretstores.local.file', async () => {
    const c = r.client(orders());
    assert.deepEqual(await c.secret.get('secretstore', 'db-password'), { 'db-password': 's3cret' });
    assert.deepEqual(await c.secret.get('secretstore', 'nested:user'), { 'nested:user': 'ada' });
    const all = (await c.secret.getBulk('secretstore')) as Record<string, Record<string, string>>;
    assert.deepEqual(all['db-password'], { 'db-password': 's3cret' });
    const missing = await raw(r.port(orders()), '/v1.0/secrets/secretstore/nope');
    assert.equal(missing.status, 500);
    assert.equal(JSON.parse(missing.body).errorCode, 'ERR_SECRET_GET');
    const nostore = await raw(r.port(orders()), '/v1.0/secrets/vault/x');
    assert.equal(nostore.status, 401);
    assert.equal(JSON.parse(nostore.body).errorCode, 'ERR_SECRET_STORE_NOT_FOUND');
  });

  test('locks (alpha1): one owner at a time, unlock answers 0–2', async () => {
    const c1 = r.client(orders(0));
    const c2 = r.client(orders(1));
    const res = `${run}-res`;
    assert.deepEqual(await c1.lock.lock('lockstore', res, 'owner-1', 30), { success: true });
    assert.deepEqual(await c2.lock.lock('lockstore', res, 'owner-2', 30), { success: false });
    assert.deepEqual(await c2.lock.unlock('lockstore', res, 'owner-2'), { status: 2 });
    assert.deepEqual(await c1.lock.unlock('lockstore', res, 'owner-1'), { status: 0 });
    assert.deepEqual(await c1.lock.unlock('lockstore', res, 'owner-1'), { status: 1 });
    const bad = await raw(r.port(orders()), '/v1.0-alpha1/lock/lockstore', { method: 'POST', body: JSON.stringify({ resourceId: res, lockOwner: '', expiryInSeconds: 5 }) });
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.body).errorCode, 'ERR_MALFORMED_REQUEST');
  });

  test('bindings: bindings.cron triggers every instance\'s app on its route; bindings.http output through the SDK', async () => {
    const c = r.client(orders());
    for (const row of r.rows.filter((x) => x.service === 'orders')) {
      await waitFor(`cron binding reached ${row.instance}`, async () => ((await c.state.get('statestore', `tick-${row.instance}`)) ? true : undefined), 15_000, 200);
    }
    const out = (await c.binding.send('web', 'post', { hello: 'binding' }, { path: '/ping', 'Content-Type': 'application/json' })) as { from: string; got: unknown };
    assert.equal(out.from, 'audit');
    assert.deepEqual(out.got, { hello: 'binding' });
    const missing = await raw(r.port(orders()), '/v1.0/bindings/nope', { method: 'POST', body: JSON.stringify({ operation: 'create' }) });
    assert.equal(missing.status, 500);
    assert.equal(JSON.parse(missing.body).errorCode, 'ERR_INVOKE_OUTPUT_BINDING');
  });

  test('metadata: app ID, components with capabilities, subscriptions, extended attributes', async () => {
    const c = r.client(orders());
    await c.metadata.set('team', 'payments');
    const m = (await c.metadata.get()) as unknown as { id: string; components: { name: string; type: string; capabilities: string[] }[]; subscriptions: { topic: string; deadLetterTopic?: string }[]; extended: Record<string, string> };
    assert.equal(m.id, 'orders');
    const names = m.components.map((x) => `${x.name}:${x.type}`).sort();
    assert.deepEqual(names, ['lockstore:lock.redis', 'pubsub:pubsub.sqlite', 'secretstore:secretstores.local.file', 'statestore:state.sqlite', 'tick:bindings.cron', 'web:bindings.http']);
    assert.deepEqual(m.components.find((x) => x.name === 'statestore')!.capabilities.sort(), ['ETAG', 'QUERY_API', 'TRANSACTIONAL', 'TTL']);
    assert.ok(m.subscriptions.some((s) => s.topic === 'poison' && s.deadLetterTopic === 'poison-dead'));
    assert.equal(m.extended.team, 'payments');
  });

  test('hostile input: 413 past maxRequestBodyMiB, malformed JSON 400, unknown store 400 ERR_STATE_STORE_NOT_FOUND, bad etag 400', async () => {
    const port = r.port(orders());
    const big = await raw(port, '/v1.0/state/statestore', { method: 'POST', body: Buffer.alloc(2 * 1024 * 1024, 0x61) });
    assert.equal(big.status, 413);
    const bad = await raw(port, '/v1.0/state/statestore', { method: 'POST', body: '[{"key":' });
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.body).errorCode, 'ERR_MALFORMED_REQUEST');
    const unknown = await raw(port, '/v1.0/state/nope/k');
    assert.equal(unknown.status, 400);
    assert.equal(JSON.parse(unknown.body).errorCode, 'ERR_STATE_STORE_NOT_FOUND');
    const sep = await raw(port, '/v1.0/state/statestore', { method: 'POST', body: JSON.stringify([{ key: 'a||b', value: 1 }]) });
    assert.equal(sep.status, 400);
    // The sidecar is still fine.
    assert.equal((await raw(port, '/v1.0/healthz')).status, 204);
  });

  test('CLI: components ls (--json, health), state get/set with the app\'s keys, publish reaching the running app', async () => {
    const ls = await berthOk(dir, ['components', 'ls', '--json']);
    const comps = JSON.parse(ls.stdout) as { name: string; type: string; services: string[]; default: boolean; health: string }[];
    const byName = Object.fromEntries(comps.map((x) => [x.name, x]));
    assert.deepEqual(byName.statestore.services.sort(), ['audit', 'orders', 'worker']);
    assert.equal(byName.statestore.default, true);
    assert.equal(byName.lockstore.health, 'ok');
    assert.equal(byName.secretstore.default, false);
    const text = await berthOk(dir, ['components', 'ls']);
    assert.match(text.stdout, /statestore \(default\)\s+state\.sqlite/);

    const c = r.client(orders());
    await c.state.save('statestore', [{ key: `${run}-cli`, value: { from: 'sdk' } }]);
    const got = await berthOk(dir, ['state', 'get', 'statestore', `${run}-cli`, '--service', 'orders', '--json']);
    assert.deepEqual(JSON.parse(got.stdout).value, { from: 'sdk' });
    await berthOk(dir, ['state', 'set', 'statestore', `${run}-cli2`, '{"from":"cli"}', '--service', 'orders']);
    assert.deepEqual(await c.state.get('statestore', `${run}-cli2`), { from: 'cli' });
    const ambiguous = await berth(dir, ['state', 'get', 'statestore', 'x']);
    assert.equal(ambiguous.code, 2, 'two services use the store: --service is needed');
    const absent = await berth(dir, ['state', 'get', 'statestore', `${run}-none`, '--service', 'orders']);
    assert.equal(absent.code, 1);

    await berthOk(dir, ['publish', 'pubsub', 'orders', JSON.stringify({ id: `${run}-cli` })]);
    const recv = (await waitFor('CLI publish delivered', async () => (await c.state.get('statestore', `recv-${run}-cli`)) || undefined, 15_000, 100)) as { data: unknown };
    assert.deepEqual(recv.data, { id: `${run}-cli` });
  });

  test('a service without a port gets the API too (an API-only proxy): its default DaprClient saves and publishes', async () => {
    const got = await waitFor('worker saved its state', async () => {
      const res = await berth(dir, ['state', 'get', 'statestore', 'worker-ok', '--service', 'worker', '--json']);
      return res.code === 0 ? (JSON.parse(res.stdout) as { value: { appId: string } }) : undefined;
    }, 20_000, 300);
    assert.equal(got.value.appId, 'worker');
    const c = r.client(orders());
    const recv = (await waitFor('worker publish delivered to orders', async () => (await c.state.get('statestore', 'recv-from-worker')) || undefined, 15_000, 100)) as { data: unknown };
    assert.deepEqual(recv.data, { id: 'from-worker' });
  });

  test('apiToken: calls without dapr-api-token are refused with 401, healthz is not; the SDK sends DAPR_API_TOKEN', async () => {
    const port = r.port(audit());
    assert.equal((await raw(port, '/v1.0/metadata')).status, 401);
    assert.equal((await raw(port, '/v1.0/metadata', { headers: { 'dapr-api-token': 'wrong' } })).status, 401);
    assert.equal((await raw(port, '/v1.0/healthz')).status, 204);
    const m = (await r.client(audit()).metadata.get()) as unknown as { id: string };
    assert.equal(m.id, 'audit');
    assert.ok(envVar(audit().pid!, 'APP_API_TOKEN'));
  });
});

describe('Dapr SDK against Berth: Redis and PostgreSQL backends from a components folder', { timeout: 240_000 }, () => {
  const base = portBlock(2);
  const table = `berth_sdk_${run}`;
  const dir = tempApp({
    'app.mjs': daprSdkApp,
    'berth.yaml': `app: dapr-sdk-real-${run}
services:
${service('orders', base, 2, { SUBSCRIBE: '1' }, '{ enabled: true }')}`,
  });
  mkdirSync(join(dir, 'components'));
  writeFileSync(
    join(dir, 'components', 'real.yaml'),
    `apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: statestore }
spec:
  type: state.redis
  version: v1
  metadata:
    - { name: redisHost, value: "127.0.0.1:6379" }
    - { name: keyPrefix, value: "berth-sdk-${run}" }
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: pgstore }
spec:
  type: state.postgresql
  version: v1
  metadata:
    - { name: connectionString, value: "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5" }
    - { name: tableName, value: ${table} }
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: pubsub }
spec:
  type: pubsub.redis
  version: v1
  metadata:
    - { name: redisHost, value: "127.0.0.1:6379" }
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: rabbit }
spec:
  type: pubsub.rabbitmq
  version: v1
  metadata:
    - { name: connectionString, value: "amqp://guest:guest@127.0.0.1:5672" }
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: { name: nats }
spec:
  type: pubsub.jetstream
  version: v1
  metadata:
    - { name: natsURL, value: "nats://127.0.0.1:4222" }
---
# Declarative subscriptions (both of Dapr's shapes) into the SDK app's handler of pubsub/orders.
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: { name: rabbit-orders }
spec:
  pubsubname: rabbit
  topic: berth-sdk-orders
  routes: { default: /pubsub--orders--default }
scopes: [orders]
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata: { name: nats-orders }
spec:
  pubsubname: nats
  topic: berth-sdk-orders
  route: /pubsub--orders--default
scopes: [orders]
`,
  );
  let r: Running;
  before(async () => {
    r = await bringUp(dir, ['orders']);
  });
  after(async () => {
    await berth(dir, ['down']);
    const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
    await c.connect();
    await c.query(`DROP TABLE IF EXISTS ${table}`);
    await c.end();
  });
  const orders = (i = 0): PsRow => r.rows.filter((x) => x.service === 'orders')[i];

  test('state.redis through the SDK', async () => {
    await stateChecks(r.client(orders()), r.port(orders()), 'statestore');
  });

  test('state.postgresql through the SDK, with the query API', async () => {
    await stateChecks(r.client(orders()), r.port(orders()), 'pgstore');
    const c = r.client(orders());
    await c.state.save('pgstore', [1, 2, 3].map((i) => ({ key: `${run}-pq${i}`, value: { run, i } })));
    const res = await c.state.query('pgstore', { filter: { EQ: { run } }, sort: [{ key: 'i', order: 'ASC' }], page: { limit: 2 } } as never);
    assert.deepEqual(res.results.map((x) => (x.data as { i: number }).i), [1, 2]);
    assert.ok(res.token, 'a next page');
  });

  test('pubsub.rabbitmq and pubsub.jetstream through declarative Subscription files (v2alpha1 and v1alpha1)', async () => {
    const c = r.client(orders());
    const m = (await c.metadata.get()) as unknown as { subscriptions: { pubsubname: string; type: string }[] };
    assert.deepEqual(m.subscriptions.filter((s) => s.type === 'DECLARATIVE').map((s) => s.pubsubname).sort(), ['nats', 'rabbit']);
    for (const p of ['rabbit', 'nats']) {
      const id = `${run}-${p}`;
      // RabbitMQ keeps nothing for a queue not yet bound: publish until the subscription is in place.
      const got = await waitFor(`${p}: delivered`, async () => {
        const v = (await c.state.get('statestore', `recv-${id}`)) as { data?: unknown } | '';
        if (v) return v;
        await c.pubsub.publish(p, 'berth-sdk-orders', { id });
        return undefined;
      }, 20_000, 500);
      assert.deepEqual((got as { data: unknown }).data, { id });
    }
  });

  test('pubsub.redis: delivery, RETRY and DROP → dead letter, through the SDK server', async () => {
    const c = r.client(orders());
    const id = `${run}-r1`;
    await c.pubsub.publish('pubsub', 'orders', { id });
    await c.pubsub.publish('pubsub', 'flaky', { id });
    await c.pubsub.publish('pubsub', 'poison', { id });
    const get = (k: string): Promise<unknown> => c.state.get('statestore', k);
    assert.deepEqual(((await waitFor('delivered', async () => (await get(`recv-${id}`)) || undefined, 15_000, 100)) as { data: unknown }).data, { id });
    assert.equal(await waitFor('three attempts', async () => ((await get(`attempts-${id}`)) === 3 ? 3 : undefined), 15_000, 100), 3);
    assert.deepEqual(await waitFor('dead letter', async () => (await get(`dead-${id}`)) || undefined, 15_000, 100), { id });
  });
});
