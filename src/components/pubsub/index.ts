// Pub/sub components: one interface (PubSub), one factory from a component spec.
import type { ComponentSpec } from '../component.js';
import { ComponentConfigError } from '../metadata.js';
import type { PubSubContext } from './broker.js';
import { EmbeddedPubSub } from './embedded.js';
import { InMemoryPubSub } from './in-memory.js';
import { JetStreamPubSub } from './jetstream.js';
import { RabbitMqPubSub } from './rabbitmq.js';
import { RedisPubSub } from './redis.js';
import type { PubSub } from './types.js';

export * from './types.js';
export * from './cloudevents.js';
export { backoffMs, type PubSubContext } from './broker.js';
export { EmbeddedPubSub, InMemoryPubSub, JetStreamPubSub, RabbitMqPubSub, RedisPubSub };

export const PUBSUB_TYPES = ['pubsub.in-memory', 'pubsub.sqlite', 'pubsub.redis', 'pubsub.rabbitmq', 'pubsub.jetstream'] as const;
export type PubSubType = (typeof PUBSUB_TYPES)[number];

/** The `pubsub` a service gets when the API is on and it declares none: the embedded durable one. */
export function defaultPubSubSpec(): ComponentSpec {
  return { name: 'pubsub', type: 'pubsub.sqlite', version: 'v1', metadata: {}, scopes: [] };
}

export function createPubSub(spec: ComponentSpec, ctx: PubSubContext = {}): PubSub {
  switch (spec.type) {
    case 'pubsub.in-memory':
      return new InMemoryPubSub(spec, ctx);
    case 'pubsub.sqlite':
      return new EmbeddedPubSub(spec, ctx);
    case 'pubsub.redis':
      return new RedisPubSub(spec, ctx);
    case 'pubsub.rabbitmq':
      return new RabbitMqPubSub(spec, ctx);
    case 'pubsub.jetstream':
      return new JetStreamPubSub(spec, ctx);
    default:
      throw new ComponentConfigError(spec.name, `unknown pub/sub type "${spec.type}"; known: ${PUBSUB_TYPES.join(', ')}`);
  }
}
