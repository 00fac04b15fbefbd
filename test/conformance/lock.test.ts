// lock.redis through the lock conformance suite, against Redis 127.0.0.1:6379.
import { createLock, type ComponentSpec } from '../../src/components/index.js';
import { requireServer } from '../helpers/servers.js';
import { runLockConformance } from './lock.js';

const spec = (metadata: Record<string, string>): ComponentSpec => ({ name: 'lockstore', type: 'lock.redis', version: 'v1', metadata, scopes: [] });

runLockConformance('lock.redis', {
  available: (t) => requireServer(t, 'Redis', '127.0.0.1', 6379),
  open: async () => createLock(spec({ redisHost: '127.0.0.1:6379' }), { appId: 'conf' }),
  openUnreachable: async () => createLock(spec({ redisHost: '127.0.0.1:1', dialTimeout: '300ms' }), { appId: 'conf' }),
});
