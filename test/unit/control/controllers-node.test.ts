// The node controller against an in-memory world: what it records from a pull, what it pushes, how
// the withdraw protocol holds a terminating instance, and what a failing agent does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcileDeployment } from '../../../src/control/controllers/deployment.js';
import { NodeController } from '../../../src/control/controllers/node.js';
import { stateLayout } from '../../../src/lib/state-dir.js';
import { desiredState, makeWorld, observeAll, observedFor, service, type TestWorld } from '../../helpers/control-world.js';

const controller = () => new NodeController({ stateDir: '/tmp/berth-test', layout: stateLayout('/tmp/berth-test'), sidecarEnv: (i) => ({ TOKEN: `t-${i}` }), defaultAppUser: undefined });

function meshed(name: string, replicas: number) {
  const s = service(name, { replicas, port: 8080 });
  return { ...s, template: { ...s.template, port: 8080, sidecars: [{ name: 'berth-proxy', argv: ['proxy'], cwd: '/tmp', env: {} }] } };
}

const pushedIds = (t: TestWorld, node: string) =>
  t.recorded.pushes
    .filter((p) => p.node === node)
    .at(-1)!
    .desired.instances.map((i) => i.id)
    .sort();

test('pull then push: dispatched instances are sent with their address and credential; a change enqueues the deployments', async () => {
  const t = makeWorld(desiredState([service('db'), service('api', { dependsOn: { db: 'ready' } })]));
  await reconcileDeployment('db', t.world, t.act);
  await reconcileDeployment('api', t.world, t.act);
  const [db] = t.world.liveOf('db');
  const [api] = t.world.liveOf('api');
  t.agents.nextPull.set('node-1', { instances: [observedFor(db)], events: [{ seq: 4, at: new Date().toISOString(), type: 'Normal', reason: 'Ready', message: 'ready', node: 'node-1', instance: db.id }] });
  t.recorded.enqueued.length = 0;
  t.agents.agents.set('node-1', { alive: true, synced: true, startedFresh: true });
  const nodes = controller();
  await nodes.reconcile('node-1', t.world, t.act);
  assert.deepEqual(pushedIds(t, 'node-1'), [db.id], 'api is not dispatched yet: not sent');
  const spec = t.recorded.pushes[0].desired.instances[0];
  assert.equal(spec.host, db.host);
  assert.equal(spec.main.env.HOST, db.host);
  assert.ok(t.recorded.enqueued.includes('deployment/api') && t.recorded.enqueued.includes('lifecycle/all'));
  assert.equal(t.world.nodeCursor('node-1'), 4, 'agent events recorded with their cursor');
  assert.equal(t.store.getInstance(db.id)?.lastObserved?.status, 'ready', 'observed status saved');
  assert.ok(!t.events().some((e) => e.startsWith('Adopted:')), 'an agent this control plane started: nothing adopted');
  assert.equal(api.dispatched, false);
  t.close();
});

test('a restarted control plane reports each running instance adopted once', async () => {
  const t = makeWorld(desiredState([service('web', { replicas: 2 })]));
  await reconcileDeployment('web', t.world, t.act);
  const live = t.world.liveOf('web');
  t.agents.nextPull.set('node-1', { instances: live.map((r) => observedFor(r)), events: [] });
  const nodes = controller();
  await nodes.reconcile('node-1', t.world, t.act);
  await nodes.reconcile('node-1', t.world, t.act);
  assert.equal(t.events().filter((e) => e.startsWith('Adopted:')).length, 2);
  t.close();
});

test('a terminating instance the agent no longer reports is recorded stopped; an agent that is gone is left to the node monitor', async () => {
  const t = makeWorld(desiredState([service('web', { replicas: 1 })]));
  await reconcileDeployment('web', t.world, t.act);
  observeAll(t);
  const [rec] = t.world.liveOf('web');
  t.act.terminate(rec, false);
  t.agents.nextPull.set('node-1', { instances: [], events: [] });
  await controller().reconcile('node-1', t.world, t.act);
  assert.equal(t.world.liveCount, 0);
  assert.equal(t.store.getInstance(rec.id)?.phase, 'stopped');
  assert.equal(t.store.getInstance(rec.id)?.lastObserved?.status, 'ready', 'its last observation is kept');
  t.agents.agents.set('node-1', { alive: false, synced: false, startedFresh: false });
  const pulls = t.recorded.pulls.length;
  assert.deepEqual(await controller().reconcile('node-1', t.world, t.act), {});
  assert.equal(t.recorded.pulls.length, pulls, 'no pull from a dead agent');
  t.close();
});

test('a pull that fails (frozen agent) throws for the queue to retry, and pushes nothing', async () => {
  const t = makeWorld(desiredState([service('web')]));
  await reconcileDeployment('web', t.world, t.act);
  t.agents.failingPull.add('node-1');
  await assert.rejects(controller().reconcile('node-1', t.world, t.act), /did not answer/);
  assert.equal(t.recorded.pushes.length, 0);
  t.close();
});

test('withdraw protocol: a ready meshed instance is still pushed until the proxies acknowledged, then dropped', async () => {
  const t = makeWorld(desiredState([meshed('web', 1)]));
  let synced = false;
  t.withdrawals.attachMesh(() => synced);
  t.withdrawals.markReachable();
  await reconcileDeployment('web', t.world, t.act);
  observeAll(t);
  const [rec] = t.world.liveOf('web');
  t.world.setScaleOverride('web', 0);
  await reconcileDeployment('web', t.world, t.act);
  assert.equal(t.world.instance(rec.id)?.phase, 'terminating');
  assert.equal(t.recorded.rechecks.length, 1, 'a recheck at the withdrawal deadline');
  const nodes = controller();
  t.agents.nextPull.set('node-1', { instances: [observedFor(rec)], events: [] });
  await nodes.reconcile('node-1', t.world, t.act);
  assert.ok(pushedIds(t, 'node-1').includes(rec.id), 'still running while proxies may route to it');
  synced = true;
  await nodes.reconcile('node-1', t.world, t.act);
  assert.ok(!pushedIds(t, 'node-1').includes(rec.id), 'dropped once every proxy holds a snapshot without it');
  t.close();
});

test('the gateway node forwards non-meshed service ports to ready instances on the other nodes', async () => {
  const t = makeWorld(desiredState([service('tcp', { replicas: 2, port: 9000 })], [{ name: 'node-1' }, { name: 'node-2' }]));
  await reconcileDeployment('tcp', t.world, t.act);
  observeAll(t);
  const onNode2 = t.world.liveOn('node-2');
  await controller().reconcile('node-1', t.world, t.act);
  const desired = t.recorded.pushes.find((p) => p.node === 'node-1')!.desired;
  assert.deepEqual(desired.services, [{ name: 'tcp', host: '127.0.0.1', port: 9000, remoteEndpoints: onNode2.map((r) => ({ id: r.id, host: r.host, port: 9000 })) }]);
  await controller().reconcile('node-2', t.world, t.act);
  assert.deepEqual(t.recorded.pushes.find((p) => p.node === 'node-2')!.desired.services, [], 'only the gateway node forwards');
  t.close();
});

test('a lost node: its instances are recorded stopped with their last observation, Evicted, and every deployment runs', async () => {
  const t = makeWorld(desiredState([service('web', { replicas: 2 })], [{ name: 'node-1' }, { name: 'node-2' }]));
  await reconcileDeployment('web', t.world, t.act);
  observeAll(t);
  const lost = t.world.liveOn('node-1');
  t.recorded.enqueued.length = 0;
  t.act.evictNode('node-1', 'node node-1 was lost');
  assert.equal(t.world.liveOn('node-1').length, 0);
  assert.deepEqual(lost.map((r) => t.store.getInstance(r.id)?.lastObserved?.status), ['ready']);
  assert.ok(t.events().some((e) => e.startsWith('Evicted:') && e.includes('node node-1 was lost')));
  assert.deepEqual(t.recorded.enqueued, ['deployment/web']);
  await reconcileDeployment('web', t.world, t.act);
  assert.deepEqual(t.world.liveOf('web').map((r) => r.node).filter(Boolean).sort(), ['node-1', 'node-2'], 'the replacement may go back to the rejoined node');
  t.close();
});

test('an unchanged desired set is not rebuilt or sent again; a write, a new agent process or new readiness sends it', async () => {
  const t = makeWorld(desiredState([service('tcp', { replicas: 2, port: 9000 })], [{ name: 'node-1' }, { name: 'node-2' }]));
  await reconcileDeployment('tcp', t.world, t.act);
  const nodes = controller();
  const count = () => t.recorded.pushes.filter((p) => p.node === 'node-1').length;
  await nodes.reconcile('node-1', t.world, t.act);
  await nodes.reconcile('node-1', t.world, t.act);
  assert.equal(count(), 1, 'resync with nothing changed: no second push');
  observeAll(t); // the instance on node-2 turns ready: node-1 (the gateway) forwards to it
  await nodes.reconcile('node-1', t.world, t.act);
  assert.equal(count(), 2);
  assert.equal(t.recorded.pushes.at(-1)!.desired.services[0].remoteEndpoints?.length, 1);
  t.world.setScaleOverride('tcp', 3);
  await reconcileDeployment('tcp', t.world, t.act);
  await nodes.reconcile('node-1', t.world, t.act);
  assert.equal(count(), 3, 'a recorded change');
  t.agents.agents.set('node-1', { alive: true, synced: true, startedFresh: true, pid: 4242 });
  await nodes.reconcile('node-1', t.world, t.act);
  assert.equal(count(), 4, 'a new agent process has nothing yet');
  t.close();
});
