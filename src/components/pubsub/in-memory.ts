// pubsub.in-memory: Dapr's in-process broker. Messages live only as long as the process; each
// consumer group has a queue and its subscribers take turns (one subscriber per group per message).
import type { ComponentSpec } from '../component.js';
import { BrokerPubSub, Timers, type Consumer, type Delivery, type PubSubContext, type WireMessage } from './broker.js';
import type { PubSubFeature } from './types.js';

interface Pending {
  message: WireMessage;
  attempt: number;
}

interface Group {
  queue: Pending[];
  consumers: ((d: Delivery) => void)[];
  next: number;
}

export class InMemoryPubSub extends BrokerPubSub {
  readonly type = 'pubsub.in-memory';
  private readonly topics = new Map<string, Map<string, Group>>();
  private readonly timers = new Timers();

  constructor(spec: ComponentSpec, ctx: PubSubContext = {}) {
    super(spec, ctx);
  }

  features(): PubSubFeature[] {
    return [];
  }

  async ping(): Promise<boolean> {
    return !this.closed;
  }

  protected async publishWire(topic: string, message: WireMessage): Promise<void> {
    for (const group of this.topics.get(topic)?.values() ?? []) {
      group.queue.push({ message, attempt: 1 });
      this.dispatch(group);
    }
  }

  protected async openConsumer(topic: string, groupName: string, deliver: (d: Delivery) => void): Promise<Consumer> {
    let groups = this.topics.get(topic);
    if (!groups) this.topics.set(topic, (groups = new Map()));
    let group = groups.get(groupName);
    if (!group) groups.set(groupName, (group = { queue: [], consumers: [], next: 0 }));
    const g = group;
    g.consumers.push(deliver);
    this.dispatch(g);
    return {
      close: async () => {
        g.consumers = g.consumers.filter((c) => c !== deliver);
      },
    };
  }

  protected async closeBackend(): Promise<void> {
    this.timers.clear();
    this.topics.clear();
  }

  private dispatch(group: Group): void {
    while (group.queue.length > 0 && group.consumers.length > 0) {
      const p = group.queue.shift() as Pending;
      const consumer = group.consumers[group.next++ % group.consumers.length];
      let settled = false;
      consumer({
        message: p.message,
        attempt: p.attempt,
        ack: async () => {
          settled = true;
        },
        retryLater: async (delayMs) => {
          if (settled) return;
          settled = true;
          this.timers.after(delayMs, () => {
            group.queue.push({ message: p.message, attempt: p.attempt + 1 });
            this.dispatch(group);
          });
        },
      });
    }
  }
}
