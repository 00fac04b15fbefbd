// The outcome handling every backend shares, on the in-memory backend: a dead-letter publish that
// fails keeps the message (it comes back and reaches the dead-letter topic once that works), the
// back-off doubles up to its cap, and a bulk request with bad metadata publishes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InMemoryPubSub, backoffMs, PubSubError, type PubSubMessage, type DeadLetterEvent } from '../../../src/components/index.js';
import { until } from '../../helpers/servers.js';

const spec = { name: 'mem', type: 'pubsub.in-memory', version: 'v1', metadata: {}, scopes: [] };

class FlakyDeadLetters extends InMemoryPubSub {
  broken = true;
  protected override async publishWire(topic: string, m: Parameters<InMemoryPubSub['publishWire']>[1]): Promise<void> {
    if (topic === 'dead' && this.broken) throw new Error('dead-letter broker down');
    return super.publishWire(topic, m);
  }
}

test('a failing dead-letter publish never loses the message', async () => {
  const ps = new FlakyDeadLetters(spec);
  try {
    const tries: PubSubMessage[] = [];
    const dead: PubSubMessage[] = [];
    const events: DeadLetterEvent[] = [];
    await ps.subscribe({ topic: 'dead', consumerGroup: 'ops', handler: (m) => (dead.push(m), 'SUCCESS') });
    await ps.subscribe({
      topic: 'work',
      consumerGroup: 'svc',
      deadLetterTopic: 'dead',
      retry: { initialIntervalMs: 10, maxIntervalMs: 40, maxRetries: 0 },
      handler: (m) => (tries.push(m), 'DROP'),
      onDeadLetter: (e) => events.push(e),
    });
    await ps.publish({ topic: 'work', data: 'keep me' });
    await until('three failed dead-letter publishes', () => events.filter((e) => e.error).length >= 3);
    assert.equal(dead.length, 0);
    ps.broken = false;
    await until('dead letter delivered', () => dead.length === 1);
    assert.equal(dead[0].data.toString(), 'keep me');
    assert.ok(tries.length >= 4 && tries.every((t) => t.id === tries[0].id));
    assert.deepEqual(events.at(-1), { message: events.at(-1)!.message, reason: 'DROP', deadLetterTopic: 'dead' });
  } finally {
    await ps.close();
  }
});

test('back-off doubles from the initial interval up to the cap', () => {
  const p = { maxRetries: 5, initialIntervalMs: 100, maxIntervalMs: 1000 };
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((a) => backoffMs(a, p)), [100, 200, 400, 800, 1000, 1000]);
});

test('a bulk request with a bad entry publishes nothing', async () => {
  const ps = new InMemoryPubSub(spec);
  try {
    const got: string[] = [];
    await ps.subscribe({ topic: 't', handler: (m) => (got.push(m.data.toString()), 'SUCCESS') });
    await assert.rejects(
      ps.bulkPublish('t', [
        { entryId: 'a', data: 'ok' },
        { entryId: 'b', data: 'bad', metadata: { ttlInSeconds: '-1' } },
      ]),
      PubSubError,
    );
    await ps.publish({ topic: 't', data: 'marker' });
    await until('marker', () => got.includes('marker'));
    assert.deepEqual(got, ['marker']);
  } finally {
    await ps.close();
  }
});

test('consumer group defaults to consumerID, then the app ID', async () => {
  const a = new InMemoryPubSub({ ...spec, metadata: { consumerID: 'grp' } }, { appId: 'app' });
  const b = new InMemoryPubSub(spec, { appId: 'app' });
  try {
    assert.equal((await a.subscribe({ topic: 't', handler: () => 'SUCCESS' })).consumerGroup, 'grp');
    assert.equal((await b.subscribe({ topic: 't', handler: () => 'SUCCESS' })).consumerGroup, 'app');
  } finally {
    await a.close();
    await b.close();
  }
});
