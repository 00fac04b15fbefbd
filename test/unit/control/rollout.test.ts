// Rolling replacement decisions (Kubernetes Deployment semantics), simulated step by step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideRollout, resolveBudget, type RolloutInstance } from '../../../src/control/index.js';

let clock = 0;
const inst = (id: string, ready: boolean): RolloutInstance => ({ id, ready, createdAt: new Date(1_700_000_000_000 + clock++ * 1000).toISOString() });

test('budgets: percentages round surge up and unavailability down', () => {
  assert.equal(resolveBudget('25%', 10, 'up'), 3);
  assert.equal(resolveBudget('25%', 10, 'down'), 2);
  assert.equal(resolveBudget(2, 10, 'up'), 2);
});

test('fresh service: creates all replicas at once', () => {
  assert.deepEqual(decideRollout({ replicas: 3, maxSurge: 1, maxUnavailable: 0, current: [], old: [] }), { create: 3, terminate: [] });
});

test('scale down removes unready first, then newest', () => {
  const a = inst('a', true);
  const b = inst('b', false);
  const c = inst('c', true);
  const d = inst('d', true);
  const r = decideRollout({ replicas: 2, maxSurge: 1, maxUnavailable: 0, current: [a, b, c, d], old: [] });
  assert.deepEqual(r.terminate, ['b', 'd']);
  assert.equal(r.create, 0);
});

test('maxSurge 1 / maxUnavailable 0: never below the replica count of ready instances, never above replicas+1', () => {
  // Simulate: old revision has 3 ready instances; each new instance becomes ready one step after creation.
  let old = [inst('o1', true), inst('o2', true), inst('o3', true)];
  let current: RolloutInstance[] = [];
  let n = 0;
  for (let step = 0; step < 20 && (old.length > 0 || current.length < 3 || current.some((c) => !c.ready)); step++) {
    // instances created in the previous step are ready now
    current = current.map((c) => ({ ...c, ready: true }));
    const d = decideRollout({ replicas: 3, maxSurge: 1, maxUnavailable: 0, current, old });
    old = old.filter((o) => !d.terminate.includes(o.id));
    current = current.filter((c) => !d.terminate.includes(c.id));
    for (let i = 0; i < d.create; i++) current.push(inst(`n${n++}`, false));
    const ready = [...old, ...current].filter((i) => i.ready).length;
    assert.ok(ready >= 3, `step ${step}: ${ready} ready < 3`);
    assert.ok(old.length + current.length <= 4, `step ${step}: ${old.length + current.length} > 4`);
  }
  assert.equal(old.length, 0);
  assert.equal(current.length, 3);
});

test('unready old instances are replaced without waiting', () => {
  const d = decideRollout({ replicas: 2, maxSurge: 1, maxUnavailable: 0, current: [], old: [inst('o1', false), inst('o2', false)] });
  assert.deepEqual(d.terminate.sort(), ['o1', 'o2']);
  assert.equal(d.create, 2);
});

test('maxUnavailable 1 lets one ready old instance go before the new one is ready', () => {
  const d = decideRollout({ replicas: 2, maxSurge: 0, maxUnavailable: 1, current: [], old: [inst('o1', true), inst('o2', true)] });
  assert.equal(d.terminate.length, 1);
  assert.equal(d.create, 1);
});

test('replicas 0 stops everything', () => {
  const d = decideRollout({ replicas: 0, maxSurge: 1, maxUnavailable: 0, current: [inst('c', true)], old: [inst('o', true)] });
  assert.deepEqual(d.terminate.sort(), ['c', 'o']);
  assert.equal(d.create, 0);
});
