// The deployment controller against an in-memory world: given the world, which instances it
// creates, binds, dispatches and terminates, which events it leaves, and when it asks to run again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcileDeployment } from '../../../src/control/controllers/deployment.js';
import { World } from '../../../src/control/world.js';
import { desiredState, makeWorld, observeAll, service } from '../../helpers/control-world.js';

test('a new service: every replica is created, bound with its own address, spread over the nodes, dispatched', async () => {
  const t = makeWorld(desiredState([service('web', { replicas: 3 })], [{ name: 'node-1' }, { name: 'node-2' }]));
  const res = await reconcileDeployment('web', t.world, t.act);
  const live = t.world.liveOf('web');
  assert.equal(live.length, 3);
  assert.deepEqual(live.map((r) => r.node).sort(), ['node-1', 'node-1', 'node-2']);
  assert.ok(live.every((r) => r.dispatched && r.phase === 'active'));
  assert.equal(new Set(live.map((r) => r.host)).size, 3, 'distinct addresses');
  assert.ok(live.every((r) => /^127\.[12]\.7\.\d+$/.test(r.host)), live.map((r) => r.host).join());
  assert.equal(t.events().filter((e) => e.startsWith('Scheduled:')).length, 3);
  assert.deepEqual(res, {});
  assert.ok(t.recorded.enqueued.includes('node/node-1') && t.recorded.enqueued.includes('node/node-2'));
  // The store holds what the world says (write-through): a fresh read model sees the same instances.
  const row = (r: { id: string; node: string; host: string; dispatched: boolean }) => [r.id, r.node, r.host, r.dispatched].join(' ');
  assert.deepEqual(new World(t.store).liveOf('web').map(row).sort(), live.map(row).sort());
  t.close();
});

test('a new revision rolls with maxSurge 1: one new instance first, an old one goes only once the new one is ready', async () => {
  const t = makeWorld(desiredState([service('web', { replicas: 2 })]));
  await reconcileDeployment('web', t.world, t.act);
  observeAll(t);
  const old = t.world.liveOf('web').map((r) => r.id);
  t.world.setDesired(desiredState([service('web', { replicas: 2, revision: 'webrev2bbbb' })]));
  await reconcileDeployment('web', t.world, t.act);
  let live = t.world.liveOf('web');
  assert.equal(live.length, 3, 'surge of one');
  assert.equal(live.filter((r) => r.revision === 'webrev2bbbb').length, 1);
  assert.ok(live.every((r) => r.phase === 'active'), 'nothing terminated while the new one is not ready');
  // Again, with nothing changed: no second surge instance (level-triggered, idempotent).
  await reconcileDeployment('web', t.world, t.act);
  assert.equal(t.world.liveOf('web').length, 3);
  observeAll(t);
  await reconcileDeployment('web', t.world, t.act);
  live = t.world.liveOf('web');
  const terminating = live.filter((r) => r.phase === 'terminating').map((r) => r.id);
  assert.equal(terminating.length, 1);
  assert.ok(old.includes(terminating[0]));
  assert.ok(t.events().some((e) => e.startsWith('Killing:') && e.includes('replaced by revision webrev2bbbb')));
  t.close();
});

test('no node fits: FailedScheduling once per reason (also after a restart), the instance waits, the controller asks again', async () => {
  const desired = desiredState([service('big', { replicas: 1, template: { ...service('x').template, cpuMillis: 4000 } })], [{ name: 'node-1', capacity: { cpuMillis: 1000 } }]);
  const t = makeWorld(desired);
  const res = await reconcileDeployment('big', t.world, t.act);
  assert.deepEqual(res, { requeueAfterMs: 1000 });
  const [rec] = t.world.liveOf('big');
  assert.equal(rec.node, '');
  assert.match(t.world.waitingFor(rec.id) ?? '', /0\/1 nodes are available: 1 insufficient cpu/);
  await reconcileDeployment('big', t.world, t.act);
  // A restarted control plane reads the same store: the reason is known, no second event.
  const restarted = makeWorld(undefined, { store: t.store });
  await reconcileDeployment('big', restarted.world, restarted.act);
  assert.equal(t.events().filter((e) => e.startsWith('FailedScheduling:')).length, 1);
  assert.equal(restarted.world.liveOf('big').length, 1, 'no second instance created');
  // The reason changes (the node is cordoned): a new event.
  restarted.world.setNodeFlags('node-1', { cordoned: true });
  await reconcileDeployment('big', restarted.world, restarted.act);
  assert.equal(t.events().filter((e) => e.startsWith('FailedScheduling:')).length, 2);
  assert.match(t.events().at(-1)!, /1 cordoned/);
  t.close();
});

test('required antiAffinity and nodeSelector: conflicts leave the extra replica pending with the reason', async () => {
  const t = makeWorld(
    desiredState([service('db', { replicas: 3, placement: { antiAffinity: 'required', nodeSelector: { disk: 'ssd' } } })], [
      { name: 'node-1', labels: { disk: 'ssd' } },
      { name: 'node-2', labels: { disk: 'ssd' } },
      { name: 'node-3', labels: { disk: 'hdd' } },
    ]),
  );
  await reconcileDeployment('db', t.world, t.act);
  const live = t.world.liveOf('db');
  assert.deepEqual(live.map((r) => r.node).filter(Boolean).sort(), ['node-1', 'node-2']);
  const pending = live.find((r) => r.node === '')!;
  assert.equal(t.world.waitingFor(pending.id), "0/3 nodes are available: 2 already runs an instance of this service (antiAffinity: required), 1 didn't match the nodeSelector");
  t.close();
});

test('dependsOn ready: bound instances wait (one Waiting event), then start once the dependency is ready', async () => {
  const t = makeWorld(desiredState([service('db'), service('api', { dependsOn: { db: 'ready' } })]));
  await reconcileDeployment('db', t.world, t.act);
  const res = await reconcileDeployment('api', t.world, t.act);
  assert.deepEqual(res, { requeueAfterMs: 250 });
  const [api] = t.world.liveOf('api');
  assert.equal(api.dispatched, false);
  assert.equal(t.world.waitingFor(api.id), 'waiting for db to be ready');
  await reconcileDeployment('api', t.world, t.act);
  assert.equal(t.events().filter((e) => e.startsWith('Waiting:')).length, 1);
  observeAll(t, false);
  await reconcileDeployment('api', t.world, t.act);
  assert.equal(t.world.liveOf('api')[0].dispatched, false, 'running but not ready is not enough');
  observeAll(t, true);
  assert.deepEqual(await reconcileDeployment('api', t.world, t.act), {});
  assert.equal(t.world.liveOf('api')[0].dispatched, true);
  assert.equal(t.world.waitingFor(api.id), undefined);
  t.close();
});

test('a removed service and `down`: dispatched instances terminate, never-dispatched ones stop at once', async () => {
  const t = makeWorld(desiredState([service('db'), service('api', { replicas: 2, dependsOn: { db: 'ready' } })]));
  await reconcileDeployment('db', t.world, t.act);
  await reconcileDeployment('api', t.world, t.act);
  t.world.setDesired(desiredState([service('db')]));
  await reconcileDeployment('api', t.world, t.act);
  assert.equal(t.world.liveOf('api').length, 0, 'never dispatched: stopped here (nobody would report them gone)');
  assert.equal(t.store.allInstances().filter((r) => r.service === 'api' && r.phase === 'stopped').length, 2);
  assert.ok(t.recorded.enqueued.includes('lifecycle/all'));
  t.world.setMeta('down', '1');
  await reconcileDeployment('db', t.world, t.act);
  assert.deepEqual(t.world.liveOf('db').map((r) => r.phase), ['terminating']);
  assert.ok(t.events().some((e) => e === `Killing: stopping ${t.world.liveOf('db')[0].id}`));
  t.close();
});

test('draining node and a migrating instance are replaced like an old revision: the replacement first', async () => {
  const t = makeWorld(desiredState([service('web', { replicas: 2 })], [{ name: 'node-1' }, { name: 'node-2' }]));
  await reconcileDeployment('web', t.world, t.act);
  observeAll(t);
  t.world.setNodeFlags('node-1', { cordoned: true, draining: true });
  await reconcileDeployment('web', t.world, t.act);
  const live = t.world.liveOf('web');
  assert.equal(live.length, 3);
  assert.equal(live.filter((r) => r.node === 'node-2').length, 2, 'the replacement avoids the cordoned node');
  observeAll(t);
  await reconcileDeployment('web', t.world, t.act);
  assert.deepEqual(t.world.liveOf('web').filter((r) => r.phase === 'terminating').map((r) => r.node), ['node-1']);
  assert.ok(t.events().some((e) => e.includes('node node-1 is draining')));
  t.close();
});

test('scheduling 500 instances on 10 nodes spreads them evenly in one linear pass', async () => {
  const nodes = Array.from({ length: 10 }, (_, i) => ({ name: `node-${i + 1}` }));
  const t = makeWorld(desiredState([service('web', { replicas: 500 })], nodes));
  const started = performance.now();
  await reconcileDeployment('web', t.world, t.act);
  const ms = performance.now() - started;
  const perNode = new Map<string, number>();
  for (const r of t.world.liveOf('web')) perNode.set(r.node, (perNode.get(r.node) ?? 0) + 1);
  assert.deepEqual([...perNode.values()], Array(10).fill(50));
  assert.equal(new Set(t.world.liveOf('web').map((r) => r.host)).size, 500);
  assert.ok(ms < 5000, `${ms} ms`);
  t.close();
});

test('a control plane restarted mid-rollout continues it from the store and converges to the same end', async () => {
  const t = makeWorld(desiredState([service('web', { replicas: 3 })], [{ name: 'node-1' }, { name: 'node-2' }]));
  await reconcileDeployment('web', t.world, t.act);
  observeAll(t);
  t.world.setDesired(desiredState([service('web', { replicas: 3, revision: 'webrev2bbbb' })], [{ name: 'node-1' }, { name: 'node-2' }]));
  await reconcileDeployment('web', t.world, t.act);
  observeAll(t);
  await reconcileDeployment('web', t.world, t.act);
  // Mid-rollout: one new ready, one old terminating, a second new one created. The process dies here.
  const before = t.world.liveOf('web').map((r) => `${r.id} ${r.revision} ${r.phase}`).sort();
  assert.ok(before.some((r) => r.endsWith('terminating')) && before.filter((r) => r.includes('webrev2bbbb')).length === 2, before.join('\n'));
  const restarted = makeWorld(undefined, { store: t.store });
  restarted.agents.observed = t.agents.observed; // the agents kept running: the new process adopts what they report
  assert.deepEqual(restarted.world.liveOf('web').map((r) => `${r.id} ${r.revision} ${r.phase}`).sort(), before, 'the same world, read from the store');
  for (let i = 0; i < 10; i++) {
    // Terminating instances stop (the node controller records that), the rest become ready.
    for (const r of restarted.world.liveOf('web')) if (r.phase === 'terminating') restarted.act.markStopped(r.id, undefined);
    observeAll(restarted);
    await reconcileDeployment('web', restarted.world, restarted.act);
  }
  const end = restarted.world.liveOf('web');
  assert.equal(end.length, 3);
  assert.ok(end.every((r) => r.revision === 'webrev2bbbb' && r.phase === 'active'));
  assert.equal(restarted.store.allInstances().filter((r) => r.revision === 'webrev2bbbb').length, 3, 'no instance created twice');
  t.close();
});
