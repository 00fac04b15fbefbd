// What is particular to the server-backed state stores, against the real servers: the layout
// Dapr's Redis store uses (a hash with data and version), a component default TTL, and clear
// failures for an unreachable server or a wrong database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { ComponentConfigError, openStateBackend, openStateStore } from '../../../src/components/index.js';

const ctx = { baseDir: tmpdir() };

test('state.redis stores <appId>||<key> as a hash { data, version } (as Dapr), with the default TTL from metadata', async () => {
  const app = `berth-it-${randomBytes(4).toString('hex')}`;
  const s = await openStateStore({ name: 'r', type: 'state.redis', version: 'v1', metadata: { redisHost: '127.0.0.1:6379', ttlInSeconds: '100' }, scopes: [] }, { ...ctx, appId: app });
  const r = new Redis({ host: '127.0.0.1', port: 6379 });
  try {
    await s.set({ key: 'order', value: Buffer.from('{"id":1}') });
    assert.deepEqual(await r.hgetall(`${app}||order`), { data: '{"id":1}', version: '1' });
    const ttl = await r.ttl(`${app}||order`);
    assert.ok(ttl > 90 && ttl <= 100, `default TTL applied (${ttl})`);
    assert.equal((await s.get('order'))?.etag, '1');
    await s.set({ key: 'order', value: Buffer.from('{"id":2}'), ttlInSeconds: -1 });
    assert.equal(await r.ttl(`${app}||order`), -1, 'ttlInSeconds -1 overrides the default');
    assert.equal((await s.get('order'))?.etag, '2');
  } finally {
    await r.del(`${app}||order`);
    r.disconnect();
    await s.close();
  }
});

test('state.redis: an unreachable server fails the component at open', async () => {
  // A port that was just free: nothing listens there.
  const srv = net.createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((res) => srv.close(() => res()));
  const started = Date.now();
  await assert.rejects(
    openStateBackend({ name: 'r', type: 'state.redis', version: 'v1', metadata: { redisHost: `127.0.0.1:${port}`, redisMaxRetries: '0', dialTimeout: '1s' } }, ctx),
    (e: unknown) => e instanceof ComponentConfigError && /cannot reach Redis/.test(e.message),
  );
  assert.ok(Date.now() - started < 10_000);
});

test('state.postgresql: a database that does not exist fails the component at open', async () => {
  await assert.rejects(
    openStateBackend({ name: 'p', type: 'state.postgresql', version: 'v1', metadata: { connectionString: 'host=127.0.0.1 user=postgres dbname=berth_no_such_db connect_timeout=5' } }, ctx),
    (e: unknown) => e instanceof ComponentConfigError && /berth_no_such_db/.test(e.message),
  );
});
