// Every PubSub backend through the one conformance suite, each against its real broker:
// in-process (pubsub.in-memory), a SQLite file (pubsub.sqlite, the embedded default), Redis
// 127.0.0.1:6379, RabbitMQ 127.0.0.1:5672 (guest/guest) and NATS JetStream 127.0.0.1:4222.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { connect as amqpConnect } from 'amqplib';
import { connect as natsConnect } from 'nats';
import { createPubSub, type ComponentSpec, type PubSub } from '../../src/components/index.js';
import { requireServer } from '../helpers/servers.js';
import { runPubSubConformance } from './pubsub.js';

const spec = (type: string, metadata: Record<string, string>): ComponentSpec => ({ name: 'conf', type, version: 'v1', metadata, scopes: [] });

// pubsub.in-memory lives inside one process: every "instance" of a test is the same broker object
// (as all subscriptions of one sidecar share it); a closed one is replaced by a new, empty broker.
{
  let current: PubSub | undefined;
  let closed = true;
  runPubSubConformance('in-memory', {
    available: async () => true,
    open: async () => {
      if (!current || closed) {
        const ps = createPubSub(spec('pubsub.in-memory', {}), { appId: 'conf' });
        const close = ps.close.bind(ps);
        ps.close = async () => {
          closed = true;
          await close();
        };
        current = ps;
        closed = false;
      }
      return current;
    },
    holderLossRedelivers: false,
    durable: false,
  });
}

{
  const dir = mkdtempSync(join(tmpdir(), 'berth-pubsub-'));
  const file = join(dir, 'pubsub.db');
  runPubSubConformance('sqlite', {
    available: async () => true,
    open: async () => createPubSub(spec('pubsub.sqlite', { connectionString: file, processingTimeout: '500ms', pollInterval: '20ms' }), { appId: 'conf' }),
    breakTopic: async (topic) => {
      const db = new Database(file);
      const name = `break_${topic.replace(/\W/g, '_')}`;
      db.exec(`CREATE TRIGGER ${name} BEFORE INSERT ON messages WHEN NEW.topic = '${topic}' BEGIN SELECT RAISE(ABORT, 'topic broken by the test'); END`);
      return async () => {
        db.exec(`DROP TRIGGER ${name}`);
        db.close();
      };
    },
    holderLossRedelivers: true,
    takeoverMs: 500,
    durable: true,
  });
}

{
  const meta = { redisHost: '127.0.0.1:6379', processingTimeout: '500ms', redeliverInterval: '200ms' };
  const admin = () => new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
  runPubSubConformance('redis', {
    available: (t) => requireServer(t, 'Redis', '127.0.0.1', 6379),
    open: async () => createPubSub(spec('pubsub.redis', meta), { appId: 'conf' }),
    breakTopic: async (topic) => {
      const r = admin();
      await r.set(topic, 'not a stream'); // XADD answers WRONGTYPE
      return async () => {
        await r.del(topic);
        r.disconnect();
      };
    },
    holderLossRedelivers: true,
    takeoverMs: 500,
    durable: false,
    cleanup: async (topics) => {
      const r = admin();
      try {
        await r.connect();
        await r.del(...topics);
      } catch {
        // the server was not there: nothing to clean
      } finally {
        r.disconnect();
      }
    },
  });
}

{
  const url = 'amqp://guest:guest@127.0.0.1:5672';
  const meta = { connectionString: url, durable: 'true', deletedWhenUnused: 'false', deliveryMode: '2', reconnectWait: '200ms' };
  runPubSubConformance('rabbitmq', {
    available: (t) => requireServer(t, 'RabbitMQ', '127.0.0.1', 5672),
    open: async () => createPubSub(spec('pubsub.rabbitmq', meta), { appId: 'conf' }),
    breakTopic: async (topic) => {
      const c = await amqpConnect(url);
      const ch = await c.createChannel();
      await ch.assertExchange(topic, 'direct', { durable: false }); // a fanout declaration now fails
      return async () => {
        await ch.deleteExchange(topic);
        await c.close();
      };
    },
    holderLossRedelivers: true,
    takeoverMs: 300, // RabbitMQ never takes a message from a live channel; the case still checks it
    durable: false,
    cleanup: async (topics, groups) => {
      let c;
      try {
        c = await amqpConnect(url);
      } catch {
        return;
      }
      const ch = await c.createChannel();
      ch.on('error', () => undefined);
      for (const t of topics) {
        for (const g of groups) await ch.deleteQueue(`${g}-${t}`).catch(() => undefined); // Dapr's queue name
        await ch.deleteExchange(t).catch(() => undefined);
      }
      await c.close().catch(() => undefined);
    },
  });
}

{
  const meta = { natsURL: 'nats://127.0.0.1:4222', ackWait: '1s' };
  runPubSubConformance('jetstream', {
    available: (t) => requireServer(t, 'NATS', '127.0.0.1', 4222),
    open: async () => createPubSub(spec('pubsub.jetstream', meta), { appId: 'conf' }),
    breakTopic: async (topic) => {
      const nc = await natsConnect({ servers: meta.natsURL });
      const jsm = await nc.jetstreamManager();
      const name = `blocker-${topic.replace(/\W/g, '_')}`;
      await jsm.streams.add({ name, subjects: [topic] }); // the backend's own stream would overlap it
      return async () => {
        await jsm.streams.delete(name);
        await nc.close();
      };
    },
    holderLossRedelivers: true,
    takeoverMs: 1000,
    durable: false,
    cleanup: async (topics) => {
      let nc;
      try {
        nc = await natsConnect({ servers: meta.natsURL });
      } catch {
        return;
      }
      const jsm = await nc.jetstreamManager();
      for await (const s of jsm.streams.list()) {
        if (s.config.subjects.some((sub) => topics.includes(sub))) await jsm.streams.delete(s.config.name).catch(() => undefined);
      }
      await nc.close();
    },
  });
}
