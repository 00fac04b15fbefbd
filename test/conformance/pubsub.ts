// The ONE conformance suite every PubSub backend passes (as Dapr's components-contrib does), run
// against the real broker: delivery with data, content type and metadata intact; one instance per
// consumer group (at least once); every group gets every message; RETRY redelivered with back-off
// and a growing attempt count; DROP not redelivered; dead letters for DROP and exhausted retries;
// a failing dead-letter publish keeps the message; TTL; bulk publish; a lost holder's message taken
// over by the group; durability across close/reopen for the embedded backend.
import { randomUUID } from 'node:crypto';
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { PubSubError, type DeadLetterEvent, type DeliveryOutcome, type PubSub, type PubSubMessage } from '../../src/components/index.js';
import { until } from '../helpers/servers.js';

export interface PubSubHarness {
  /** Skips (or fails under CI) when the backend's server is away. */
  available(t: TestContext): Promise<boolean>;
  /** A new instance of the same component, as another sidecar process would hold it. */
  open(): Promise<PubSub>;
  /** Makes publishing to `topic` fail (for real, on the broker) until the returned repair runs. */
  breakTopic?(topic: string): Promise<() => Promise<void>>;
  /** A message whose holder goes away (instance closed) reaches another instance of the group. */
  holderLossRedelivers: boolean;
  /** How long an unanswered message waits before the group hands it elsewhere (lease, ackWait...). */
  takeoverMs?: number;
  /** Messages survive closing every instance and opening a new one. */
  durable: boolean;
  /** Removes what the run created on the broker. */
  cleanup?(topics: string[], groups: string[]): Promise<void>;
}

const FAST = { initialIntervalMs: 50, maxIntervalMs: 200, maxRetries: 2 };

interface Got {
  by: string;
  msg: PubSubMessage;
  at: number;
}

export function runPubSubConformance(name: string, h: PubSubHarness): void {
  const run = randomUUID().slice(0, 8);
  const topics: string[] = [];
  const topic = (what: string): string => {
    const t = `conf-${name.replace(/[^a-z0-9]/gi, '')}-${what}-${run}`;
    topics.push(t);
    return t;
  };
  const groups = new Set<string>();
  const group = (what: string): string => {
    const g = `g-${what}-${run}`;
    groups.add(g);
    return g;
  };

  /** Opens instances and closes them all at the end of a test. */
  async function withInstances(t: TestContext, body: (open: () => Promise<PubSub>) => Promise<void>): Promise<void> {
    if (!(await h.available(t))) return;
    const opened: PubSub[] = [];
    try {
      await body(async () => {
        const p = await h.open();
        opened.push(p);
        return p;
      });
    } finally {
      await Promise.allSettled(opened.map((p) => p.close()));
    }
  }

  test(`${name}: delivers data, content type and metadata; features() is a list`, async (t) => {
    await withInstances(t, async (open) => {
      const ps = await open();
      assert.ok(Array.isArray(ps.features()));
      assert.equal(await ps.ping(), true);
      const tp = topic('basic');
      const got: PubSubMessage[] = [];
      await ps.subscribe({ topic: tp, consumerGroup: group('basic'), handler: (m) => (got.push(m), 'SUCCESS') });
      const payload = Buffer.from(JSON.stringify({ text: 'héllo "world"\n', n: 1 }));
      await ps.publish({ topic: tp, data: payload, contentType: 'application/json', metadata: { custom: 'x' } });
      await ps.publish({ topic: tp, data: Buffer.from([0, 255, 1, 254]) });
      await until('two deliveries', () => got.length >= 2);
      const json = got.find((m) => m.contentType === 'application/json');
      assert.ok(json, 'the JSON message arrived');
      assert.deepEqual(json.data, payload);
      assert.equal(json.metadata.custom, 'x');
      assert.equal(json.attempt, 1);
      assert.equal(json.topic, tp);
      const bin = got.find((m) => m.contentType === 'application/octet-stream');
      assert.deepEqual(bin?.data, Buffer.from([0, 255, 1, 254]));
      assert.notEqual(json.id, bin?.id);
    });
  });

  test(`${name}: each message reaches one instance of the group, every message at least once`, async (t) => {
    await withInstances(t, async (open) => {
      const a = await open();
      const b = await open();
      const tp = topic('group');
      const g = group('group');
      const got: Got[] = [];
      await a.subscribe({ topic: tp, consumerGroup: g, handler: (m) => (got.push({ by: 'a', msg: m, at: Date.now() }), 'SUCCESS') });
      await b.subscribe({ topic: tp, consumerGroup: g, handler: (m) => (got.push({ by: 'b', msg: m, at: Date.now() }), 'SUCCESS') });
      const n = 30;
      for (let i = 0; i < n; i++) await (i % 2 ? a : b).publish({ topic: tp, data: `m${i}` });
      await until(`${n} distinct messages`, () => new Set(got.map((g) => g.msg.data.toString())).size >= n);
      const byBody = new Map<string, Set<string>>();
      for (const x of got) byBody.set(x.msg.data.toString(), (byBody.get(x.msg.data.toString()) ?? new Set()).add(x.by));
      for (const [body, who] of byBody) assert.equal(who.size, 1, `${body} reached one instance of the group, not ${[...who].join('+')}`);
    });
  });

  test(`${name}: two consumer groups both get every message`, async (t) => {
    await withInstances(t, async (open) => {
      const ps = await open();
      const tp = topic('fanout');
      const seen: Record<string, string[]> = { one: [], two: [] };
      for (const g of ['one', 'two'] as const) {
        await ps.subscribe({ topic: tp, consumerGroup: group(`fanout-${g}`), handler: (m) => (seen[g].push(m.data.toString()), 'SUCCESS') });
      }
      for (let i = 0; i < 10; i++) await ps.publish({ topic: tp, data: `f${i}` });
      await until('both groups got 10', () => seen.one.length >= 10 && seen.two.length >= 10);
      const want = Array.from({ length: 10 }, (_, i) => `f${i}`);
      assert.deepEqual([...new Set(seen.one)].sort(), want.sort());
      assert.deepEqual([...new Set(seen.two)].sort(), want.sort());
    });
  });

  test(`${name}: RETRY (and a throwing handler) is redelivered with back-off and a growing attempt`, async (t) => {
    await withInstances(t, async (open) => {
      const ps = await open();
      const tp = topic('retry');
      const got: Got[] = [];
      await ps.subscribe({
        topic: tp,
        consumerGroup: group('retry'),
        retry: { ...FAST, maxRetries: 5 },
        handler: (m): DeliveryOutcome => {
          got.push({ by: 'x', msg: m, at: Date.now() });
          if (m.attempt === 1) return 'RETRY';
          if (m.attempt === 2) throw new Error('handler failed');
          return 'SUCCESS';
        },
      });
      await ps.publish({ topic: tp, data: 'again' });
      await until('third attempt', () => got.length >= 3);
      assert.deepEqual(got.slice(0, 3).map((g) => g.msg.attempt), [1, 2, 3]);
      assert.ok(got.every((g) => g.msg.id === got[0].msg.id), 'the same message id on every attempt');
      assert.ok(got[1].at - got[0].at >= 45, `first back-off ≥ 50 ms, was ${got[1].at - got[0].at}`);
      assert.ok(got[2].at - got[1].at >= 95, `second back-off ≥ 100 ms (doubled), was ${got[2].at - got[1].at}`);
      // SUCCESS on the third attempt ends it: a later message arrives and the first does not come back.
      await ps.publish({ topic: tp, data: 'marker' });
      await until('marker', () => got.some((g) => g.msg.data.toString() === 'marker'));
      await new Promise((r) => setTimeout(r, 400)); // a window longer than the largest back-off
      assert.equal(got.filter((g) => g.msg.data.toString() === 'again').length, 3);
    });
  });

  test(`${name}: DROP is not redelivered and, without a dead-letter topic, is reported dropped`, async (t) => {
    await withInstances(t, async (open) => {
      const ps = await open();
      const tp = topic('drop');
      const got: PubSubMessage[] = [];
      const dead: DeadLetterEvent[] = [];
      await ps.subscribe({
        topic: tp,
        consumerGroup: group('drop'),
        retry: FAST,
        handler: (m) => (got.push(m), m.data.toString() === 'bad' ? 'DROP' : 'SUCCESS'),
        onDeadLetter: (e) => dead.push(e),
      });
      await ps.publish({ topic: tp, data: 'bad' });
      await until('drop reported', () => dead.length >= 1);
      assert.equal(dead[0].reason, 'DROP');
      assert.equal(dead[0].deadLetterTopic, undefined);
      await ps.publish({ topic: tp, data: 'good' });
      await until('later message', () => got.some((m) => m.data.toString() === 'good'));
      await new Promise((r) => setTimeout(r, 400)); // longer than any back-off: a redelivery would show
      assert.equal(got.filter((m) => m.data.toString() === 'bad').length, 1);
    });
  });

  test(`${name}: dropped and exhausted messages go to the dead-letter topic`, async (t) => {
    await withInstances(t, async (open) => {
      const ps = await open();
      const tp = topic('dl');
      const dlt = topic('dl-dead');
      const attempts: number[] = [];
      const dead: PubSubMessage[] = [];
      await ps.subscribe({ topic: dlt, consumerGroup: group('dl-dead'), handler: (m) => (dead.push(m), 'SUCCESS') });
      await ps.subscribe({
        topic: tp,
        consumerGroup: group('dl'),
        deadLetterTopic: dlt,
        retry: FAST,
        handler: (m) => {
          if (m.data.toString() === 'drop-me') return 'DROP';
          attempts.push(m.attempt);
          return 'RETRY';
        },
      });
      await ps.publish({ topic: tp, data: 'drop-me', contentType: 'text/plain', metadata: { k: 'v' } });
      await ps.publish({ topic: tp, data: 'exhaust-me', contentType: 'text/plain' });
      await until('both in the dead-letter topic', () => dead.length >= 2);
      const dropped = dead.find((m) => m.data.toString() === 'drop-me');
      assert.ok(dropped);
      assert.equal(dropped.contentType, 'text/plain');
      assert.equal(dropped.metadata.k, 'v');
      assert.ok(dead.some((m) => m.data.toString() === 'exhaust-me'));
      assert.deepEqual(attempts, [1, 2, 3], 'maxRetries=2: the first delivery and two retries, then the dead-letter topic');
    });
  });

  test(`${name}: a failing dead-letter publish keeps the message until it succeeds`, async (t) => {
    if (!h.breakTopic) {
      t.skip('this backend has no way to make a publish fail on purpose; the shared path is unit-tested');
      return;
    }
    await withInstances(t, async (open) => {
      const ps = await open();
      const tp = topic('dlfail');
      const dlt = topic('dlfail-dead');
      const fix = await h.breakTopic!(dlt);
      let repaired = false;
      const repair = async (): Promise<void> => {
        if (!repaired) await fix();
        repaired = true;
      };
      t.after(repair); // also when an assertion fails: the blocker's connection must not keep the process up
      const tries: PubSubMessage[] = [];
      const events: DeadLetterEvent[] = [];
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      await ps.subscribe({
        topic: tp,
        consumerGroup: group('dlfail'),
        deadLetterTopic: dlt,
        retry: FAST,
        handler: async (m): Promise<DeliveryOutcome> => {
          tries.push(m);
          if (tries.length >= 2) await released; // hold the retry until the dead-letter topic works again
          return 'DROP';
        },
        onDeadLetter: (e) => events.push(e),
      });
      await ps.publish({ topic: tp, data: 'precious' });
      await until('a failed dead-letter publish', () => events.some((e) => e.error !== undefined));
      await until('the message came back after the failure', () => tries.length >= 2);
      assert.equal(tries[1].id, tries[0].id);
      await repair();
      const dead: PubSubMessage[] = [];
      await ps.subscribe({ topic: dlt, consumerGroup: group('dlfail-dead'), handler: (m) => (dead.push(m), 'SUCCESS') });
      release();
      await until('the message in the dead-letter topic', () => dead.some((m) => m.data.toString() === 'precious'), 15_000);
      await until('the dead-letter success reported', () => events.some((e) => e.deadLetterTopic === dlt && e.error === undefined));
    });
  });

  test(`${name}: an expired message (metadata.ttlInSeconds) is not delivered; bad TTL is refused`, async (t) => {
    await withInstances(t, async (open) => {
      const ps = await open();
      const tp = topic('ttl');
      const g = group('ttl');
      await assert.rejects(ps.publish({ topic: tp, data: 'x', metadata: { ttlInSeconds: 'soon' } }), PubSubError);
      const first = await ps.subscribe({ topic: tp, consumerGroup: g, handler: () => 'RETRY' });
      await first.close(); // the group exists; nobody takes messages now
      await ps.publish({ topic: tp, data: 'short-lived', metadata: { ttlInSeconds: '1' } });
      await new Promise((r) => setTimeout(r, 1200)); // the TTL has to run out: time itself is the condition
      const got: string[] = [];
      await ps.subscribe({ topic: tp, consumerGroup: g, handler: (m) => (got.push(m.data.toString()), 'SUCCESS') });
      await ps.publish({ topic: tp, data: 'fresh', metadata: { ttlInSeconds: '60' } });
      await until('fresh message', () => got.includes('fresh'));
      assert.ok(!got.includes('short-lived'), 'expired message was delivered');
    });
  });

  test(`${name}: bulk publish delivers every entry; duplicate entry IDs fail the whole request`, async (t) => {
    await withInstances(t, async (open) => {
      const ps = await open();
      const tp = topic('bulk');
      const got: string[] = [];
      await ps.subscribe({ topic: tp, consumerGroup: group('bulk'), handler: (m) => (got.push(m.data.toString()), 'SUCCESS') });
      await assert.rejects(
        ps.bulkPublish(tp, [
          { entryId: '1', data: 'dup-a' },
          { entryId: '1', data: 'dup-b' },
        ]),
        /duplicate entryId/,
      );
      const res = await ps.bulkPublish(
        tp,
        Array.from({ length: 5 }, (_, i) => ({ entryId: `e${i}`, data: `b${i}`, contentType: 'text/plain' })),
      );
      assert.deepEqual(res.failedEntries, []);
      await until('5 entries', () => got.length >= 5);
      assert.ok(!got.some((s) => s.startsWith('dup-')), 'nothing of the refused request was published');
    });
  });

  test(`${name}: a message whose holder goes away reaches another instance of the group`, async (t) => {
    if (!h.holderLossRedelivers) {
      t.skip('messages live inside the holding process');
      return;
    }
    await withInstances(t, async (open) => {
      const a = await open();
      const b = await open();
      const tp = topic('holder');
      const g = group('holder');
      const got: Got[] = [];
      const hang = (by: string) => (m: PubSubMessage) => {
        got.push({ by, msg: m, at: Date.now() });
        return new Promise<DeliveryOutcome>(() => undefined); // the holder never answers
      };
      await a.subscribe({ topic: tp, consumerGroup: g, handler: hang('a') });
      await b.subscribe({ topic: tp, consumerGroup: g, handler: hang('b') });
      await a.publish({ topic: tp, data: 'orphan' });
      await until('first holder', () => got.length >= 1);
      const holder = got[0].by;
      await (holder === 'a' ? a : b).close();
      await until('taken over by the other instance', () => got.some((x) => x.by !== holder), 20_000);
      const second = got.find((x) => x.by !== holder)!;
      assert.equal(second.msg.id, got[0].msg.id);
      assert.ok(second.msg.attempt >= 2, `attempt counts the lost delivery (was ${second.msg.attempt})`);
    });
  });

  test(`${name}: a slow handler that is still working keeps its message`, async (t) => {
    if (!h.holderLossRedelivers || h.takeoverMs === undefined) {
      t.skip('no takeover of unanswered messages in this backend');
      return;
    }
    await withInstances(t, async (open) => {
      const a = await open();
      const b = await open();
      const tp = topic('slow');
      const g = group('slow');
      const takeover = h.takeoverMs!;
      const got: Got[] = [];
      const slow = (by: string) => async (m: PubSubMessage): Promise<DeliveryOutcome> => {
        got.push({ by, msg: m, at: Date.now() });
        await new Promise((r) => setTimeout(r, takeover * 3)); // working, well past the takeover time
        return 'SUCCESS';
      };
      await a.subscribe({ topic: tp, consumerGroup: g, handler: slow('a') });
      await b.subscribe({ topic: tp, consumerGroup: g, handler: slow('b') });
      await a.publish({ topic: tp, data: 'slow' });
      await a.publish({ topic: tp, data: 'marker' });
      await until('both messages handled', () => got.length >= 2 && Date.now() - got[got.length - 1].at > takeover * 3 + 200, takeover * 10);
      assert.equal(got.filter((x) => x.msg.data.toString() === 'slow').length, 1, 'delivered once while its handler was working');
    });
  });

  if (h.durable) {
    test(`${name}: messages survive closing every instance and opening a new one`, async (t) => {
      if (!(await h.available(t))) return;
      const tp = topic('durable');
      const g = group('durable');
      const first = await h.open();
      await (await first.subscribe({ topic: tp, consumerGroup: g, handler: () => 'SUCCESS' })).close();
      for (let i = 0; i < 5; i++) await first.publish({ topic: tp, data: `d${i}`, metadata: { i: String(i) } });
      await first.close();
      const second = await h.open();
      try {
        const got: PubSubMessage[] = [];
        await second.subscribe({ topic: tp, consumerGroup: g, handler: (m) => (got.push(m), 'SUCCESS') });
        await until('5 messages after reopening', () => got.length >= 5);
        assert.deepEqual(got.map((m) => m.data.toString()).sort(), ['d0', 'd1', 'd2', 'd3', 'd4']);
        assert.equal(got.find((m) => m.data.toString() === 'd3')?.metadata.i, '3');
      } finally {
        await second.close();
      }
      // and nothing comes back once acknowledged
      const third = await h.open();
      try {
        const again: PubSubMessage[] = [];
        await third.subscribe({ topic: tp, consumerGroup: g, handler: (m) => (again.push(m), 'SUCCESS') });
        await third.publish({ topic: tp, data: 'after' });
        await until('the new message', () => again.length >= 1);
        assert.deepEqual(again.map((m) => m.data.toString()), ['after']);
      } finally {
        await third.close();
      }
    });
  }

  test(`${name}: publishing after close is refused with a clear error`, async (t) => {
    if (!(await h.available(t))) return;
    const ps = await h.open();
    await ps.close();
    await assert.rejects(ps.publish({ topic: topic('closed'), data: 'x' }), /closed/);
  });

  if (h.cleanup) after(() => h.cleanup!(topics, [...groups]));
}
