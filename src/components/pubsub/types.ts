// The ONE interface every pub/sub backend implements. Payloads are bytes plus a content type; the
// CloudEvents envelope is built above this layer (cloudevents.ts), as Dapr's runtime does.

/** Capabilities as Dapr names them in /v1.0/metadata. */
export type PubSubFeature = 'MESSAGE_TTL' | 'BULK_PUBLISH' | 'SUBSCRIBE_WILDCARDS';

/** What the subscriber's handler decided; an exception counts as RETRY. */
export type DeliveryOutcome = 'SUCCESS' | 'RETRY' | 'DROP';

export interface PublishRequest {
  topic: string;
  data: Buffer | string;
  /** Defaults to text/plain for strings, application/octet-stream for bytes. */
  contentType?: string;
  /** Request metadata as Dapr passes it (`metadata.ttlInSeconds`, `metadata.rawPayload`, ...). */
  metadata?: Record<string, string>;
}

export interface BulkPublishEntry {
  entryId: string;
  data: Buffer | string;
  contentType?: string;
  metadata?: Record<string, string>;
}

export interface BulkPublishResult {
  failedEntries: { entryId: string; error: string }[];
}

export interface PubSubMessage {
  /** Stable across redeliveries. */
  id: string;
  topic: string;
  data: Buffer;
  contentType: string;
  metadata: Record<string, string>;
  /** 1 on first delivery to this consumer group. */
  attempt: number;
}

export interface RetryPolicy {
  /** Redeliveries after the first attempt before the message counts as exhausted; -1 = forever. */
  maxRetries: number;
  initialIntervalMs: number;
  maxIntervalMs: number;
}

export interface SubscribeOptions {
  topic: string;
  handler: (message: PubSubMessage) => Promise<DeliveryOutcome> | DeliveryOutcome;
  /** One instance of each group gets each message. Defaults to the component's `consumerID`. */
  consumerGroup?: string;
  /** Dropped or exhausted messages are published here (same data, content type and metadata). */
  deadLetterTopic?: string;
  retry?: Partial<RetryPolicy>;
  /** Told about every message that leaves the subscription without SUCCESS (for events/logs). */
  onDeadLetter?: (event: DeadLetterEvent) => void;
}

export interface DeadLetterEvent {
  message: PubSubMessage;
  reason: 'DROP' | 'EXHAUSTED' | 'EXPIRED';
  /** Where it went; undefined when dropped for good (no dead-letter topic). */
  deadLetterTopic?: string;
  /** Set when publishing to the dead-letter topic failed; the message was kept and will come back. */
  error?: string;
}

export interface Subscription {
  readonly topic: string;
  readonly consumerGroup: string;
  /** Stops taking messages; unfinished ones stay with the broker for redelivery. */
  close(): Promise<void>;
}

export interface PubSub {
  readonly name: string;
  readonly type: string;
  features(): PubSubFeature[];
  publish(request: PublishRequest): Promise<void>;
  /** Duplicate entry IDs reject the whole request before anything is published. */
  bulkPublish(topic: string, entries: BulkPublishEntry[]): Promise<BulkPublishResult>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /** True when the backend answers (used by health checks and `components ls`). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export class PubSubError extends Error {
  constructor(
    message: string,
    readonly code: 'ERR_PUBSUB_PUBLISH_MESSAGE' | 'ERR_PUBSUB_REQUEST_METADATA' | 'ERR_PUBSUB_EVENTS_SER' | 'ERR_PUBSUB_CLOSED',
  ) {
    super(message);
    this.name = 'PubSubError';
  }
}
