// Unit tests: restart back-off schedule, reset rule and restart policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ranLongEnoughToReset, restartDelaySeconds, shouldRestart } from '../../../src/node/backoff.js';

const cfg = { initialSeconds: 1, maxSeconds: 10 };

test('first restart is immediate, then initial × 2^(n-2), capped', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7].map((n) => restartDelaySeconds(n, cfg)),
    [0, 1, 2, 4, 8, 10, 10],
  );
});

test('fractional initial delays and huge counters stay finite', () => {
  assert.equal(restartDelaySeconds(2, { initialSeconds: 0.2, maxSeconds: 5 }), 0.2);
  assert.equal(restartDelaySeconds(3, { initialSeconds: 0.2, maxSeconds: 5 }), 0.4);
  assert.equal(restartDelaySeconds(10_000, { initialSeconds: 0.2, maxSeconds: 5 }), 5);
  assert.equal(restartDelaySeconds(0, cfg), 0);
});

test('counter resets after running resetAfterSeconds', () => {
  assert.equal(ranLongEnoughToReset(9.9, { resetAfterSeconds: 10 }), false);
  assert.equal(ranLongEnoughToReset(10, { resetAfterSeconds: 10 }), true);
});

test('restart policy', () => {
  const ok = { code: 0, signal: null };
  const bad = { code: 3, signal: null };
  const killed = { code: null, signal: 'SIGKILL' };
  assert.deepEqual([ok, bad, killed].map((e) => shouldRestart('always', e)), [true, true, true]);
  assert.deepEqual([ok, bad, killed].map((e) => shouldRestart('on-failure', e)), [false, true, true]);
  assert.deepEqual([ok, bad, killed].map((e) => shouldRestart('never', e)), [false, false, false]);
});
