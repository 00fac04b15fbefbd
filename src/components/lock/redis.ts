// lock.redis: SET key owner NX EX expiry to take a lock; a Lua script that compares the owner
// before deleting to release it, so only the holder can unlock. Keys are `<appId>||<resourceId>`
// by default (Dapr's `keyPrefix` strategies: appid, name, none, or a fixed string).
import type { Redis } from 'ioredis';
import type { ComponentSpec } from '../component.js';
import { ComponentConfigError, MetadataReader } from '../metadata.js';
import { openRedis } from '../shared/redis.js';
import { UnlockStatus, validateLockRequest, type LockStore, type TryLockRequest } from './types.js';

const UNLOCK = `
local v = redis.call("GET", KEYS[1])
if v == false then return 1 end
if v ~= ARGV[1] then return 2 end
redis.call("DEL", KEYS[1])
return 0`;

export class RedisLock implements LockStore {
  readonly type = 'lock.redis';
  readonly name: string;
  private readonly meta: MetadataReader;
  private readonly prefix: string;
  private client: Promise<Redis> | undefined;

  constructor(spec: ComponentSpec, ctx: { appId?: string } = {}) {
    this.name = spec.name;
    this.meta = new MetadataReader(spec);
    this.meta.required('redisHost');
    // Dapr's key prefix strategies: appid (default), name (the component's), none, or a fixed string.
    const keyPrefix = this.meta.string('keyPrefix', 'appid');
    if (keyPrefix.includes('||')) throw new ComponentConfigError(spec.name, 'metadata "keyPrefix" must not contain "||"');
    const prefix = keyPrefix === 'appid' ? (ctx.appId ?? '') : keyPrefix === 'name' ? spec.name : keyPrefix === 'none' ? '' : keyPrefix;
    this.prefix = prefix ? `${prefix}||` : '';
  }

  features(): string[] {
    return [];
  }

  async tryLock(r: TryLockRequest): Promise<{ success: boolean }> {
    validateLockRequest(r, true);
    const res = await (await this.redis()).set(this.prefix + r.resourceId, r.lockOwner, 'EX', r.expiryInSeconds, 'NX');
    return { success: res === 'OK' };
  }

  async unlock(r: { resourceId: string; lockOwner: string }): Promise<{ status: UnlockStatus }> {
    validateLockRequest(r, false);
    try {
      const code = (await (await this.redis()).eval(UNLOCK, 1, this.prefix + r.resourceId, r.lockOwner)) as number;
      return { status: code as UnlockStatus };
    } catch {
      return { status: UnlockStatus.INTERNAL_ERROR };
    }
  }

  async ping(): Promise<boolean> {
    try {
      return (await (await this.redis()).ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) (await c.catch(() => undefined))?.disconnect();
  }

  private redis(): Promise<Redis> {
    if (!this.client) {
      const p = openRedis(this.meta);
      this.client = p;
      p.catch(() => {
        if (this.client === p) this.client = undefined;
      });
    }
    return this.client;
  }
}
