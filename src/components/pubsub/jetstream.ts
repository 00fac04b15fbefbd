// pubsub.jetstream: NATS JetStream. A topic is a subject kept by a stream (`streamName`, or one
// stream per topic created on demand); a consumer group is a durable pull consumer filtered on the
// topic, shared by the group's subscribers so each message reaches one of them. Redelivery is the
// server's: a RETRY naks with the back-off delay, and the delivery count comes from the server.
import { createHash } from 'node:crypto';
import {
  AckPolicy,
  DeliverPolicy,
  StorageType,
  connect,
  headers,
  nanos,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from 'nats';
import type { ComponentSpec } from '../component.js';
import { BrokerPubSub, type Consumer, type Delivery, type PubSubContext, type WireMessage } from './broker.js';
import type { PubSubFeature } from './types.js';

const safeName = (s: string): string => s.replace(/[^A-Za-z0-9_-]/g, '_');
const shortHash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8);

export class JetStreamPubSub extends BrokerPubSub {
  readonly type = 'pubsub.jetstream';
  private nc: Promise<NatsConnection> | undefined;
  private readonly streams = new Map<string, Promise<string>>();
  private readonly ackWaitMs: number;
  private readonly concurrency: number;

  constructor(
    spec: ComponentSpec,
    ctx: PubSubContext = {},
  ) {
    super(spec, ctx);
    this.meta.required('natsURL');
    this.ackWaitMs = this.meta.duration('ackWait', 30_000);
    this.concurrency = Math.max(1, this.meta.int('maxAckPending', 0) || this.meta.int('concurrency', 16));
  }

  features(): PubSubFeature[] {
    return [];
  }

  async ping(): Promise<boolean> {
    try {
      await (await this.connection()).flush();
      return true;
    } catch {
      return false;
    }
  }

  protected async publishWire(topic: string, m: WireMessage): Promise<void> {
    const nc = await this.connection();
    await this.streamFor(topic);
    const h = headers();
    h.set('berth-id', m.id);
    h.set('content-type', m.contentType);
    h.set('berth-metadata', Buffer.from(JSON.stringify(m.metadata)).toString('base64'));
    if (m.expiresAt !== undefined) h.set('berth-expires-at', String(m.expiresAt));
    await nc.jetstream().publish(topic, m.data, { headers: h });
  }

  protected async openConsumer(topic: string, group: string, deliver: (d: Delivery) => void): Promise<Consumer> {
    const nc = await this.connection();
    const stream = await this.streamFor(topic);
    const base = group === this.defaultGroup ? (this.meta.string('queueGroupName') ?? this.meta.string('durableName') ?? group) : group;
    const durable = `${safeName(base)}-${shortHash(topic)}`;
    const jsm = await nc.jetstreamManager();
    try {
      await jsm.consumers.add(stream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: this.meta.string('deliverPolicy', 'all') === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
        filter_subject: topic,
        ack_wait: nanos(this.ackWaitMs),
        max_deliver: -1, // exhaustion is decided here, so a message is never silently given up by the server
      });
    } catch (err) {
      // An existing durable with other settings is used as it is.
      if (!(await jsm.consumers.info(stream, durable).catch(() => undefined))) throw err;
    }
    const consumer = await nc.jetstream().consumers.get(stream, durable);
    const messages: ConsumerMessages = await consumer.consume({ max_messages: this.concurrency });
    const alive = new Set<NodeJS.Timeout>(); // keep-alive timers of messages being handled
    const loop = (async () => {
      for await (const m of messages) this.hand(m, deliver, alive);
      // The iterator ends with an error when the connection goes: close() below is then all there is to do.
    })().catch(() => undefined);
    return {
      close: async () => {
        for (const t of alive) clearInterval(t);
        alive.clear();
        // Closing: a consumer the server already dropped has nothing left to release.
        await messages.close().catch(() => undefined);
        await loop;
      },
    };
  }

  protected async closeBackend(): Promise<void> {
    const p = this.nc;
    this.nc = undefined;
    if (p) await (await p.catch(() => undefined))?.close();
  }

  private hand(m: JsMsg, deliver: (d: Delivery) => void, alive: Set<NodeJS.Timeout>): void {
    const h = m.headers;
    const metaB64 = h?.get('berth-metadata');
    const expires = h?.get('berth-expires-at');
    // Long handlers tell the server they are still working so it does not redeliver meanwhile.
    const keepAlive = setInterval(() => {
      try {
        m.working();
      } catch {
        clearInterval(keepAlive); // connection gone: the server redelivers after ackWait
      }
    }, Math.max(100, this.ackWaitMs / 3));
    keepAlive.unref();
    alive.add(keepAlive);
    let settled = false;
    const settle = (): boolean => {
      clearInterval(keepAlive);
      alive.delete(keepAlive);
      if (settled) return false;
      settled = true;
      return true;
    };
    deliver({
      message: {
        id: h?.get('berth-id') || `${m.info.stream}:${m.seq}`,
        data: Buffer.from(m.data),
        contentType: h?.get('content-type') || 'application/octet-stream',
        metadata: metaB64 ? (JSON.parse(Buffer.from(metaB64, 'base64').toString()) as Record<string, string>) : {},
        expiresAt: expires ? Number(expires) : undefined,
      },
      attempt: m.info.redeliveryCount,
      ack: async () => {
        if (settle() && !(await m.ackAck())) throw new Error('ack not confirmed by the server');
      },
      retryLater: async (delayMs) => {
        if (settle()) m.nak(delayMs);
      },
    });
  }

  /** The stream that keeps `topic`: `streamName` (subjects extended as needed) or its own. */
  private streamFor(topic: string): Promise<string> {
    let p = this.streams.get(topic);
    if (!p) {
      p = this.ensureStream(topic);
      this.streams.set(topic, p);
      p.catch(() => this.streams.delete(topic));
    }
    return p;
  }

  private async ensureStream(topic: string): Promise<string> {
    const jsm: JetStreamManager = await (await this.connection()).jetstreamManager();
    const named = this.meta.string('streamName');
    const name = named ?? `berth-${safeName(topic).slice(0, 40)}-${shortHash(topic)}`;
    const storage = this.meta.bool('memoryStorage', false) ? StorageType.Memory : StorageType.File;
    const info = await jsm.streams.info(name).catch(() => undefined);
    if (!info) {
      try {
        await jsm.streams.add({ name, subjects: [topic], storage, num_replicas: this.meta.int('replicas', 1) });
      } catch (err) {
        if (!(await jsm.streams.info(name).catch(() => undefined))) throw err; // created meanwhile by another instance
      }
      return name;
    }
    if (!info.config.subjects.includes(topic)) {
      await jsm.streams.update(name, { ...info.config, subjects: [...info.config.subjects, topic] });
    }
    return name;
  }

  private connection(): Promise<NatsConnection> {
    if (!this.nc) {
      const p = connect({
        servers: this.meta.required('natsURL'),
        name: this.meta.string('name', `berth-${this.name}`),
        token: this.meta.string('token'),
        maxReconnectAttempts: -1,
      });
      this.nc = p;
      p.catch(() => {
        if (this.nc === p) this.nc = undefined;
      });
    }
    return this.nc;
  }
}
