// Unit tests: the pure probe state machine (thresholds, initial delay, fast polling, late ticks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FAST_POLL_MS, ProbeStateMachine, type ProbeTiming } from '../../../src/node/probes/probe-state.js';

const timing = (over: Partial<ProbeTiming> = {}): ProbeTiming => ({
  initialDelaySeconds: 0,
  periodSeconds: 1,
  timeoutSeconds: 1,
  successThreshold: 1,
  failureThreshold: 3,
  ...over,
});

test('first check waits for initialDelaySeconds after process start', () => {
  const m = new ProbeStateMachine(timing({ initialDelaySeconds: 2 }), 1000);
  assert.equal(m.firstCheckAt(), 3000);
});

test('a gated probe (activated after startup) starts at activation, not earlier', () => {
  const m = new ProbeStateMachine(timing({ initialDelaySeconds: 1 }), 0, 5000);
  assert.equal(m.firstCheckAt(), 5000);
});

test('polls fast until the first success, then every period', () => {
  const m = new ProbeStateMachine(timing({ periodSeconds: 5 }), 0);
  assert.equal(m.nextCheckAt(100), 100 + FAST_POLL_MS);
  m.record(false, 100);
  assert.equal(m.nextCheckAt(200), 200 + FAST_POLL_MS);
  assert.equal(m.record(true, 300), 'success');
  assert.equal(m.nextCheckAt(300), 5300);
});

test('a period shorter than the fast interval is used as is', () => {
  const m = new ProbeStateMachine(timing({ periodSeconds: 0.05 }), 0);
  assert.equal(m.nextCheckAt(0), 50);
});

test('failure verdict after failureThreshold counted failures', () => {
  const m = new ProbeStateMachine(timing({ failureThreshold: 3 }), 0);
  assert.equal(m.record(false, 0), undefined);
  assert.equal(m.record(false, 1000), undefined);
  assert.equal(m.record(false, 2000), 'failure');
  assert.equal(m.verdict, 'failure');
  assert.equal(m.record(false, 3000), undefined, 'no repeated transition');
});

test('fast polls count at most one failure per period', () => {
  const m = new ProbeStateMachine(timing({ failureThreshold: 2, periodSeconds: 1 }), 0);
  for (let t = 0; t < 1000; t += FAST_POLL_MS) assert.equal(m.record(false, t), undefined);
  assert.equal(m.consecutiveFailures, 1);
  assert.equal(m.record(false, 1000), 'failure');
});

test('a late tick followed by an on-time tick does not count the failure twice', () => {
  const m = new ProbeStateMachine(timing({ failureThreshold: 3, periodSeconds: 1 }), 0);
  m.record(false, 0);
  m.record(false, 2500); // late by 1.5 periods: one failure
  assert.equal(m.consecutiveFailures, 2);
  m.record(false, 2600); // immediately after (e.g. a queued timer): ignored
  assert.equal(m.consecutiveFailures, 2);
  assert.equal(m.record(false, 3500), 'failure');
});

test('slight timer jitter still counts each period', () => {
  const m = new ProbeStateMachine(timing({ failureThreshold: 3, periodSeconds: 1 }), 0);
  m.record(false, 0);
  m.record(false, 995);
  assert.equal(m.record(false, 1990), 'failure');
});

test('a success resets the failure count', () => {
  const m = new ProbeStateMachine(timing({ failureThreshold: 2 }), 0);
  m.record(false, 0);
  m.record(true, 1000);
  assert.equal(m.consecutiveFailures, 0);
  assert.equal(m.record(false, 1100), undefined, 'first failure after a success counts at once');
  assert.equal(m.consecutiveFailures, 1);
  assert.equal(m.record(false, 2100), 'failure');
});

test('successThreshold consecutive successes needed to recover', () => {
  const m = new ProbeStateMachine(timing({ failureThreshold: 1, successThreshold: 2 }), 0);
  assert.equal(m.record(true, 0), undefined);
  assert.equal(m.record(true, 100), 'success');
  assert.equal(m.record(false, 1100), 'failure');
  assert.equal(m.record(true, 2100), undefined);
  assert.equal(m.record(false, 3100), undefined);
  assert.equal(m.record(true, 4100), undefined);
  assert.equal(m.record(true, 5100), 'success');
});
