// One way to open ioredis from Dapr's Redis metadata (redisHost, redisUsername, redisPassword,
// redisDB, enableTLS, dialTimeout, redisMaxRetries), shared by state.redis, pubsub.redis and lock.redis.
import { Redis, type RedisOptions } from 'ioredis';
import { ComponentConfigError, type MetadataReader } from '../metadata.js';

export function redisOptions(meta: MetadataReader): RedisOptions {
  const hostPort = meta.required('redisHost').trim();
  // host, host:port, or [IPv6]:port
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostPort);
  if (!m) throw new ComponentConfigError(meta.component, `metadata "redisHost" must be host:port, got ${JSON.stringify(hostPort)}`);
  if (meta.string('redisType', 'node') !== 'node') throw new ComponentConfigError(meta.component, 'metadata "redisType": only "node" is supported by Berth');
  if (meta.bool('failover', false)) throw new ComponentConfigError(meta.component, 'metadata "failover" (Redis Sentinel) is not supported by Berth');
  return {
    host: m[1].replace(/^\[|\]$/g, ''),
    port: m[2] ? Number(m[2]) : 6379,
    username: meta.string('redisUsername'),
    password: meta.string('redisPassword'),
    db: meta.int('redisDB', 0),
    tls: meta.bool('enableTLS', false) ? {} : undefined,
    connectTimeout: meta.duration('dialTimeout', 5000),
    // Fail a command instead of queueing it forever when the server is away (Dapr's redisMaxRetries, default 3).
    maxRetriesPerRequest: Math.max(0, meta.int('redisMaxRetries', 3)),
    lazyConnect: true,
  };
}

export async function openRedis(meta: MetadataReader): Promise<Redis> {
  const client = new Redis(redisOptions(meta));
  client.on('error', () => undefined); // reported through the failing commands
  try {
    await client.connect();
  } catch (err) {
    client.disconnect(); // otherwise it keeps reconnecting in the background, and keeps the process alive
    throw err;
  }
  return client;
}
