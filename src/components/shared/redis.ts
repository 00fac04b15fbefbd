// One way to open ioredis from Dapr's Redis metadata (redisHost, redisUsername, redisPassword,
// redisDB, enableTLS), shared by pubsub.redis and lock.redis.
import { Redis, type RedisOptions } from 'ioredis';
import type { MetadataReader } from '../metadata.js';

export function redisOptions(meta: MetadataReader): RedisOptions {
  const hostPort = meta.required('redisHost');
  const idx = hostPort.lastIndexOf(':');
  const host = idx > 0 ? hostPort.slice(0, idx) : hostPort;
  const port = idx > 0 ? Number(hostPort.slice(idx + 1)) : 6379;
  return {
    host,
    port,
    username: meta.string('redisUsername'),
    password: meta.string('redisPassword'),
    db: meta.int('redisDB', 0),
    tls: meta.bool('enableTLS', false) ? {} : undefined,
    connectTimeout: meta.duration('dialTimeout', 5000),
    // Fail a command instead of queueing it forever when the server is away.
    maxRetriesPerRequest: 2,
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
