// pubsub.rabbitmq: a topic is an exchange (exchangeKind, fanout by default), a consumer group is a
// queue named `{consumerID}-{topic}` bound to it, as Dapr names them; the group's subscribers
// compete on that queue. Publishes go through a confirm channel, so a resolved publish is on the
// broker. A RETRY keeps the message unacked on the subscriber's channel and hands it to the
// handler again after the back-off; if the subscriber goes away, RabbitMQ requeues it.
import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import type { ComponentSpec } from '../component.js';
import { ComponentConfigError } from '../metadata.js';
import { BrokerPubSub, Timers, type Consumer, type Delivery, type PubSubContext, type WireMessage } from './broker.js';
import type { PubSubFeature } from './types.js';

export class RabbitMqPubSub extends BrokerPubSub {
  readonly type = 'pubsub.rabbitmq';
  private readonly url: string;
  private readonly durable: boolean;
  private readonly autoDelete: boolean;
  private readonly persistent: boolean;
  private readonly prefetch: number;
  private readonly exchangeKind: string;
  private readonly reconnectWaitMs: number;
  private conn: Promise<ChannelModel> | undefined;
  private pub: Promise<ConfirmChannel> | undefined;
  private readonly exchanges = new Set<string>();

  constructor(spec: ComponentSpec, ctx: PubSubContext = {}) {
    super(spec, ctx);
    this.url = this.connectionUrl(spec.name);
    this.durable = this.meta.bool('durable', false);
    this.autoDelete = this.meta.bool('deletedWhenUnused', true);
    this.persistent = this.meta.int('deliveryMode', 0) === 2;
    this.prefetch = this.meta.int('prefetchCount', 0);
    this.exchangeKind = this.meta.string('exchangeKind', 'fanout');
    this.reconnectWaitMs = this.meta.duration('reconnectWait', 3000);
  }

  features(): PubSubFeature[] {
    return ['MESSAGE_TTL'];
  }

  async ping(): Promise<boolean> {
    try {
      await this.connection();
      return true;
    } catch {
      return false;
    }
  }

  protected async publishWire(topic: string, m: WireMessage): Promise<void> {
    if (!this.exchanges.has(topic)) {
      // Declared on a channel of its own: a refused declaration closes only that channel, not the
      // confirm channel other publishes are waiting on.
      const admin = await (await this.connection()).createChannel();
      admin.on('error', () => undefined);
      try {
        await this.ensureExchange(admin, topic);
      } finally {
        // A short-lived admin channel: a failed close leaves nothing behind the connection does not clean up.
        await admin.close().catch(() => undefined);
      }
    }
    const ch = await this.publisher();
    const remaining = m.expiresAt === undefined ? undefined : Math.max(0, m.expiresAt - Date.now());
    await new Promise<void>((resolve, reject) => {
      ch.publish(
        topic,
        topic,
        m.data,
        {
          messageId: m.id,
          contentType: m.contentType,
          persistent: this.persistent,
          expiration: remaining === undefined ? undefined : String(remaining),
          headers: { 'berth-metadata': JSON.stringify(m.metadata), ...(m.expiresAt === undefined ? {} : { 'berth-expires-at': m.expiresAt }) },
        },
        (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
      );
    });
  }

  protected async openConsumer(topic: string, group: string, deliver: (d: Delivery) => void): Promise<Consumer> {
    const queue = `${group}-${topic}`;
    const timers = new Timers();
    let stopped = false;
    let channel: Channel | undefined;

    const attach = async (): Promise<void> => {
      const ch = await (await this.connection()).createChannel();
      ch.on('error', () => undefined);
      await this.ensureExchange(ch, topic);
      await ch.assertQueue(queue, { durable: this.durable, autoDelete: this.autoDelete });
      await ch.bindQueue(queue, topic, this.exchangeKind === 'fanout' ? '' : topic);
      if (this.prefetch > 0) await ch.prefetch(this.prefetch);
      ch.on('close', () => {
        // Unacked messages went back to the queue with the channel; attach again unless asked to stop.
        timers.clear();
        if (stopped || this.closed) return;
        const retry = (): void => {
          if (stopped || this.closed) return;
          attach().catch(() => setTimeout(retry, this.reconnectWaitMs));
        };
        setTimeout(retry, this.reconnectWaitMs);
      });
      await ch.consume(queue, (msg) => msg && this.hand(ch, msg, msg.fields.redelivered ? 2 : 1, deliver, timers, () => stopped));
      channel = ch;
    };
    await attach();
    return {
      close: async () => {
        stopped = true;
        timers.clear();
        // Closing: a channel the broker already closed has nothing left to release.
        await channel?.close().catch(() => undefined);
      },
    };
  }

  protected async closeBackend(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    this.pub = undefined;
    // A connection that never opened has nothing to close; one the broker dropped is closed already.
    if (c) await (await c.catch(() => undefined))?.close().catch(() => undefined);
  }

  private hand(ch: Channel, msg: ConsumeMessage, attempt: number, deliver: (d: Delivery) => void, timers: Timers, stopped: () => boolean): void {
    const h = msg.properties.headers ?? {};
    const meta = typeof h['berth-metadata'] === 'string' ? (JSON.parse(h['berth-metadata']) as Record<string, string>) : {};
    const expires = h['berth-expires-at'];
    let settled = false;
    deliver({
      message: {
        id: String(msg.properties.messageId ?? msg.fields.deliveryTag),
        data: msg.content,
        contentType: String(msg.properties.contentType ?? 'application/octet-stream'),
        metadata: meta,
        expiresAt: typeof expires === 'number' ? expires : undefined,
      },
      attempt,
      ack: async () => {
        if (settled) return;
        settled = true;
        ch.ack(msg);
      },
      retryLater: async (delayMs) => {
        if (settled) return;
        settled = true;
        timers.after(delayMs, () => {
          if (!stopped()) this.hand(ch, msg, attempt + 1, deliver, timers, stopped);
        });
      },
    });
  }

  private async ensureExchange(ch: Channel, topic: string): Promise<void> {
    if (this.exchanges.has(topic)) return;
    await ch.assertExchange(topic, this.exchangeKind, { durable: this.durable, autoDelete: this.autoDelete });
    this.exchanges.add(topic);
  }

  private connection(): Promise<ChannelModel> {
    if (!this.conn) {
      const p = connect(this.url, { clientProperties: { connection_name: this.meta.string('clientName', `berth-${this.name}`) } });
      this.conn = p;
      p.then(
        (c) => {
          c.on('error', () => undefined);
          c.on('close', () => {
            if (this.conn === p) {
              this.conn = undefined;
              this.pub = undefined;
              this.exchanges.clear();
            }
          });
        },
        () => {
          if (this.conn === p) this.conn = undefined;
        },
      );
    }
    return this.conn;
  }

  private publisher(): Promise<ConfirmChannel> {
    if (!this.pub) {
      const p = this.connection().then(async (c) => {
        const ch = await c.createConfirmChannel();
        ch.on('error', () => undefined);
        ch.on('close', () => {
          if (this.pub === p) this.pub = undefined;
          this.exchanges.clear();
        });
        return ch;
      });
      this.pub = p;
      p.catch(() => {
        if (this.pub === p) this.pub = undefined;
      });
    }
    return this.pub;
  }

  /** connectionString wins; then the older `host`; then protocol/hostname/username/password. */
  private connectionUrl(component: string): string {
    const cs = this.meta.string('connectionString') ?? this.meta.string('host');
    if (cs) return cs;
    const hostname = this.meta.string('hostname');
    if (!hostname) throw new ComponentConfigError(component, 'pubsub.rabbitmq needs metadata "connectionString" (or "hostname")');
    const user = encodeURIComponent(this.meta.string('username', 'guest'));
    const pass = encodeURIComponent(this.meta.string('password', 'guest'));
    return `${this.meta.string('protocol', 'amqp')}://${user}:${pass}@${hostname}`;
  }
}
