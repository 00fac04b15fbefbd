// Argo Rollouts' verdict rules (issue 14 point 2): a measurement from its conditions, a metric from
// failureLimit / inconclusiveLimit / consecutiveErrorLimit / count, a run as the worst of its
// metrics with the others stopped once one fails — and the runner taking measurements at
// initialDelay, then every interval, count times, on a clock the test moves (no sleeping), and
// resuming a run persisted in the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AnalysisMetricSpec, AnalysisTemplateSpec } from '../../../src/contract/index.js';
import { AnalysisRunner, ERROR_RETRY_MS, assessRun, deleteAnalysisRun, loadAnalysisRun, measurementPhase, metricPhase, newAnalysisRun, saveAnalysisRun, terminateRun, type AnalysisRun, type MeasureFn, type MetricResult } from '../../../src/control/release/index.js';
import { Store } from '../../../src/control/store.js';
import { World } from '../../../src/control/world.js';

const metric = (over: Partial<AnalysisMetricSpec> = {}): AnalysisMetricSpec => ({ name: 'm', failureLimit: 0, inconclusiveLimit: 0, consecutiveErrorLimit: 4, provider: { berth: {} }, ...over });

test('measurement: the four cases of EvaluateResult, and an unevaluable condition is an Error', () => {
  const r = { v: 5 };
  assert.equal(measurementPhase({}, r).phase, 'Successful');
  assert.equal(measurementPhase({ successCondition: 'result.v > 1' }, r).phase, 'Successful');
  assert.equal(measurementPhase({ successCondition: 'result.v > 9' }, r).phase, 'Failed');
  assert.equal(measurementPhase({ failureCondition: 'result.v > 1' }, r).phase, 'Failed');
  assert.equal(measurementPhase({ failureCondition: 'result.v > 9' }, r).phase, 'Successful');
  assert.equal(measurementPhase({ successCondition: 'result.v > 1', failureCondition: 'result.v > 9' }, r).phase, 'Successful');
  assert.equal(measurementPhase({ successCondition: 'result.v > 9', failureCondition: 'result.v > 1' }, r).phase, 'Failed');
  assert.equal(measurementPhase({ successCondition: 'result.v > 1', failureCondition: 'result.v > 1' }, r).phase, 'Failed', 'failure wins');
  const neither = measurementPhase({ successCondition: 'result.v > 9', failureCondition: 'result.v < 1' }, r);
  assert.equal(neither.phase, 'Inconclusive');
  const err = measurementPhase({ successCondition: 'result.canary.p99Ms < 100' }, r);
  assert.equal(err.phase, 'Error');
  assert.match(err.message!, /result.canary is nil/);
  assert.equal(measurementPhase({ successCondition: 'result.v' }, r).phase, 'Error', 'a non-boolean condition');
});

function counters(over: Partial<MetricResult>, spec: Partial<AnalysisMetricSpec> = {}): MetricResult {
  const m = metric(spec);
  return { name: 't.m', template: 't', metric: m, phase: 'Running', measurements: [{ phase: 'Successful', startedAt: 0, finishedAt: 1 }], count: 0, successful: 0, failed: 0, inconclusive: 0, error: 0, consecutiveError: 0, ...over };
}

test('metric: failed > failureLimit, inconclusive > inconclusiveLimit, consecutive errors > consecutiveErrorLimit, count reached — in that order', () => {
  assert.equal(metricPhase(counters({ failed: 1, count: 1 }, { interval: 1000 }), false).phase, 'Failed');
  assert.equal(metricPhase(counters({ failed: 1, count: 1 }, { interval: 1000, failureLimit: 1 }), false).phase, 'Running');
  assert.equal(metricPhase(counters({ failed: 2, count: 2 }, { interval: 1000, failureLimit: 1 }), false).message, 'failed (2) > failureLimit (1)');
  assert.equal(metricPhase(counters({ inconclusive: 1, count: 1 }, { interval: 1000 }), false).phase, 'Inconclusive');
  assert.equal(metricPhase(counters({ inconclusive: 2, count: 2 }, { interval: 1000, inconclusiveLimit: 2 }), false).phase, 'Running');
  assert.equal(metricPhase(counters({ error: 4, consecutiveError: 4 }, { interval: 1000 }), false).phase, 'Running', 'four errors are tolerated by default');
  assert.equal(metricPhase(counters({ error: 5, consecutiveError: 5 }, { interval: 1000 }), false).phase, 'Error');
  assert.equal(metricPhase(counters({ error: 9, consecutiveError: 1, count: 1 }, { interval: 1000 }), false).phase, 'Running', 'errors that are not consecutive do not count');
  assert.equal(metricPhase(counters({ failed: 1, inconclusive: 1, consecutiveError: 9, count: 2 }, { interval: 1000 }), false).phase, 'Failed', 'failure is checked first');
  assert.equal(metricPhase(counters({ successful: 3, count: 3 }, { interval: 1000, count: 3 }), false).phase, 'Successful');
  assert.equal(metricPhase(counters({ successful: 1, count: 1 }), false).phase, 'Successful', 'no interval, no count: one measurement');
  assert.equal(metricPhase(counters({ successful: 50, count: 50 }, { interval: 1000 }), false).phase, 'Running', 'an interval without count runs until stopped');
  assert.equal(metricPhase(counters({ successful: 50, count: 50 }, { interval: 1000 }), true).phase, 'Successful', '… and ends Successful when stopped');
  assert.equal(metricPhase(counters({ measurements: [] }), false).phase, 'Pending');
  assert.equal(metricPhase(counters({ measurements: [] }), true).phase, 'Successful');
});

const templates: Record<string, AnalysisTemplateSpec> = {
  slow: { metrics: [metric({ name: 'bg', interval: 1000 })] },
  quick: { metrics: [metric({ name: 'once', successCondition: 'result.ok' })] },
};

test('run: the worst metric wins, and one failing metric stops the others (which end Successful)', () => {
  const run = newAnalysisRun('r1', ['slow', 'quick'], templates, { service: 'web', canary: 'canary' }, 0);
  const measured = (m: MetricResult, phase: 'Successful' | 'Failed'): MetricResult => ({ ...m, phase: 'Running', measurements: [{ phase, startedAt: 0, finishedAt: 1 }], count: 1, successful: phase === 'Successful' ? 1 : 0, failed: phase === 'Failed' ? 1 : 0 });
  const a = assessRun({ ...run, metrics: [measured(run.metrics[0], 'Successful'), measured(run.metrics[1], 'Failed')] }, 5);
  assert.equal(a.phase, 'Failed');
  assert.equal(a.metrics[0].phase, 'Successful');
  assert.equal(a.metrics[1].phase, 'Failed');
  assert.equal(a.finishedAt, 5);
  assert.match(a.message!, /metric quick.once: failed \(1\) > failureLimit \(0\)/);
  const b = assessRun({ ...run, metrics: [measured(run.metrics[0], 'Successful'), measured(run.metrics[1], 'Successful')] }, 5);
  assert.equal(b.phase, 'Running', 'the background metric is still measuring');
  const c = terminateRun(b, 6);
  assert.equal(c.phase, 'Successful');
});

/** A provider whose answers the test scripts; it records when it was called. */
function scripted(answers: (number | Error)[]): { fn: MeasureFn; calls: number[]; clock: { t: number } } {
  const clock = { t: 1_000_000 };
  const calls: number[] = [];
  const fn: MeasureFn = async () => {
    calls.push(clock.t);
    const a = answers.shift();
    if (a === undefined) throw new Error('no more answers');
    if (a instanceof Error) throw a;
    return { canary: { errorRate: a } };
  };
  return { fn, calls, clock };
}

async function drive(runner: AnalysisRunner, run: AnalysisRun, clock: { t: number }, limit = 50): Promise<AnalysisRun> {
  let current = run;
  for (let i = 0; i < limit; i++) {
    const r = await runner.reconcile(current);
    current = r.run;
    if (r.nextAt === undefined) return current;
    clock.t = Math.max(clock.t, r.nextAt);
  }
  throw new Error('the run did not end');
}

test('runner: first measurement after initialDelay, then every interval, count times; verdict Successful', async () => {
  const p = scripted([0.001, 0.002, 0.0]);
  const runner = new AnalysisRunner({ providers: { berth: p.fn, prometheus: p.fn, web: p.fn }, now: () => p.clock.t });
  const defs = { e: { metrics: [metric({ name: 'err', interval: 5000, count: 3, initialDelay: 2000, successCondition: 'result.canary.errorRate < 0.01' })] } };
  let run = newAnalysisRun('r', ['e'], defs, { service: 'web', canary: 'canary' }, p.clock.t);
  const first = await runner.reconcile(run);
  assert.deepEqual(p.calls, [], 'nothing before initialDelay');
  assert.equal(first.nextAt, 1_002_000);
  run = await drive(runner, first.run, p.clock);
  assert.deepEqual(p.calls, [1_002_000, 1_007_000, 1_012_000]);
  assert.equal(run.phase, 'Successful');
  assert.equal(run.metrics[0].count, 3);
  assert.equal(run.metrics[0].measurements.length, 3);
  assert.deepEqual(run.metrics[0].measurements[0].value, { canary: { errorRate: 0.001 } });
  // The run is plain data: it survives a JSON round trip (what a controller persists).
  assert.deepEqual(JSON.parse(JSON.stringify(run)), run);
});

test('runner: failureLimit 1 fails at the second failed measurement; errors retry and count apart', async () => {
  const p = scripted([0.5, new Error('proxy unreachable'), 0.0, 0.5]);
  const runner = new AnalysisRunner({ providers: { berth: p.fn, prometheus: p.fn, web: p.fn }, now: () => p.clock.t });
  const defs = { e: { metrics: [metric({ name: 'err', interval: 1000, failureLimit: 1, successCondition: 'result.canary.errorRate < 0.01' })] } };
  const run = await drive(runner, newAnalysisRun('r', ['e'], defs, { service: 'web', canary: 'c' }, p.clock.t), p.clock);
  assert.equal(run.phase, 'Failed');
  const m = run.metrics[0];
  assert.deepEqual([m.count, m.successful, m.failed, m.error, m.consecutiveError], [3, 1, 2, 1, 0]);
  assert.deepEqual(
    m.measurements.map((x) => x.phase),
    ['Failed', 'Error', 'Successful', 'Failed'],
  );
  assert.equal(m.measurements[1].message, 'proxy unreachable');
});

test('runner: more consecutive errors than consecutiveErrorLimit is Error; without an interval an error retries after 10 s', async () => {
  const p = scripted([new Error('a'), new Error('b'), new Error('c')]);
  const runner = new AnalysisRunner({ providers: { berth: p.fn, prometheus: p.fn, web: p.fn }, now: () => p.clock.t });
  const defs = { e: { metrics: [metric({ name: 'err', consecutiveErrorLimit: 2 })] } };
  const start = p.clock.t;
  const run = await drive(runner, newAnalysisRun('r', ['e'], defs, { service: 'web', canary: 'c' }, start), p.clock);
  assert.equal(run.phase, 'Error');
  assert.deepEqual(p.calls, [start, start + ERROR_RETRY_MS, start + 2 * ERROR_RETRY_MS]);
  assert.match(run.message!, /consecutive errors \(3\) > consecutiveErrorLimit \(2\): c/);
});

test('runner: inconclusive beyond inconclusiveLimit ends Inconclusive; a terminated background run ends Successful', async () => {
  const p = scripted([0.02, 0.02]);
  const runner = new AnalysisRunner({ providers: { berth: p.fn, prometheus: p.fn, web: p.fn }, now: () => p.clock.t });
  const defs = { e: { metrics: [metric({ name: 'err', interval: 1000, inconclusiveLimit: 1, successCondition: 'result.canary.errorRate < 0.01', failureCondition: 'result.canary.errorRate > 0.05' })] } };
  const run = await drive(runner, newAnalysisRun('r', ['e'], defs, { service: 'web', canary: 'c' }, p.clock.t), p.clock);
  assert.equal(run.phase, 'Inconclusive');
  assert.equal(run.metrics[0].inconclusive, 2);

  const q = scripted([0.0, 0.0]);
  const bg = new AnalysisRunner({ providers: { berth: q.fn, prometheus: q.fn, web: q.fn }, now: () => q.clock.t });
  const bgDefs = { e: { metrics: [metric({ name: 'err', interval: 1000, successCondition: 'result.canary.errorRate < 0.01' })] } };
  let r = await bg.reconcile(newAnalysisRun('r', ['e'], bgDefs, { service: 'web', canary: 'c' }, q.clock.t));
  q.clock.t = r.nextAt!;
  r = await bg.reconcile(r.run);
  assert.equal(r.run.phase, 'Running');
  const done = terminateRun(r.run, q.clock.t);
  assert.equal(done.phase, 'Successful');
  assert.equal((await bg.reconcile(done)).nextAt, undefined);
  assert.equal(q.calls.length, 2);
});

test('resume: a run saved in the store and loaded by a new read model (a restarted control plane) goes on where it was', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'berth-analysis-')), 'state.db');
  const p = scripted([0.0, 0.0, 0.5, 0.5]);
  const providers = { berth: p.fn, prometheus: p.fn, web: p.fn };
  const defs = { e: { metrics: [metric({ name: 'err', interval: 30_000, count: 4, failureLimit: 1, successCondition: 'result.canary.errorRate < 0.01' })] } };
  const store = new Store(path);
  let world = new World(store);
  let r = await new AnalysisRunner({ providers, now: () => p.clock.t }).reconcile(newAnalysisRun('web-3-analysis', ['e'], defs, { service: 'web', canary: 'canary' }, p.clock.t));
  p.clock.t = r.nextAt!;
  r = await new AnalysisRunner({ providers, now: () => p.clock.t }).reconcile(r.run);
  saveAnalysisRun(world, r.run);
  const due = r.nextAt!;
  store.close();
  // The restart: a new store and read model over the same file; the next measurement keeps its due time.
  const again = new Store(path);
  world = new World(again);
  const loaded = loadAnalysisRun(world, 'web-3-analysis')!;
  assert.deepEqual(loaded, r.run);
  const runner = new AnalysisRunner({ providers, now: () => p.clock.t });
  p.clock.t = due - 1;
  const early = await runner.reconcile(loaded);
  assert.equal(p.calls.length, 2, 'not due yet');
  assert.equal(early.nextAt, due);
  const done = await drive(runner, early.run, p.clock);
  assert.equal(done.phase, 'Failed');
  assert.deepEqual([done.metrics[0].count, done.metrics[0].successful, done.metrics[0].failed], [4, 2, 2]);
  deleteAnalysisRun(world, 'web-3-analysis');
  assert.equal(loadAnalysisRun(world, 'web-3-analysis'), undefined);
  again.close();
});
