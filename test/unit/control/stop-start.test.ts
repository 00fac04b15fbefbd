// `berth stop` / `berth start`: a stopped service is held at zero whatever sets its count (spec,
// `berth scale`, autoscaler), is not woken by scale-to-zero activation, keeps the flag in the store
// across a restart, and returns to the count it would have had on start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Autoscaling } from '../../../src/control/autoscaling.js';
import { AutoscaleController } from '../../../src/control/controllers/autoscale.js';
import { reconcileDeployment } from '../../../src/control/controllers/deployment.js';
import { effectiveReplicas, isStopped, startedReplicas, STOPPED_META } from '../../../src/control/controllers/replicas.js';
import { ControlPlane } from '../../../src/control/control-plane.js';
import type { DesiredService } from '../../../src/plan/index.js';
import { desiredState, makeWorld, observeAll, service, type TestWorld } from '../../helpers/control-world.js';

function scaled(name: string, min: number): DesiredService {
  const s = service(name, { replicas: 2 });
  return {
    ...s,
    template: { ...s.template, cpuMillis: 100 },
    scale: { min, max: 6, metrics: [{ cpuPercent: 50 }], behavior: { scaleUp: { stabilizationSeconds: 0, maxStepPercent: 100, maxStepInstances: 4 }, scaleDown: { stabilizationSeconds: 30, maxStepPercent: 100 } } },
  };
}

function autoscaler(t: TestWorld): AutoscaleController {
  const autoscaling = new Autoscaling({
    meta: { get: (k) => t.world.getMeta(k), set: (k, v) => t.act.setMeta(k, v) },
    event: (e) => t.act.event(e),
    liveInstances: (s) => t.world.liveOf(s),
    readyInstances: (s) => t.world.readyOf(s),
    instanceUsage: (id) => t.world.instanceUsage(id),
    onChange: (s) => t.act.enqueue('deployment', s),
  });
  return new AutoscaleController(autoscaling, 1000);
}

test('a stopped service goes to 0 instances and returns to its `berth scale` count on start', async () => {
  const t = makeWorld(desiredState([service('web', { replicas: 2 }), service('db', { replicas: 1 })]));
  t.world.setScaleOverride('web', 3);
  await reconcileDeployment('web', t.world, t.act);
  observeAll(t);
  assert.equal(t.world.liveOf('web').length, 3);
  t.world.setMeta(STOPPED_META('web'), '1');
  assert.equal(effectiveReplicas(t.world, t.world.spec('web')!), 0);
  assert.equal(startedReplicas(t.world, t.world.spec('web')!), 3, 'what start returns it to');
  assert.equal(effectiveReplicas(t.world, t.world.spec('db')!), 1, 'other services untouched');
  await reconcileDeployment('web', t.world, t.act);
  assert.equal(t.world.liveOf('web').filter((r) => r.phase === 'active').length, 0, 'every instance terminating');
  // A new control plane on the same store: still stopped.
  const restarted = makeWorld(undefined, { store: t.store });
  assert.equal(isStopped(restarted.world, 'web'), true);
  assert.equal(effectiveReplicas(restarted.world, restarted.world.spec('web')!), 0);
  restarted.world.setMeta(STOPPED_META('web'), '');
  assert.equal(effectiveReplicas(restarted.world, restarted.world.spec('web')!), 3);
  t.close();
});

test('stopping a service holds its variants too; stopping one variant holds only it', () => {
  const t = makeWorld(desiredState([service('orders', { replicas: 2 }), service('orders.v2', { replicas: 1 })]));
  t.world.setMeta(STOPPED_META('orders.v2'), '1');
  assert.equal(effectiveReplicas(t.world, t.world.spec('orders')!), 2);
  assert.equal(effectiveReplicas(t.world, t.world.spec('orders.v2')!), 0);
  t.world.setMeta(STOPPED_META('orders.v2'), '');
  t.world.setMeta(STOPPED_META('orders'), '1');
  assert.equal(effectiveReplicas(t.world, t.world.spec('orders')!), 0);
  assert.equal(effectiveReplicas(t.world, t.world.spec('orders.v2')!), 0);
  t.close();
});

test('an autoscaled service (min 1 or min 0) stays at 0 while stopped; the autoscaler does not evaluate it and keeps its count for start', async () => {
  for (const min of [1, 0]) {
    const t = makeWorld(desiredState([scaled('web', min)]));
    await reconcileDeployment('web', t.world, t.act);
    observeAll(t);
    for (const r of t.world.liveOf('web')) t.agents.instanceUsage.set(r.id, { cpuMillis: 100, memoryMiB: 10 });
    await autoscaler(t).reconcile('web', t.world, t.act);
    assert.equal(t.world.getMeta('autoscale:web'), '4');
    t.world.setMeta(STOPPED_META('web'), '1');
    assert.equal(effectiveReplicas(t.world, t.world.spec('web')!), 0, `min ${min}`);
    const before = t.events().length;
    assert.deepEqual(await autoscaler(t).reconcile('web', t.world, t.act), { requeueAfterMs: 1000 }, 'checked again each interval');
    assert.equal(t.events().length, before, 'no decision recorded while stopped');
    assert.equal(t.world.getMeta('autoscale:web'), '4');
    t.world.setMeta(STOPPED_META('web'), '');
    assert.equal(effectiveReplicas(t.world, t.world.spec('web')!), 4, 'back to the autoscaler count');
    t.close();
  }
});

test('ControlPlane: stop/start events, unknown names change nothing, activation does not wake a stopped service, status says why', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-stop-'));
  const plane = new ControlPlane({ stateDir: dir, token: 't'.repeat(32), log: () => {} });
  try {
    plane.world.setDesired(desiredState([scaled('web', 0), service('db', { replicas: 2 })]));
    plane.world.setMeta('autoscale:web', '0'); // scaled to zero by the idle rule
    assert.throws(() => plane.setStopped(['web', 'nope'], true), /unknown service "nope"/);
    assert.equal(isStopped(plane.world, 'web'), false, 'nothing stopped when one name is unknown');
    assert.deepEqual(plane.setStopped(['web', 'db'], true), [
      { service: 'web', replicas: 0, changed: true },
      { service: 'db', replicas: 0, changed: true },
    ]);
    assert.deepEqual(plane.setStopped(['db'], true), [{ service: 'db', replicas: 0, changed: false }], 'already stopped');
    assert.deepEqual(plane.activate('web', 'a held request'), [], 'a request does not wake a stopped service');
    assert.equal(plane.world.getMeta('autoscale:web'), '0');
    const db = plane.status().services.find((s) => s.name === 'db')!;
    assert.deepEqual({ replicas: db.replicas, stopped: db.stopped }, { replicas: 0, stopped: { by: 'berth stop', replicasAtStart: 2 } });
    assert.deepEqual(plane.setStopped(['db'], false), [{ service: 'db', replicas: 2, changed: true }]);
    assert.equal(plane.status().services.find((s) => s.name === 'db')!.stopped, undefined);
    const reasons = plane.store.events(0, 100).map((e) => `${e.reason}: ${e.message}`);
    assert.ok(reasons.includes('Stopped: db stopped by `berth stop` (2 → 0 instances)'), reasons.join('\n'));
    assert.ok(reasons.includes('Started: db started by `berth start` (0 → 2 instances)'), reasons.join('\n'));
    plane.setStopped(['web'], false);
    assert.deepEqual(plane.activate('web', 'a held request'), ['web'], 'started again: activation works as before');
  } finally {
    plane.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
