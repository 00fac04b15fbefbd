// The lifecycle controller against an in-memory world: node removal once empty, `down` finishing
// only when nothing is left recorded or observed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcileDeployment } from '../../../src/control/controllers/deployment.js';
import { reconcileLifecycle, REMOVING_META } from '../../../src/control/controllers/lifecycle.js';
import { desiredState, makeWorld, observeAll, service } from '../../helpers/control-world.js';

test('a node dropped from the spec is deleted only once its last instance is gone', async () => {
  const t = makeWorld(desiredState([service('web', { replicas: 2 })], [{ name: 'node-1' }, { name: 'node-2' }]));
  await reconcileDeployment('web', t.world, t.act);
  t.world.setMeta(REMOVING_META('node-2'), '1');
  await reconcileLifecycle('all', t.world, t.act);
  assert.ok(t.world.node('node-2'), 'still holds an instance');
  assert.equal(t.recorded.syncs, 0);
  for (const r of t.world.liveOn('node-2')) t.act.markStopped(r.id, undefined);
  await reconcileLifecycle('all', t.world, t.act);
  assert.equal(t.world.node('node-2'), undefined);
  assert.equal(t.store.nodes().some((n) => n.name === 'node-2'), false, 'deleted in the store too');
  assert.equal(t.world.getMeta(REMOVING_META('node-2')), '0');
  assert.equal(t.recorded.syncs, 1, 'node clients brought in line');
  t.close();
});

test('down finishes once no instance is recorded and no agent reports one; a down from before a restart waits', async () => {
  const t = makeWorld(desiredState([service('web')]));
  await reconcileDeployment('web', t.world, t.act);
  observeAll(t);
  t.world.setMeta('down', '1');
  await reconcileLifecycle('all', t.world, t.act);
  assert.equal(t.recorded.downFinished, 0, 'not this process\'s down (interrupted by a restart): waits for a new one');
  t.world.shuttingDown = true;
  await reconcileDeployment('web', t.world, t.act);
  await reconcileLifecycle('all', t.world, t.act);
  assert.equal(t.recorded.downFinished, 0, 'an instance is still terminating');
  for (const r of t.world.liveInstances()) t.act.markStopped(r.id, undefined);
  await reconcileLifecycle('all', t.world, t.act);
  assert.equal(t.recorded.downFinished, 0, 'the agent still reports it running');
  t.agents.observed.set('node-1', new Map());
  await reconcileLifecycle('all', t.world, t.act);
  assert.equal(t.recorded.downFinished, 1);
  t.close();
});
