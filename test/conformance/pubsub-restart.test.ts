// The embedded pub/sub survives the death of the process that holds it: a real child process
// publishes, takes a message and is SIGKILLed mid-handler; a new process (this one) opening the
// same SQLite file gets every message, the taken one again with its attempt counted. Redis and
// JetStream specifics too: a group deleted under a subscriber is recreated; one `streamName`
// keeps several topics.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { connect as natsConnect } from 'nats';
import { createPubSub, type PubSubMessage } from '../../src/components/index.js';
import { requireServer, until } from '../helpers/servers.js';

const child = fileURLToPath(new URL('./pubsub-holder-proc.js', import.meta.url));

test('pubsub.sqlite: messages survive a SIGKILL of the holding process', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'berth-pubsub-kill-')), 'pubsub.db');
  const proc = spawn(process.execPath, [child, file, 'orders', 'svc', 'm1', 'm2', 'm3'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  try {
    await until('the child to take a message', () => out.includes('READY') && out.includes('GOT '), 10_000);
  } finally {
    proc.kill('SIGKILL');
    await exited;
  }
  const taken = [...out.matchAll(/GOT (\S+)/g)].map((m) => m[1]);
  const ps = createPubSub({ name: 'pubsub', type: 'pubsub.sqlite', version: 'v1', metadata: { connectionString: file, pollInterval: '20ms' }, scopes: [] });
  try {
    const got: PubSubMessage[] = [];
    await ps.subscribe({ topic: 'orders', consumerGroup: 'svc', handler: (m) => (got.push(m), 'SUCCESS') });
    await until('all three messages after the restart', () => new Set(got.map((m) => m.data.toString())).size === 3, 10_000);
    for (const t of taken) {
      const again = got.find((m) => m.data.toString() === t);
      assert.ok(again && again.attempt >= 2, `${t} was taken by the killed process: attempt ${again?.attempt}`);
    }
  } finally {
    await ps.close();
  }
});

test('pubsub.redis: a stream and group deleted under a subscriber are recreated', async (t) => {
  if (!(await requireServer(t, 'Redis', '127.0.0.1', 6379))) return;
  const topic = `conf-redis-nogroup-${randomUUID().slice(0, 8)}`;
  const admin = new Redis({ host: '127.0.0.1', port: 6379 });
  const ps = createPubSub({ name: 'p', type: 'pubsub.redis', version: 'v1', metadata: { redisHost: '127.0.0.1:6379' }, scopes: [] });
  try {
    const got: string[] = [];
    await ps.subscribe({ topic, consumerGroup: 'g', handler: (m) => (got.push(m.data.toString()), 'SUCCESS') });
    await ps.publish({ topic, data: 'before' });
    await until('first message', () => got.includes('before'));
    await admin.del(topic);
    await until('the group recreated', async () => ((await admin.call('XINFO', 'GROUPS', topic).catch(() => [])) as unknown[]).length > 0, 10_000);
    await ps.publish({ topic, data: 'after' });
    await until('message after the deletion', () => got.includes('after'));
  } finally {
    await ps.close();
    await admin.del(topic);
    admin.disconnect();
  }
});

test('pubsub.jetstream: one streamName keeps several topics', async (t) => {
  if (!(await requireServer(t, 'NATS', '127.0.0.1', 4222))) return;
  const run = randomUUID().slice(0, 8);
  const streamName = `conf-shared-${run}`;
  const ps = createPubSub({ name: 'p', type: 'pubsub.jetstream', version: 'v1', metadata: { natsURL: 'nats://127.0.0.1:4222', streamName }, scopes: [] });
  const nc = await natsConnect({ servers: 'nats://127.0.0.1:4222' });
  const jsm = await nc.jetstreamManager();
  try {
    const got: string[] = [];
    for (const topic of [`a-${run}`, `b-${run}`]) {
      await ps.subscribe({ topic, consumerGroup: 'g', handler: (m) => (got.push(`${topic}:${m.data.toString()}`), 'SUCCESS') });
      await ps.publish({ topic, data: 'x' });
    }
    await until('both topics delivered', () => got.length >= 2);
    assert.deepEqual(got.sort(), [`a-${run}:x`, `b-${run}:x`]);
    const info = await jsm.streams.info(streamName);
    assert.deepEqual(info.config.subjects.sort(), [`a-${run}`, `b-${run}`]);
  } finally {
    await ps.close();
    await jsm.streams.delete(streamName).catch(() => undefined);
    await nc.close();
  }
});
