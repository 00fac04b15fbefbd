// bench/pubsub: messages/s through each PubSub backend, component level (publish → broker →
// subscriber handler → ack, in one process), printed as one JSON line. Each backend gets
// BENCH_MESSAGES (default 2,000) messages of ~200 bytes published with up to 32 in flight, with one
// consumer group; the figure is delivered messages per second from first publish to last delivery,
// with its p50/p99 publish→delivery latency. A backend whose server is away is reported as
// { skipped: reason }. BENCH_ONLY=sqlite,redis,... runs only the listed backends. Whole run ≤ ~30 s.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPubSub, type ComponentSpec, type PubSub } from '../src/components/index.js';

const N = Number(process.env.BENCH_MESSAGES ?? 2000);
const INFLIGHT = 32;
const only = process.env.BENCH_ONLY?.split(',');
const dir = mkdtempSync(join(tmpdir(), 'berth-bench-pubsub-'));

const reachable = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });

const backends: { name: string; type: string; metadata: Record<string, string>; port?: number }[] = [
  { name: 'in-memory', type: 'pubsub.in-memory', metadata: {} },
  { name: 'sqlite', type: 'pubsub.sqlite', metadata: { connectionString: join(dir, 'bench.db'), pollInterval: '20ms' } },
  { name: 'redis', type: 'pubsub.redis', metadata: { redisHost: '127.0.0.1:6379', concurrency: '64' }, port: 6379 },
  { name: 'rabbitmq', type: 'pubsub.rabbitmq', metadata: { connectionString: 'amqp://guest:guest@127.0.0.1:5672', prefetchCount: '64' }, port: 5672 },
  { name: 'jetstream', type: 'pubsub.jetstream', metadata: { natsURL: 'nats://127.0.0.1:4222', concurrency: '64', memoryStorage: 'true' }, port: 4222 },
];

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function measure(ps: PubSub): Promise<Record<string, number>> {
  const topic = `bench-${randomUUID().slice(0, 8)}`;
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  await ps.subscribe({
    topic,
    consumerGroup: 'bench',
    handler: (m) => {
      const t = sentAt.get(m.data.subarray(0, 8).toString());
      if (t !== undefined) latencies.push(performance.now() - t);
      if (latencies.length === N) done();
      return 'SUCCESS';
    },
  });
  const pad = 'x'.repeat(192);
  const start = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < N) {
      const key = String(next++).padStart(8, '0');
      sentAt.set(key, performance.now());
      await ps.publish({ topic, data: key + pad, contentType: 'text/plain' });
    }
  };
  await Promise.all(Array.from({ length: INFLIGHT }, worker));
  const timeout = new Promise<void>((_, reject) => setTimeout(() => reject(new Error('deliveries timed out')), 20_000).unref());
  await Promise.race([all, timeout]);
  const seconds = (performance.now() - start) / 1000;
  return { messages: N, msgsPerSec: Math.round(N / seconds), p50Ms: +pct(latencies, 50).toFixed(2), p99Ms: +pct(latencies, 99).toFixed(2) };
}

const out: Record<string, unknown> = { bench: 'pubsub', messages: N };
for (const b of backends) {
  if (only && !only.includes(b.name)) continue;
  if (b.port && !(await reachable(b.port))) {
    out[b.name] = { skipped: `nothing listening on 127.0.0.1:${b.port}` };
    continue;
  }
  const spec: ComponentSpec = { name: 'bench', type: b.type, version: 'v1', metadata: b.metadata, scopes: [] };
  const ps = createPubSub(spec, { appId: 'bench' });
  try {
    out[b.name] = await measure(ps);
  } catch (err) {
    out[b.name] = { error: (err as Error).message };
  } finally {
    await ps.close();
  }
}
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify(out));
