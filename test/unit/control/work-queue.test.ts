// The control plane's work queue (controller-runtime's shape): per-controller queues, de-duplicated
// keys, the earliest requeue deadline wins, per-key exponential back-off reset by success, a rate
// limit on a controller's retries, N workers per controller, never one key on two workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue, type WorkQueueOptions } from '../../../src/control/reconciler.js';
import { MetricsRegistry } from '../../../src/control/metrics.js';

interface Gate {
  promise: Promise<void>;
  open: () => void;
}
function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}
const logs: string[] = [];
function newQueue(opts: WorkQueueOptions = {}): WorkQueue {
  return new WorkQueue((m) => logs.push(m), { metrics: new MetricsRegistry(), ...opts });
}

test('keys are de-duplicated: many adds before a worker takes the key make one reconcile', async () => {
  const q = newQueue();
  const seen: string[] = [];
  q.register({ kind: 'k', reconcile: async (key) => void seen.push(key) });
  for (let i = 0; i < 5; i++) q.add('k', 'a');
  q.add('k', 'b');
  await until('both processed', () => seen.length >= 2);
  await sleep(30);
  assert.deepEqual(seen, ['a', 'b']);
  q.stop();
});

test('the earliest requeue deadline wins: a pending later timer does not swallow an earlier addAfter', async () => {
  const q = newQueue();
  const at: number[] = [];
  const t0 = performance.now();
  q.register({ kind: 'k', reconcile: async () => void at.push(performance.now() - t0) });
  q.addAfter('k', 'a', 5000);
  q.addAfter('k', 'a', 40);
  await until('processed after the earlier deadline', () => at.length === 1, 2000);
  assert.ok(at[0] >= 35 && at[0] < 1000, `processed at ${at[0].toFixed(0)} ms`);
  assert.equal(q.stats('k').waiting, 0, 'the later timer was replaced, not kept');
  // The other order: a later deadline does not push back an earlier one.
  const t1 = performance.now();
  q.addAfter('k', 'b', 40);
  q.addAfter('k', 'b', 5000);
  await until('b processed', () => at.length === 2, 2000);
  assert.ok(performance.now() - t1 < 1000);
  assert.equal(q.stats('k').waiting, 0);
  q.stop();
});

test('requeueAfter from a result queues the key again after that delay', async () => {
  const q = newQueue();
  const at: number[] = [];
  const t0 = performance.now();
  q.register({
    kind: 'k',
    reconcile: async () => {
      at.push(performance.now() - t0);
      return at.length < 3 ? { requeueAfterMs: 50 } : undefined;
    },
  });
  q.add('k', 'a');
  await until('three passes', () => at.length === 3);
  assert.ok(at[1] - at[0] >= 45 && at[2] - at[1] >= 45, `gaps ${at.map((x) => x.toFixed(0)).join(', ')}`);
  await sleep(120);
  assert.equal(at.length, 3, 'no requeue once the result asks for none');
  q.stop();
});

test('N workers per controller: at most N keys at once, and N are used', async () => {
  const q = newQueue();
  let running = 0;
  let max = 0;
  const g = gate();
  q.register({
    kind: 'k',
    workers: 3,
    reconcile: async () => {
      running++;
      max = Math.max(max, running);
      await g.promise;
      running--;
    },
  });
  for (let i = 0; i < 8; i++) q.add('k', `key-${i}`);
  await until('3 running', () => running === 3);
  await sleep(30);
  assert.equal(running, 3, 'no fourth worker');
  assert.equal(q.stats('k').queued, 5);
  g.open();
  await until('all done', () => q.stats('k').queued === 0 && running === 0);
  assert.equal(max, 3);
  q.stop();
});

test('a key is never processed by two workers at once; added while processed, it is processed once more after', async () => {
  const q = newQueue();
  let concurrent = 0;
  let worst = 0;
  let passes = 0;
  const gates = [gate(), gate()];
  q.register({
    kind: 'k',
    workers: 4,
    reconcile: async () => {
      concurrent++;
      worst = Math.max(worst, concurrent);
      const g = gates[passes++];
      if (g) await g.promise;
      concurrent--;
    },
  });
  q.add('k', 'a');
  await until('first pass running', () => passes === 1);
  q.add('k', 'a');
  q.add('k', 'a');
  q.add('k', 'a');
  await sleep(30);
  assert.equal(passes, 1, 'not taken by a second worker while the first holds it');
  assert.equal(q.stats('k').queued, 0, 'held back, not in the FIFO where another worker would take it');
  gates[0].open();
  await until('second pass', () => passes === 2);
  gates[1].open();
  await sleep(30);
  assert.equal(passes, 2, 'the three adds during the first pass make exactly one more pass');
  assert.equal(worst, 1);
  q.stop();
});

test('controllers have their own queues, and a frozen key costs only its own worker', async () => {
  const q = newQueue();
  const frozen = gate();
  const done: string[] = [];
  q.register({
    kind: 'node',
    workers: 2,
    reconcile: async (key) => {
      if (key === 'frozen') await frozen.promise;
      done.push(`node/${key}`);
    },
  });
  q.register({ kind: 'deployment', workers: 1, reconcile: async (key) => void done.push(`deployment/${key}`) });
  q.add('node', 'frozen');
  await until('frozen key taken', () => q.stats('node').processing === 1);
  for (let i = 0; i < 20; i++) {
    q.add('node', 'healthy');
    q.add('deployment', `svc-${i % 3}`);
    await until(`round ${i}`, () => done.filter((d) => d === 'node/healthy').length === i + 1);
  }
  await until('deployments', () => done.filter((d) => d.startsWith('deployment/')).length >= 3);
  assert.ok(!done.includes('node/frozen'));
  frozen.open();
  await until('frozen finishes', () => done.includes('node/frozen'));
  q.stop();
});

test('failures back off exponentially per key, and a success resets the back-off', async () => {
  const q = newQueue({ retryBaseMs: 40, retryMaxMs: 10_000 });
  const at: number[] = [];
  let failNext = 4;
  q.register({
    kind: 'k',
    reconcile: async () => {
      at.push(performance.now());
      if (failNext > 0) {
        failNext--;
        throw new Error('agent unreachable');
      }
    },
  });
  q.add('k', 'a');
  await until('four failures and a success', () => at.length === 5, 5000);
  const gaps = at.slice(1).map((t, i) => t - at[i]);
  [40, 80, 160, 320].forEach((want, i) => assert.ok(gaps[i] >= want - 3 && gaps[i] < want + 250, `gap ${i}: ${gaps[i].toFixed(0)} ms, want ≈ ${want}`));
  assert.equal(q.stats('k').failures, 0, 'success forgets the failures');
  // The next failure starts from the base delay again.
  failNext = 1;
  q.add('k', 'a');
  await until('fail then succeed', () => at.length === 7, 3000);
  const gap = at[6] - at[5];
  assert.ok(gap >= 37 && gap < 300, `after a success the back-off restarts at the base: ${gap.toFixed(0)} ms`);
  assert.ok(logs.some((l) => /reconcile k\/a failed \(retry 4 in 320 ms\): agent unreachable/.test(l)), 'the failure is logged with its delay');
  q.stop();
});

test('back-off is per key: one failing key does not delay another', async () => {
  const q = newQueue({ retryBaseMs: 1000 });
  const done: string[] = [];
  q.register({
    kind: 'k',
    workers: 1,
    reconcile: async (key) => {
      if (key === 'bad') throw new Error('no');
      done.push(key);
    },
  });
  q.add('k', 'bad');
  q.add('k', 'good');
  const t0 = performance.now();
  await until('good done', () => done.includes('good'), 500);
  assert.ok(performance.now() - t0 < 500);
  q.stop();
});

test("a controller's retries are rate-limited as a whole (token bucket)", async () => {
  const q = newQueue({ retryBaseMs: 1, retryQps: 10, retryBurst: 1 });
  const attempts = new Map<string, number[]>();
  q.register({
    kind: 'k',
    workers: 4,
    reconcile: async (key) => {
      const list = attempts.get(key) ?? [];
      list.push(performance.now());
      attempts.set(key, list);
      if (list.length === 1) throw new Error('first attempt fails');
    },
  });
  const t0 = performance.now();
  for (const k of ['a', 'b', 'c']) q.add('k', k);
  await until('every key retried', () => [...attempts.values()].filter((l) => l.length === 2).length === 3, 3000);
  const retries = [...attempts.values()].map((l) => l[1] - t0).sort((x, y) => x - y);
  // Burst 1 at 10/s: the first retry at once, the next ones 100 ms apart.
  assert.ok(retries[0] < 80, `first retry at ${retries[0].toFixed(0)} ms`);
  assert.ok(retries[1] >= 90, `second retry at ${retries[1].toFixed(0)} ms`);
  assert.ok(retries[2] >= 190, `third retry at ${retries[2].toFixed(0)} ms`);
  q.stop();
});

test('keys added before their controller registers are processed once it does', async () => {
  const q = newQueue();
  const seen: string[] = [];
  q.add('late', 'x');
  await sleep(10);
  q.register({ kind: 'late', reconcile: async (key) => void seen.push(key) });
  await until('processed', () => seen.length === 1);
  q.stop();
});

test('stop() drops queued keys and pending timers; later adds do nothing', async () => {
  const q = newQueue();
  const seen: string[] = [];
  q.register({ kind: 'k', reconcile: async (key) => void seen.push(key) });
  q.addAfter('k', 'a', 30);
  q.stop();
  q.add('k', 'b');
  await sleep(80);
  assert.deepEqual(seen, []);
  assert.equal(q.stats('k').waiting, 0);
});

test('the queue reports depth, adds, durations, errors and retries per controller', async () => {
  const reg = new MetricsRegistry();
  const q = new WorkQueue(() => {}, { metrics: reg, retryBaseMs: 5000 });
  const g = gate();
  q.register({
    kind: 'deployment',
    workers: 1,
    reconcile: async (key) => {
      if (key === 'bad') throw new Error('boom');
      await g.promise;
    },
  });
  q.add('deployment', 'a');
  q.add('deployment', 'b');
  q.add('deployment', 'b');
  await until('a running', () => q.stats('deployment').processing === 1);
  let text = reg.render();
  assert.match(text, /^berth_workqueue_depth\{controller="deployment"\} 1$/m);
  assert.match(text, /^berth_workqueue_active_workers\{controller="deployment"\} 1$/m);
  assert.match(text, /^berth_workqueue_adds_total\{controller="deployment"\} 2$/m);
  assert.match(text, /^berth_workqueue_longest_running_processor_seconds\{controller="deployment"\} \d/m);
  g.open();
  q.add('deployment', 'bad');
  await until('bad failed', () => q.stats('deployment').failures === 1);
  text = reg.render();
  assert.match(text, /^berth_workqueue_work_duration_seconds_count\{controller="deployment"\} 3$/m);
  assert.match(text, /^berth_workqueue_queue_duration_seconds_count\{controller="deployment"\} 3$/m);
  assert.match(text, /^berth_controller_reconcile_total\{controller="deployment",result="success"\} 2$/m);
  assert.match(text, /^berth_controller_reconcile_total\{controller="deployment",result="error"\} 1$/m);
  assert.match(text, /^berth_controller_reconcile_errors_total\{controller="deployment"\} 1$/m);
  assert.match(text, /^berth_workqueue_retries_total\{controller="deployment"\} 1$/m);
  q.stop();
  assert.doesNotMatch(reg.render(), /berth_workqueue_depth\{/, 'a stopped queue no longer reports its gauges');
});
