// The ONE conformance suite every LogSink runs (as Dapr's components-contrib does): delivery of
// every record of a batch, text that must survive (unicode, quotes, newlines), large batches, and
// each declared feature — ack (a down destination rejects with a retryable error, then recovers),
// fields, dedup, gzip, headers — plus checks that an unclaimed `dedup` is really absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SinkError, type LogRecord, type LogSink } from '../../../src/sidecar/logs/index.js';

export interface Received {
  message: string;
  level?: string;
  service?: string;
  id?: string;
}

export interface SinkHarness {
  sink: LogSink;
  /** Everything the destination holds so far (waits briefly for asynchronous destinations). */
  received(expectAtLeast: number): Promise<Received[]>;
  /** Makes the destination unavailable / available again (sinks claiming `ack`). */
  takeDown?(): Promise<void>;
  bringUp?(): Promise<void>;
  /** Requests seen, for `gzip` and `headers` (HTTP destinations). */
  requests?(): { gzip: boolean; headers: Record<string, string | string[] | undefined> }[];
  /** Header the sink was configured to send (name lower-case → value). */
  configuredHeader?: [string, string];
  /** Destination keeps order within a batch (not UDP). */
  ordered: boolean;
  close(): Promise<void>;
}

let counter = 0;
export function records(n: number, tag: string, over: Partial<LogRecord> = {}): LogRecord[] {
  const out: LogRecord[] = [];
  for (let i = 0; i < n; i++) {
    counter++;
    out.push({
      id: `web-1/fp:${counter}`,
      time: new Date(Date.now() + i).toISOString(),
      message: `${tag} seq=${i}`,
      level: i % 3 === 0 ? 'error' : 'info',
      stream: 'stdout',
      file: '/tmp/app.log',
      process: 'app',
      app: 'demo',
      service: 'web',
      variant: 'default',
      revision: 'r1',
      instance: 'web-1',
      node: 'node-1',
      ...over,
    });
  }
  return out;
}

const mine = (rs: Received[], tag: string) => rs.filter((r) => r.message.startsWith(`${tag} `) || r.message.startsWith(tag));

export function runSinkConformance(name: string, make: () => Promise<SinkHarness>): void {
  test(`${name}: delivers every record of a batch`, async () => {
    const h = await make();
    try {
      const batch = records(50, `${name}-basic`);
      await h.sink.send(batch);
      const got = mine(await h.received(50), `${name}-basic`);
      const msgs = got.map((r) => r.message);
      const want = batch.map((r) => r.message);
      assert.deepEqual(h.ordered ? msgs : [...msgs].sort(), h.ordered ? want : [...want].sort());
    } finally {
      await h.close();
    }
  });

  test(`${name}: text survives (unicode, quotes, backslashes, brackets, an embedded newline)`, async () => {
    const h = await make();
    try {
      const texts = ['héllo wörld ✓ 日本', 'quote " and \\ backslash ] bracket', 'two\nlines'];
      const batch = texts.map((t, i) => ({ ...records(1, `${name}-text`)[0], message: `${name}-text ${i} ${t}` }));
      await h.sink.send(batch);
      const got = mine(await h.received(3), `${name}-text`).map((r) => r.message).sort();
      assert.deepEqual(got, batch.map((r) => r.message).sort());
    } finally {
      await h.close();
    }
  });

  test(`${name}: a large batch (2000 records) arrives whole`, async () => {
    const h = await make();
    try {
      await h.sink.send(records(2000, `${name}-large`));
      const got = mine(await h.received(2000), `${name}-large`);
      assert.equal(new Set(got.map((r) => r.message)).size, 2000);
    } finally {
      await h.close();
    }
  });

  test(`${name}: features — claimed ones hold, dedup is absent unless claimed`, async () => {
    const h = await make();
    const f = new Set(h.sink.features);
    try {
      if (f.has('ack')) {
        assert.ok(h.takeDown && h.bringUp, 'a sink claiming ack needs a harness that can take the destination down');
        await h.takeDown();
        await assert.rejects(h.sink.send(records(3, `${name}-down`)), (e: unknown) => e instanceof SinkError && e.retryable);
        await h.bringUp();
        await h.sink.send(records(3, `${name}-down`));
        assert.equal(mine(await h.received(3), `${name}-down`).length >= 3, true);
      }
      if (f.has('fields')) {
        await h.sink.send(records(3, `${name}-fields`));
        const got = mine(await h.received(3), `${name}-fields`);
        assert.equal(got.find((r) => r.message.endsWith('seq=0'))?.level, 'error');
        assert.equal(got[0].service, 'web');
      }
      const batch = records(5, `${name}-dup`);
      await h.sink.send(batch);
      await h.sink.send(batch);
      const dups = mine(await h.received(f.has('dedup') ? 5 : 10), `${name}-dup`).length;
      assert.equal(dups, f.has('dedup') ? 5 : 10, f.has('dedup') ? 'claims dedup: a resent batch is stored once' : 'does not claim dedup: both copies arrive');
      if (f.has('gzip')) assert.ok(h.requests?.().some((r) => r.gzip), 'claims gzip: requests are compressed');
      if (f.has('headers')) {
        const [k, v] = h.configuredHeader ?? ['', ''];
        assert.ok(h.requests?.().every((r) => r.headers[k] === v), 'claims headers: every request carries the configured header');
      }
    } finally {
      await h.close();
    }
  });
}
