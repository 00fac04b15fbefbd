// lock.redis through the lock conformance suite, against Redis 127.0.0.1:6379.
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createLock, type ComponentSpec } from '../../src/components/index.js';
import { requireServer } from '../helpers/servers.js';
import { runLockConformance } from './lock.js';

const spec = (metadata: Record<string, string>): ComponentSpec => ({ name: 'lockstore', type: 'lock.redis', version: 'v1', metadata, scopes: [] });

runLockConformance('lock.redis', {
  available: (t) => requireServer(t, 'Redis', '127.0.0.1', 6379),
  open: async () => createLock(spec({ redisHost: '127.0.0.1:6379' }), { appId: 'conf' }),
  openUnreachable: async () => createLock(spec({ redisHost: '127.0.0.1:1', dialTimeout: '300ms' }), { appId: 'conf' }),
});

test('lock.redis: keys follow Dapr keyPrefix strategies (appid, name, none, fixed)', async (t) => {
  if (!(await requireServer(t, 'Redis', '127.0.0.1', 6379))) return;
  const r = new Redis({ host: '127.0.0.1', port: 6379 });
  const resource = `prefix-${randomUUID().slice(0, 8)}`;
  try {
    const cases: [Record<string, string>, string][] = [
      [{}, `conf||${resource}`],
      [{ keyPrefix: 'name' }, `lockstore||${resource}`],
      [{ keyPrefix: 'none' }, resource],
      [{ keyPrefix: 'team' }, `team||${resource}`],
    ];
    for (const [meta, key] of cases) {
      const lock = createLock(spec({ redisHost: '127.0.0.1:6379', ...meta }), { appId: 'conf' });
      try {
        assert.equal((await lock.tryLock({ resourceId: resource, lockOwner: 'me', expiryInSeconds: 30 })).success, true);
        assert.equal(await r.get(key), 'me', JSON.stringify(meta));
        assert.equal((await lock.unlock({ resourceId: resource, lockOwner: 'me' })).status, 0);
      } finally {
        await lock.close();
      }
    }
    assert.throws(() => createLock(spec({ redisHost: '127.0.0.1:6379', keyPrefix: 'a||b' })), /must not contain/);
  } finally {
    r.disconnect();
  }
});
