// The autoscale controller against an in-memory world (CPU metrics from heartbeats, no proxies):
// its decisions, what it records, and that a restart keeps the stabilization window and the idle clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Autoscaling } from '../../../src/control/autoscaling.js';
import { AutoscaleController } from '../../../src/control/controllers/autoscale.js';
import { reconcileDeployment } from '../../../src/control/controllers/deployment.js';
import { effectiveReplicas } from '../../../src/control/controllers/replicas.js';
import type { DesiredService } from '../../../src/plan/index.js';
import { desiredState, makeWorld, observeAll, service, type TestWorld } from '../../helpers/control-world.js';

function scaled(min: number, over: Partial<DesiredService['scale']> = {}): DesiredService {
  const s = service('web', { replicas: 2 });
  return {
    ...s,
    template: { ...s.template, cpuMillis: 100 },
    scale: { min, max: 6, metrics: [{ cpuPercent: 50 }], behavior: { scaleUp: { stabilizationSeconds: 0, maxStepPercent: 100, maxStepInstances: 4 }, scaleDown: { stabilizationSeconds: 30, maxStepPercent: 100 } }, ...over },
  };
}

function autoscaler(t: TestWorld, now: () => number): AutoscaleController {
  const autoscaling = new Autoscaling(
    {
      meta: { get: (k) => t.world.getMeta(k), set: (k, v) => t.act.setMeta(k, v) },
      event: (e) => t.act.event(e),
      liveInstances: (s) => t.world.liveOf(s),
      readyInstances: (s) => t.world.readyOf(s),
      instanceUsage: (id) => t.world.instanceUsage(id),
      onChange: (s) => t.act.enqueue('deployment', s),
    },
    3000,
    now,
  );
  return new AutoscaleController(autoscaling, 1000);
}

async function running(t: TestWorld, cpuEach: number): Promise<void> {
  await reconcileDeployment('web', t.world, t.act);
  observeAll(t);
  for (const r of t.world.liveOf('web')) t.agents.instanceUsage.set(r.id, { cpuMillis: cpuEach, memoryMiB: 10 });
}

test('CPU over target: the replica count goes up, is recorded, and the deployment is asked to roll toward it', async () => {
  const t = makeWorld(desiredState([scaled(1)]));
  await running(t, 100);
  const res = await autoscaler(t, () => 1_000_000).reconcile('web', t.world, t.act);
  assert.deepEqual(res, { requeueAfterMs: 1000 });
  assert.equal(t.world.getMeta('autoscale:web'), '4', '200 % of a 50 % target on 2 → 8, one step of at most +100 % → 4');
  assert.equal(effectiveReplicas(t.world, t.world.spec('web')!), 4);
  assert.ok(t.recorded.enqueued.includes('deployment/web'));
  assert.ok(t.events().some((e) => e.startsWith('Scaled: autoscaler: web 2 → 4')));
  await reconcileDeployment('web', t.world, t.act);
  assert.equal(t.world.liveOf('web').length, 4);
  t.close();
});

test('no metric reading (no usage reported): no change, the reason says so', async () => {
  const t = makeWorld(desiredState([scaled(1)]));
  await reconcileDeployment('web', t.world, t.act);
  await autoscaler(t, () => 0).reconcile('web', t.world, t.act);
  assert.ok(!t.events().some((e) => e.startsWith('Scaled:')));
  t.close();
});

test('a restarted control plane keeps the scale-down stabilization window', async () => {
  const t = makeWorld(desiredState([scaled(1)]));
  await running(t, 100);
  let now = 2_000_000;
  await autoscaler(t, () => now).reconcile('web', t.world, t.act);
  assert.equal(t.world.getMeta('autoscale:web'), '4');
  // Load gone; ten seconds later a new control plane (same store) evaluates: the window still holds 4.
  now += 10_000;
  const restarted = makeWorld(undefined, { store: t.store });
  await running(restarted, 1);
  await autoscaler(restarted, () => now).reconcile('web', restarted.world, restarted.act);
  assert.equal(restarted.world.getMeta('autoscale:web'), '4', 'not scaled down inside the 30 s window');
  now += 31_000;
  await autoscaler(restarted, () => now).reconcile('web', restarted.world, restarted.act);
  assert.equal(restarted.world.getMeta('autoscale:web'), '1', 'after the window');
  t.close();
});

test('scale to zero: the idle clock is kept across a restart; a service removed from `scale:` is forgotten', async () => {
  const t = makeWorld(desiredState([scaled(0, { idleSeconds: 60 })]));
  let now = 3_000_000;
  // No instance yet (nothing to read activity from): the clock starts now.
  await autoscaler(t, () => now).reconcile('web', t.world, t.act);
  assert.equal(t.world.getMeta('autoscale-activity:web'), String(now));
  // Never ready: the idle clock starts idleSeconds after it would have (a starting service is not idle).
  now += 121_000;
  const restarted = makeWorld(undefined, { store: t.store });
  await autoscaler(restarted, () => now).reconcile('web', restarted.world, restarted.act);
  assert.equal(restarted.world.getMeta('autoscale:web'), '0', 'idle for 121 s in all, though the new process saw none of it');
  assert.ok(t.events().some((e) => e.startsWith('ScaledToZero:')));
  restarted.world.setDesired(desiredState([service('web', { replicas: 2 })]));
  assert.deepEqual(await autoscaler(restarted, () => now).reconcile('web', restarted.world, restarted.act), {});
  assert.equal(restarted.world.getMeta('autoscale:web'), '');
  assert.equal(restarted.world.getMeta('autoscale-activity:web'), '');
  t.close();
});

test('while `down`, the autoscaler does nothing', async () => {
  const t = makeWorld(desiredState([scaled(1)]));
  await running(t, 100);
  t.world.setMeta('down', '1');
  assert.deepEqual(await autoscaler(t, () => 0).reconcile('web', t.world, t.act), {});
  assert.equal(t.world.getMeta('autoscale:web'), undefined);
  t.close();
});
