// pubsub.redis: Redis streams, as Dapr's component uses them. A topic is a stream, a consumer group
// is a Redis consumer group (created from the stream's start, like Dapr), and each subscriber is a
// consumer in it. Unacked messages stay in the group's pending list: a RETRY is re-claimed by its
// holder after the back-off (XCLAIM), and messages whose holder died are taken over by XAUTOCLAIM
// once idle longer than processingTimeout.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ComponentSpec } from '../component.js';
import { openRedis } from '../shared/redis.js';
import { BrokerPubSub, Timers, type Consumer, type Delivery, type PubSubContext, type WireMessage } from './broker.js';
import type { PubSubFeature } from './types.js';

type Entry = [id: Buffer, fields: Buffer[] | null];

function fieldsToWire(fields: Buffer[]): WireMessage {
  const f = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i].toString(), fields[i + 1]);
  const expires = f.get('expiresAt')?.toString();
  return {
    id: f.get('id')?.toString() ?? randomUUID(),
    data: f.get('data') ?? Buffer.alloc(0),
    contentType: f.get('contentType')?.toString() ?? 'application/octet-stream',
    metadata: f.has('metadata') ? (JSON.parse(f.get('metadata')!.toString()) as Record<string, string>) : {},
    expiresAt: expires ? Number(expires) : undefined,
  };
}

export class RedisPubSub extends BrokerPubSub {
  readonly type = 'pubsub.redis';
  private client: Promise<Redis> | undefined;
  private readonly processingTimeoutMs: number;
  private readonly redeliverIntervalMs: number;
  private readonly concurrency: number;
  private readonly maxLenApprox: number;

  constructor(spec: ComponentSpec, ctx: PubSubContext = {}) {
    super(spec, ctx);
    this.processingTimeoutMs = this.meta.duration('processingTimeout', 60_000);
    this.redeliverIntervalMs = this.meta.duration('redeliverInterval', 60_000);
    this.concurrency = Math.max(1, this.meta.int('concurrency', 10));
    this.maxLenApprox = this.meta.int('maxLenApprox', 0);
  }

  features(): PubSubFeature[] {
    return [];
  }

  async ping(): Promise<boolean> {
    try {
      return (await (await this.redis()).ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  protected async publishWire(topic: string, m: WireMessage): Promise<void> {
    const args: (string | Buffer | number)[] = [topic];
    if (this.maxLenApprox > 0) args.push('MAXLEN', '~', this.maxLenApprox);
    args.push('*', 'data', m.data, 'id', m.id, 'contentType', m.contentType, 'metadata', JSON.stringify(m.metadata));
    if (m.expiresAt !== undefined) args.push('expiresAt', String(m.expiresAt));
    await (await this.redis()).call('XADD', ...args);
  }

  protected async openConsumer(topic: string, group: string, deliver: (d: Delivery) => void): Promise<Consumer> {
    const client = await this.redis();
    const ensureGroup = async (): Promise<void> => {
      try {
        await client.call('XGROUP', 'CREATE', topic, group, '0', 'MKSTREAM');
      } catch (err) {
        if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
      }
    };
    await ensureGroup();
    const reader = client.duplicate();
    reader.on('error', () => undefined);
    const consumerName = `${group}-${randomUUID()}`;
    const timers = new Timers();
    const held = new Set<string>(); // stream IDs this consumer is handling or waiting to retry
    const alive = new Set<NodeJS.Timeout>();
    let stopped = false;

    const hand = (streamId: string, fields: Buffer[] | null, attempt: number): void => {
      if (fields === null) {
        void client.call('XACK', topic, group, streamId).catch(() => undefined); // trimmed away
        return;
      }
      held.add(streamId);
      let settled = false;
      // While the handler works, re-claiming it (JUSTID: no delivery counted) keeps it from looking
      // idle, so XAUTOCLAIM elsewhere only takes messages whose holder is really gone.
      const keepAlive = setInterval(() => {
        // A missed keep-alive only risks a redelivery (at-least-once); the next tick tries again.
        void client.call('XCLAIM', topic, group, consumerName, '0', streamId, 'JUSTID').catch(() => undefined);
      }, Math.max(50, this.processingTimeoutMs / 3));
      keepAlive.unref();
      alive.add(keepAlive);
      const settle = (): boolean => {
        clearInterval(keepAlive);
        alive.delete(keepAlive);
        if (settled) return false;
        settled = true;
        return true;
      };
      deliver({
        message: fieldsToWire(fields),
        attempt,
        ack: async () => {
          if (!settle()) return;
          try {
            await client.call('XACK', topic, group, streamId);
          } finally {
            held.delete(streamId);
          }
        },
        retryLater: async (delayMs) => {
          if (!settle()) return;
          timers.after(delayMs, () => {
            held.delete(streamId);
            if (stopped) return; // stays pending; XAUTOCLAIM hands it to a live consumer
            // Claiming it again (min idle 0) both checks it is still ours and counts the delivery.
            void client
              .callBuffer('XCLAIM', topic, group, consumerName, '0', streamId)
              .then((r) => {
                const entries = r as Entry[];
                if (!stopped && entries.length > 0 && entries[0]) hand(streamId, entries[0][1], attempt + 1);
              })
              // Not re-claimed now (a lost connection): the message stays pending and XAUTOCLAIM hands it out again.
              .catch(() => undefined);
          });
        },
      });
    };

    const readLoop = async (): Promise<void> => {
      while (!stopped) {
        const room = this.concurrency - held.size;
        if (room <= 0) {
          await new Promise((r) => setTimeout(r, 10));
          continue;
        }
        try {
          const res = (await reader.callBuffer('XREADGROUP', 'GROUP', group, consumerName, 'COUNT', room, 'BLOCK', 1000, 'STREAMS', topic, '>')) as
            | [Buffer, Entry[]][]
            | null;
          if (stopped) break;
          for (const [, entries] of res ?? []) for (const [id, fields] of entries) hand(id.toString(), fields, 1);
        } catch (err) {
          if (stopped) break;
          // The stream or group was deleted under us (FLUSHALL, DEL): create it again and go on.
          if (String((err as Error).message).includes('NOGROUP')) await ensureGroup().catch(() => undefined);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    };

    const reclaim = async (): Promise<void> => {
      if (stopped) return;
      try {
        let cursor = '0-0';
        do {
          const [next, entries] = (await client.callBuffer(
            'XAUTOCLAIM', topic, group, consumerName, this.processingTimeoutMs, cursor, 'COUNT', this.concurrency,
          )) as [Buffer, Entry[], Buffer[]?];
          cursor = next.toString();
          for (const [idBuf, fields] of entries) {
            const id = idBuf.toString();
            if (held.has(id) || stopped) continue;
            const pending = (await client.call('XPENDING', topic, group, id, id, 1)) as [string, string, number, number][];
            hand(id, fields, pending[0]?.[3] ?? 2);
          }
        } while (cursor !== '0-0' && !stopped);
      } catch {
        // the next interval tries again
      }
      if (!stopped) reclaimTimer = setTimeout(() => void reclaim(), this.redeliverIntervalMs);
    };
    let reclaimTimer: NodeJS.Timeout | undefined = setTimeout(() => void reclaim(), Math.min(this.redeliverIntervalMs, 1000));

    await reader.connect();
    const loop = readLoop();
    return {
      close: async () => {
        stopped = true;
        timers.clear();
        for (const t of alive) clearInterval(t);
        alive.clear();
        if (reclaimTimer) clearTimeout(reclaimTimer);
        reclaimTimer = undefined;
        reader.disconnect();
        await loop;
      },
    };
  }

  protected async closeBackend(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) (await c.catch(() => undefined))?.disconnect();
  }

  private redis(): Promise<Redis> {
    if (!this.client) {
      const p = openRedis(this.meta);
      this.client = p;
      p.catch(() => {
        if (this.client === p) this.client = undefined; // try again on the next call
      });
    }
    return this.client;
  }
}
