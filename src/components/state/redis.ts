// state.redis: each item a hash { data, version } as Dapr's Redis store keeps it; the version is
// the ETag (an integer: anything else is malformed, 400). Writes and transactions run as one Lua
// script that checks every ETag before changing anything, so a transaction is all or nothing.
import { Redis } from 'ioredis';
import { MetadataReader } from '../metadata.js';
import { redisOptions } from '../shared/redis.js';
import { expiryOf, parseIntMeta } from './common.js';
import {
  ComponentConfigError,
  ETagInvalidError,
  ETagMismatchError,
  type BulkGetItem,
  type DeleteRequest,
  type GetResponse,
  type SetRequest,
  type StateFeature,
  type StateStore,
  type TransactionOperation,
} from './state-store.js';

const ARGS_PER_OP = 5;

// ARGV: count, then per op: kind (s|d), etag, first-write (1|0), ttl ("" none, -1 persist, n), data.
const SCRIPT = `
local n = tonumber(ARGV[1])
local ver = {}
for i = 1, n do
  local k = KEYS[i]
  local b = 1 + (i - 1) * ${ARGS_PER_OP}
  local kind, etag, fw = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local cur = ver[k]
  if cur == nil then
    if redis.call('TYPE', k).ok == 'hash' then cur = redis.call('HGET', k, 'version') or false else cur = false end
  end
  if etag ~= '' then
    if cur == false or cur ~= etag then return redis.error_reply('ETAG_MISMATCH ' .. i) end
  elseif kind == 's' and fw == '1' and cur ~= false then
    return redis.error_reply('ETAG_MISMATCH ' .. i)
  end
  if kind == 's' then ver[k] = tostring(tonumber(cur or '0') + 1) else ver[k] = false end
end
for i = 1, n do
  local k = KEYS[i]
  local b = 1 + (i - 1) * ${ARGS_PER_OP}
  local kind, ttl, data = ARGV[b + 1], ARGV[b + 4], ARGV[b + 5]
  if kind == 's' then
    local t = redis.call('TYPE', k).ok
    if t ~= 'hash' and t ~= 'none' then redis.call('DEL', k) end
    redis.call('HSET', k, 'data', data)
    redis.call('HINCRBY', k, 'version', 1)
    if ttl == '' or ttl == '-1' then redis.call('PERSIST', k) else redis.call('EXPIRE', k, tonumber(ttl)) end
  else
    redis.call('DEL', k)
  end
end
return 'OK'
`;

// Reads in one round trip: per key its data, version and PTTL (nil, nil, -2 for a non-item).
const READ_SCRIPT = `
local out = {}
for i, k in ipairs(KEYS) do
  if redis.call('TYPE', k).ok == 'hash' then
    local v = redis.call('HMGET', k, 'data', 'version')
    out[3 * i - 2] = v[1]
    out[3 * i - 1] = v[2]
    out[3 * i] = redis.call('PTTL', k)
  else
    out[3 * i - 2] = false
    out[3 * i - 1] = false
    out[3 * i] = -2
  end
end
return out
`;

export class RedisStateStore implements StateStore {
  private readonly client: Redis;
  /** The component's default TTL (`ttlInSeconds` metadata), for writes that give none. */
  private readonly defaultTtl?: number;

  /** `name`: the component's, for error messages. */
  constructor(metadata: Record<string, string>, name = 'state.redis') {
    this.client = new Redis(redisOptions(new MetadataReader({ name, metadata })));
    // Sent once, then run by its SHA (EVALSHA, reloaded by ioredis after a server restart).
    this.client.defineCommand('berthStateTx', { lua: SCRIPT });
    this.client.defineCommand('berthStateRead', { lua: READ_SCRIPT });
    this.client.on('error', () => {
      // Connection errors surface on the commands that fail; ioredis reconnects by itself.
    });
    const ttl = metadata.ttlInSeconds;
    if (ttl !== undefined && ttl !== '') {
      const n = parseIntMeta('ttlInSeconds', ttl, -1);
      if (n < -1) throw new ComponentConfigError('metadata ttlInSeconds must be -1 or more');
      this.defaultTtl = n;
    }
  }

  /** Connects, so that a wrong host or password fails the component's initialisation. */
  async init(): Promise<void> {
    if (this.client.status === 'wait') await this.client.connect();
    await this.client.ping();
  }

  features(): StateFeature[] {
    return ['ETAG', 'TRANSACTIONAL', 'TTL'];
  }

  private async read(keys: string[]): Promise<(GetResponse | undefined)[]> {
    if (keys.length === 0) return [];
    const client = this.client as unknown as { berthStateReadBuffer(n: number, ...k: string[]): Promise<(Buffer | number | null)[]> };
    const out = await client.berthStateReadBuffer(keys.length, ...keys);
    const now = Date.now();
    return keys.map((_, i) => {
      const data = out[3 * i] as Buffer | null;
      const version = out[3 * i + 1] as Buffer | null;
      if (!data || !version) return undefined;
      const pttl = Number(out[3 * i + 2]);
      return { value: data, etag: version.toString(), ...(pttl > 0 ? { expireTime: new Date(now + pttl) } : {}) };
    });
  }

  async get(key: string): Promise<GetResponse | undefined> {
    return (await this.read([key]))[0];
  }

  async bulkGet(keys: string[]): Promise<BulkGetItem[]> {
    const items = await this.read(keys);
    return keys.map((key, i) => (items[i] ? { key, item: items[i] } : { key }));
  }

  async set(request: SetRequest): Promise<void> {
    await this.transaction([{ operation: 'upsert', request }]);
  }

  async delete(request: DeleteRequest): Promise<void> {
    await this.transaction([{ operation: 'delete', request }]);
  }

  async transaction(ops: TransactionOperation[]): Promise<void> {
    if (ops.length === 0) return;
    const keys: string[] = [];
    const args: (string | Buffer)[] = [String(ops.length)];
    for (const op of ops) {
      const r = op.request;
      if (r.etag !== undefined && r.etag !== '' && !/^\d+$/.test(r.etag)) throw new ETagInvalidError(r.etag);
      keys.push(r.key);
      if (op.operation === 'upsert') {
        const ttl = op.request.ttlInSeconds ?? this.defaultTtl;
        expiryOf(ttl); // validates
        args.push('s', r.etag ?? '', r.options?.concurrency === 'first-write' ? '1' : '0', ttl === undefined ? '' : String(ttl), op.request.value);
      } else {
        args.push('d', r.etag ?? '', '0', '', '');
      }
    }
    try {
      await (this.client as unknown as { berthStateTx(n: number, ...a: (string | Buffer)[]): Promise<unknown> }).berthStateTx(keys.length, ...keys, ...args);
    } catch (e) {
      const m = e instanceof Error ? /ETAG_MISMATCH (\d+)/.exec(e.message) : null;
      if (m) throw new ETagMismatchError(ops[Number(m[1]) - 1].request.key);
      throw e;
    }
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }
}
