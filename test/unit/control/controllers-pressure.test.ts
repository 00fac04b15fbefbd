// The pressure controller against an in-memory world: a node over its threshold for a window moves
// its lowest-priority instance; the window survives a control-plane restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcileDeployment } from '../../../src/control/controllers/deployment.js';
import { PressureController } from '../../../src/control/controllers/pressure.js';
import { desiredState, makeWorld, service } from '../../helpers/control-world.js';

test('over the threshold for a window: the lowest-priority instance is marked migrating and its deployment runs', async () => {
  const t = makeWorld(desiredState([service('batch', { priority: -1 }), service('web', { priority: 10 })], [{ name: 'node-1', capacity: { cpuMillis: 1000 } }]));
  await reconcileDeployment('batch', t.world, t.act);
  await reconcileDeployment('web', t.world, t.act);
  const node = t.world.liveOf('batch')[0].node;
  let now = 1_000_000;
  const p = new PressureController(0.8, 5000, 1000, () => now);
  t.agents.nodeUsage.set(node, { cpuMillis: 950, memoryMiB: 1 });
  assert.deepEqual(await p.reconcile('all', t.world, t.act), { requeueAfterMs: 1000 });
  assert.ok(t.world.pressured.has(node), 'the scheduler keeps new instances off it at once');
  assert.equal(t.events().filter((e) => e.startsWith('Migrating:')).length, 0, 'not before a full window');
  now += 5000;
  t.recorded.enqueued.length = 0;
  await p.reconcile('all', t.world, t.act);
  const [batch] = t.world.liveOf('batch');
  assert.equal(t.world.migrating(batch.id), true);
  assert.deepEqual(t.recorded.enqueued, ['deployment/batch']);
  assert.ok(t.events().some((e) => e.startsWith('NodePressure:') && e.includes('cpu 950m of 1000m')));
  t.close();
});

test('a restarted control plane continues the window instead of starting it again', async () => {
  const t = makeWorld(desiredState([service('web')], [{ name: 'node-1', capacity: { memoryMiB: 100 } }]));
  await reconcileDeployment('web', t.world, t.act);
  let now = 5_000_000;
  t.agents.nodeUsage.set('node-1', { cpuMillis: 0, memoryMiB: 95 });
  await new PressureController(0.9, 10_000, 1000, () => now).reconcile('all', t.world, t.act);
  now += 10_000;
  const restarted = makeWorld(undefined, { store: t.store });
  restarted.agents.nodeUsage.set('node-1', { cpuMillis: 0, memoryMiB: 95 });
  await new PressureController(0.9, 10_000, 1000, () => now).reconcile('all', restarted.world, restarted.act);
  assert.equal(restarted.world.migrating(restarted.world.liveOf('web')[0].id), true, 'due at the same time as without the restart');
  t.close();
});

test('usage back under the threshold closes the window (also in the store)', async () => {
  const t = makeWorld(desiredState([service('web')], [{ name: 'node-1', capacity: { cpuMillis: 100 } }]));
  let now = 0;
  const p = new PressureController(0.5, 1000, 1000, () => now);
  t.agents.nodeUsage.set('node-1', { cpuMillis: 90, memoryMiB: 0 });
  await p.reconcile('all', t.world, t.act);
  assert.equal(t.world.getMeta('pressure-since:node-1'), '0');
  t.agents.nodeUsage.set('node-1', { cpuMillis: 10, memoryMiB: 0 });
  now = 2000;
  await p.reconcile('all', t.world, t.act);
  assert.equal(t.world.getMeta('pressure-since:node-1'), '');
  assert.equal(t.world.pressured.size, 0);
  t.close();
});
