// What every backend shares: TTL, bulk publish, and the subscriber's outcome handling — SUCCESS
// acks, RETRY (or a throwing handler) comes back after an exponential back-off, DROP and exhausted
// retries go to the dead-letter topic, and when that publish fails the message is kept (it comes
// back later) instead of being acked. A backend only moves bytes: publishWire, openConsumer, and
// a Delivery that can ack or ask to be redelivered to the same consumer group after a delay.
import { randomUUID } from 'node:crypto';
import type { ComponentSpec } from '../component.js';
import { MetadataReader } from '../metadata.js';
import {
  PubSubError,
  type BulkPublishEntry,
  type BulkPublishResult,
  type DeadLetterEvent,
  type DeliveryOutcome,
  type PublishRequest,
  type PubSub,
  type PubSubFeature,
  type PubSubMessage,
  type RetryPolicy,
  type SubscribeOptions,
  type Subscription,
} from './types.js';

export interface WireMessage {
  id: string;
  data: Buffer;
  contentType: string;
  metadata: Record<string, string>;
  /** Epoch ms after which the message is not delivered. */
  expiresAt?: number;
}

export interface Delivery {
  message: WireMessage;
  /** 1 on the first delivery to this group. */
  attempt: number;
  ack(): Promise<void>;
  /** Hands the message back so that the group sees it again after at least delayMs. */
  retryLater(delayMs: number): Promise<void>;
}

export interface Consumer {
  close(): Promise<void>;
}

export interface PubSubContext {
  /** The subscribing service: the default consumer group, as Dapr uses the app ID. */
  appId?: string;
  /** Where embedded backends keep files (`.berth/` beside the spec). */
  stateDir?: string;
}

const DEFAULT_RETRY: RetryPolicy = { maxRetries: 5, initialIntervalMs: 100, maxIntervalMs: 10_000 };

export function backoffMs(attempt: number, policy: RetryPolicy): number {
  const exp = policy.initialIntervalMs * 2 ** Math.max(0, attempt - 1);
  return Math.min(policy.maxIntervalMs, exp);
}

export abstract class BrokerPubSub implements PubSub {
  readonly name: string;
  abstract readonly type: string;
  protected readonly meta: MetadataReader;
  protected readonly defaultGroup: string;
  private readonly retryDefaults: RetryPolicy;
  private readonly defaultTtlSeconds: number | undefined;
  private readonly subscriptions = new Set<Subscription>();
  protected closed = false;

  constructor(spec: ComponentSpec, ctx: PubSubContext) {
    this.name = spec.name;
    this.meta = new MetadataReader(spec);
    this.defaultGroup = this.meta.string('consumerID') ?? ctx.appId ?? spec.name;
    this.retryDefaults = {
      maxRetries: this.meta.int('maxRetries', DEFAULT_RETRY.maxRetries),
      initialIntervalMs: this.meta.duration('retryInterval', DEFAULT_RETRY.initialIntervalMs),
      maxIntervalMs: this.meta.duration('maxRetryBackoff', DEFAULT_RETRY.maxIntervalMs),
    };
    const ttl = this.meta.int('ttlInSeconds', 0);
    this.defaultTtlSeconds = ttl > 0 ? ttl : undefined;
  }

  abstract features(): PubSubFeature[];
  abstract ping(): Promise<boolean>;
  protected abstract publishWire(topic: string, message: WireMessage): Promise<void>;
  protected abstract openConsumer(topic: string, group: string, deliver: (d: Delivery) => void): Promise<Consumer>;
  protected abstract closeBackend(): Promise<void>;

  async publish(request: PublishRequest): Promise<void> {
    this.assertOpen();
    if (!request.topic) throw new PubSubError('topic is empty', 'ERR_PUBSUB_PUBLISH_MESSAGE');
    const wire = this.toWire(request.data, request.contentType, request.metadata ?? {});
    try {
      await this.publishWire(request.topic, wire);
    } catch (err) {
      throw new PubSubError(`publishing to ${this.name}/${request.topic} failed: ${(err as Error).message}`, 'ERR_PUBSUB_PUBLISH_MESSAGE');
    }
  }

  async bulkPublish(topic: string, entries: BulkPublishEntry[]): Promise<BulkPublishResult> {
    this.assertOpen();
    const seen = new Set<string>();
    for (const e of entries) {
      if (!e.entryId) throw new PubSubError('every bulk entry needs an entryId', 'ERR_PUBSUB_EVENTS_SER');
      if (seen.has(e.entryId)) throw new PubSubError(`duplicate entryId "${e.entryId}" in bulk publish`, 'ERR_PUBSUB_EVENTS_SER');
      seen.add(e.entryId);
    }
    // Validate every entry before publishing any, so bad metadata fails the request as a whole.
    const wires = entries.map((e) => ({ entryId: e.entryId, wire: this.toWire(e.data, e.contentType, e.metadata ?? {}) }));
    const failedEntries: BulkPublishResult['failedEntries'] = [];
    for (const { entryId, wire } of wires) {
      try {
        await this.publishWire(topic, wire);
      } catch (err) {
        failedEntries.push({ entryId, error: (err as Error).message });
      }
    }
    return { failedEntries };
  }

  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.assertOpen();
    if (!options.topic) throw new PubSubError('topic is empty', 'ERR_PUBSUB_REQUEST_METADATA');
    const group = options.consumerGroup ?? this.defaultGroup;
    const policy: RetryPolicy = { ...this.retryDefaults, ...options.retry };
    const consumer = await this.openConsumer(options.topic, group, (d) => {
      void this.handle(d, options, policy).catch(() => undefined); // a failed ack means redelivery, never a crash
    });
    const sub: Subscription = {
      topic: options.topic,
      consumerGroup: group,
      // Handlers still running are not awaited: what they do not settle stays with the broker.
      close: async () => {
        if (!this.subscriptions.delete(sub)) return;
        await consumer.close();
      },
    };
    this.subscriptions.add(sub);
    return sub;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.subscriptions].map((s) => s.close()));
    await this.closeBackend();
  }

  private async handle(d: Delivery, options: SubscribeOptions, policy: RetryPolicy): Promise<void> {
    const { message } = d;
    const view: PubSubMessage = {
      id: message.id,
      topic: options.topic,
      data: message.data,
      contentType: message.contentType,
      metadata: message.metadata,
      attempt: d.attempt,
    };
    const notify = (e: Omit<DeadLetterEvent, 'message'>): void => {
      try {
        options.onDeadLetter?.({ message: view, ...e });
      } catch {
        // an observer's failure must not change delivery
      }
    };
    if (message.expiresAt !== undefined && Date.now() > message.expiresAt) {
      await d.ack(); // Dapr discards expired messages without calling the app
      notify({ reason: 'EXPIRED' });
      return;
    }
    let outcome: DeliveryOutcome;
    try {
      outcome = await options.handler(view);
    } catch {
      outcome = 'RETRY';
    }
    if (outcome === 'SUCCESS') return d.ack();
    if (outcome === 'RETRY' && (policy.maxRetries < 0 || d.attempt <= policy.maxRetries)) {
      return d.retryLater(backoffMs(d.attempt, policy));
    }
    const reason = outcome === 'DROP' ? 'DROP' : 'EXHAUSTED';
    const dlt = options.deadLetterTopic;
    if (!dlt) {
      await d.ack();
      notify({ reason });
      return;
    }
    try {
      await this.publishWire(dlt, message);
    } catch (err) {
      // Never lost: keep it with the broker and try the whole path again later.
      notify({ reason, deadLetterTopic: dlt, error: (err as Error).message });
      return d.retryLater(backoffMs(d.attempt, policy));
    }
    await d.ack();
    notify({ reason, deadLetterTopic: dlt });
  }

  private toWire(data: Buffer | string, contentType: string | undefined, metadata: Record<string, string>): WireMessage {
    let ttl = this.defaultTtlSeconds;
    const t = metadata.ttlInSeconds;
    if (t !== undefined && t !== '') {
      const n = Number(t);
      if (!Number.isInteger(n) || n <= 0) throw new PubSubError(`metadata.ttlInSeconds must be a positive integer, got "${t}"`, 'ERR_PUBSUB_REQUEST_METADATA');
      ttl = n;
    }
    const raw = metadata.rawPayload;
    if (raw !== undefined && raw !== '' && !['true', 'false'].includes(raw.toLowerCase())) {
      throw new PubSubError(`metadata.rawPayload must be true or false, got "${raw}"`, 'ERR_PUBSUB_REQUEST_METADATA');
    }
    return {
      id: randomUUID(),
      data: typeof data === 'string' ? Buffer.from(data) : data,
      contentType: contentType ?? (typeof data === 'string' ? 'text/plain' : 'application/octet-stream'),
      metadata: { ...metadata },
      expiresAt: ttl === undefined ? undefined : Date.now() + ttl * 1000,
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new PubSubError(`pub/sub ${this.name} is closed`, 'ERR_PUBSUB_CLOSED');
  }
}

/** A set of timers that close() cancels, for backends that wait locally before redelivering. */
export class Timers {
  private readonly set = new Set<NodeJS.Timeout>();
  after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.set.delete(t);
      fn();
    }, ms);
    this.set.add(t);
  }
  clear(): void {
    for (const t of this.set) clearTimeout(t);
    this.set.clear();
  }
}
