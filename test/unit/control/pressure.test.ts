// Node pressure bookkeeping: due only after a full window above the threshold; one verdict per window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PressureTracker } from '../../../src/control/pressure.js';

test('a node is due after a full window over the threshold, then again after another window', () => {
  const p = new PressureTracker(0.8, 3000);
  const hot = (cpu: number) => [{ name: 'n', capacity: { cpuMillis: 1000 }, usage: { cpuMillis: cpu, memoryMiB: 10 } }];
  assert.deepEqual(p.update(0, hot(900)), []);
  assert.ok(p.pressured.has('n'));
  assert.deepEqual(p.update(2000, hot(950)), []);
  const due = p.update(3000, hot(950));
  assert.equal(due.length, 1);
  assert.match(due[0].why, /cpu 950m of 1000m above 80 % for 3.0s/);
  assert.deepEqual(p.update(4000, hot(950)), [], 'clock restarted');
  assert.equal(p.update(6000, hot(950)).length, 1);
});

test('dipping below the threshold resets the window; no capacity means no pressure', () => {
  const p = new PressureTracker(0.8, 3000);
  p.update(0, [{ name: 'n', capacity: { memoryMiB: 100 }, usage: { cpuMillis: 0, memoryMiB: 90 } }]);
  p.update(2000, [{ name: 'n', capacity: { memoryMiB: 100 }, usage: { cpuMillis: 0, memoryMiB: 50 } }]);
  assert.ok(!p.pressured.has('n'));
  assert.deepEqual(p.update(3500, [{ name: 'n', capacity: { memoryMiB: 100 }, usage: { cpuMillis: 0, memoryMiB: 90 } }]), []);
  assert.deepEqual(p.update(99_999, [{ name: 'free', capacity: {}, usage: { cpuMillis: 99_999, memoryMiB: 99_999 } }]), []);
});
