// createPubSub with each backend's module (and client library) imported only when a component of
// that type is opened: what a proxy uses, so one serving the embedded pub/sub never loads amqplib,
// nats or ioredis.
import type { ComponentSpec } from '../component.js';
import { ComponentConfigError } from '../metadata.js';
import type { PubSubContext } from './broker.js';
import type { PubSub } from './types.js';

export async function openPubSub(spec: ComponentSpec, ctx: PubSubContext = {}): Promise<PubSub> {
  switch (spec.type) {
    case 'pubsub.in-memory':
      return new (await import('./in-memory.js')).InMemoryPubSub(spec, ctx);
    case 'pubsub.sqlite':
      return new (await import('./embedded.js')).EmbeddedPubSub(spec, ctx);
    case 'pubsub.redis':
      return new (await import('./redis.js')).RedisPubSub(spec, ctx);
    case 'pubsub.rabbitmq':
      return new (await import('./rabbitmq.js')).RabbitMqPubSub(spec, ctx);
    case 'pubsub.jetstream':
      return new (await import('./jetstream.js')).JetStreamPubSub(spec, ctx);
    default:
      throw new ComponentConfigError(spec.name, `unknown pub/sub type "${spec.type}"`);
  }
}
