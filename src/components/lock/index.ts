// Distributed locks with Dapr's semantics: tryLock(resourceId, lockOwner, expiryInSeconds) and
// unlock answering 0 success, 1 lock does not exist, 2 lock belongs to others, 3 internal error.
import type { ComponentSpec } from '../component.js';
import { ComponentConfigError } from '../metadata.js';
import { RedisLock } from './redis.js';
import type { LockStore } from './types.js';

export * from './types.js';
export { RedisLock };

export function createLock(spec: ComponentSpec, ctx: { appId?: string } = {}): LockStore {
  if (spec.type === 'lock.redis') return new RedisLock(spec, ctx);
  throw new ComponentConfigError(spec.name, `unknown lock type "${spec.type}"; known: lock.redis`);
}
