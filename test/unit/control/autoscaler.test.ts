// The HPA algorithm, step by step: ratio and tolerance, largest proposal, stabilization windows,
// step limits ("100 % or 4 instances"), bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideScale, type AutoscaleInput } from '../../../src/control/autoscaler.js';

const base = (over: Partial<AutoscaleInput>): AutoscaleInput => ({
  now: 100_000,
  current: 2,
  measured: 2,
  min: 1,
  max: 10,
  metrics: [],
  scaleUp: { stabilizationSeconds: 0, maxStepPercent: 100, maxStepInstances: 4 },
  scaleDown: { stabilizationSeconds: 30, maxStepPercent: 50 },
  history: [],
  ...over,
});

test('desired = ceil(current × value / target)', () => {
  const d = decideScale(base({ metrics: [{ kind: 'rps', target: 50, value: 120 }] }));
  assert.equal(d.proposal, 5);
  assert.equal(d.desired, 5);
  assert.match(d.reason, /rps 120\/50 per instance → 5/);
});

test('within 10 % tolerance nothing changes', () => {
  assert.equal(decideScale(base({ metrics: [{ kind: 'concurrency', target: 10, value: 10.9 }] })).desired, 2);
  assert.equal(decideScale(base({ metrics: [{ kind: 'concurrency', target: 10, value: 11.2 }] })).desired, 3);
});

test('the largest proposal across metrics wins; metrics without data are ignored', () => {
  const d = decideScale(base({ metrics: [{ kind: 'rps', target: 50, value: 60 }, { kind: 'cpuPercent', target: 70, value: 210 }, { kind: 'p99Ms', target: 200, value: undefined }] }));
  assert.equal(d.proposal, 6);
  assert.equal(d.desired, 6);
  assert.match(d.reason, /p99Ms no data/);
});

test('scale-up step: the larger of 100 % and 4 instances', () => {
  const small = decideScale(base({ current: 2, measured: 2, metrics: [{ kind: 'rps', target: 10, value: 100 }] }));
  assert.equal(small.desired, 6, '2 + max(2, 4)');
  const big = decideScale(base({ current: 8, measured: 8, max: 100, metrics: [{ kind: 'rps', target: 10, value: 100 }] }));
  assert.equal(big.desired, 16, '8 + max(8, 4)');
});

test('scale-down waits for the stabilization window, then steps by at most 50 %', () => {
  let history: AutoscaleInput['history'] = [];
  let current = 8;
  let t = 0;
  // High load for a while, then idle.
  for (; t <= 10_000; t += 1000) {
    const d = decideScale(base({ now: t, current, measured: current, max: 20, metrics: [{ kind: 'rps', target: 10, value: 10 }], history }));
    history = d.history;
    current = d.desired;
  }
  assert.equal(current, 8);
  const seen: number[] = [];
  for (; t <= 80_000; t += 1000) {
    const d = decideScale(base({ now: t, current, measured: current, max: 20, metrics: [{ kind: 'rps', target: 10, value: 0.5 }], history }));
    history = d.history;
    current = d.desired;
    seen.push(current);
  }
  // Nothing moves during the 30 s window after the last high recommendation.
  assert.equal(seen[18], 8, `still 8 at t≈29 s: ${seen.slice(0, 25).join(',')}`);
  assert.ok(seen.includes(4), 'one step down to 4 (50 %)');
  assert.equal(current, 1, 'ends at min');
});

test('bounds: never above max, never below max(min, 1)', () => {
  assert.equal(decideScale(base({ max: 3, metrics: [{ kind: 'rps', target: 1, value: 100 }] })).desired, 3);
  const zeroMin = decideScale(base({ min: 0, current: 1, measured: 1, scaleDown: {}, metrics: [{ kind: 'rps', target: 10, value: 0 }] }));
  assert.equal(zeroMin.desired, 1, 'metrics never scale to zero');
});

test('no data at all keeps the current count', () => {
  const d = decideScale(base({ metrics: [{ kind: 'rps', target: 10, value: undefined }] }));
  assert.equal(d.desired, 2);
});
