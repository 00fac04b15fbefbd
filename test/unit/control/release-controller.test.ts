// The release controller against an in-memory world (issue 14 point 3): an apply of a changed
// canary service starts a release (its history entry `progressing`, not current — the defect the
// first wave had); the deployment controller runs stable and canary side by side; the steps move the
// weight the mesh snapshot carries (a split, header routes, the throttle overflowing to stable);
// promote scales the canary up before the switch; abort sends everything back to stable; going back
// to stable or into the rollback window starts no release.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReleaseController, releasesForApply } from '../../../src/control/controllers/release.js';
import { reconcileDeployment } from '../../../src/control/controllers/deployment.js';
import { canaryReplicas, endpointVariant, loadRelease, releaseMeshConfig, saveRelease } from '../../../src/control/release/state.js';
import { releaseOverviews, releaseStatus } from '../../../src/control/release/status.js';
import type { DesiredState } from '../../../src/plan/index.js';
import type { ReleaseSpec } from '../../../src/contract/index.js';
import { desiredState, makeWorld, observeAll, service, type TestWorld } from '../../helpers/control-world.js';

const release = (steps: ReleaseSpec['canary'] extends infer C ? (C extends { steps: infer S } ? S : never) : never, extra: Partial<ReleaseSpec> = {}): ReleaseSpec => ({
  strategy: 'canary',
  canary: { steps, throttle: { rps: 20 } },
  revisionHistoryLimit: 10,
  ...extra,
});

const state = (rev: string, r: ReleaseSpec): DesiredState => desiredState([service('web', { revision: rev, replicas: 2, port: 8080, release: r })]);

/** What ControlPlane.applyDesired does about releases, without the processes. */
function apply(t: TestWorld, next: DesiredState): void {
  const plan = releasesForApply(t.world, t.world.desired, next);
  t.world.setDesired(next);
  const entries = t.world.history.recordDesired(next, { progressing: new Set(plan.start.map((r) => r.service)) });
  for (const r of plan.start) saveRelease(t.world, { ...r, canaryNumber: entries.find((e) => e.service === r.service)?.number, stableNumber: t.world.history.current(r.service)?.number });
}

async function settle(t: TestWorld, releases: ReleaseController): Promise<void> {
  for (let i = 0; i < 4; i++) {
    await reconcileDeployment('web', t.world, t.act);
    observeAll(t);
    await releases.reconcile('web', t.world, t.act);
  }
}

test('a canary walks its steps: stable and canary side by side, the weight in the mesh config, promote, then only the new revision', async () => {
  const steps = [{ setWeight: 50 }, { setHeaderRoute: { name: 'testers', match: [{ headerName: 'X-Tester', headerValue: { exact: 'yes' } }] } }, { pause: {} }];
  const t = makeWorld(state('rev1', release(steps)));
  t.world.history.recordDesired(t.world.desired!);
  const releases = new ReleaseController(t.world, () => {});
  await reconcileDeployment('web', t.world, t.act);
  observeAll(t);
  apply(t, state('rev2', release(steps)));
  const h = t.world.history.list('web');
  assert.deepEqual(h.map((e) => [e.revision, e.status]), [['rev1', 'current'], ['rev2', 'progressing']], 'the canary is progressing until promoted');
  // The same spec applied again (`berth up` after a control-plane restart) records nothing new.
  apply(t, state('rev2', release(steps)));
  assert.deepEqual(t.world.history.list('web').map((e) => [e.revision, e.status]), [['rev1', 'current'], ['rev2', 'progressing']]);

  await settle(t, releases);
  const s = loadRelease(t.world, 'web')!;
  assert.equal(s.phase, 'Paused');
  assert.equal(s.weight, 50);
  const live = t.world.liveOf('web');
  assert.equal(live.filter((r) => r.revision === 'rev1').length, 2, 'stable keeps its replicas');
  assert.equal(live.filter((r) => r.revision === 'rev2').length, 1, 'ceil(2 × 50 %) canary instance');
  assert.equal(endpointVariant(t.world, live.find((r) => r.revision === 'rev2')!), 'canary');
  assert.equal(endpointVariant(t.world, live.find((r) => r.revision === 'rev1')!), 'default');
  const mesh = releaseMeshConfig(t.world, { accessLog: true }).services!.web;
  assert.deepEqual(mesh.routes!.map((r) => r.to), [[{ service: 'web', variant: 'canary', weight: 100 }], [{ service: 'web', variant: 'default', weight: 50 }, { service: 'web', variant: 'canary', weight: 50 }]]);
  assert.deepEqual(mesh.routes![0].match, { headers: { 'x-tester': { exact: 'yes' } } });
  assert.deepEqual(mesh.policy!.variants!.canary, { rateLimit: { requestsPerSecond: 20, burst: 2 }, overflowTo: 'default' });
  // The status (and the dashboard's list) says the same: the throttle in force, the spec's steps.
  const [overview] = releaseOverviews(t.world);
  assert.deepEqual(overview.throttle, { rps: 20, concurrency: null, slowStartMs: null, ramp: 1, effective: { rps: 20, concurrency: null, weight: 50 } });
  assert.deepEqual(overview.stepSpecs, steps);
  assert.deepEqual([overview.phase, overview.step, overview.weights], ['Paused', 2, { stable: 50, canary: 50 }]);

  releases.promoteCommand('web', false, t.world, t.act);
  await settle(t, releases);
  const done = loadRelease(t.world, 'web')!;
  assert.equal(done.phase, 'Healthy');
  assert.equal(t.world.liveOf('web').filter((r) => r.revision === 'rev2').length, 2, 'scaled to the replicas before the switch');
  assert.deepEqual(t.world.history.list('web').map((e) => [e.status, e.why]), [['replaced', 'applied'], ['current', 'promoted']]);
  assert.deepEqual(releaseMeshConfig(t.world, { accessLog: true }).services!.web.routes!.map((r) => r.to), [[{ service: 'web', variant: 'default', weight: 0 }, { service: 'web', variant: 'canary', weight: 100 }]]);
  // After the scale-down delay the old revision stops and the release no longer steers anything.
  saveRelease(t.world, { ...done, scaleDownAt: Date.now() - 1 });
  await releases.reconcile('web', t.world, t.act);
  assert.ok(t.world.liveOf('web').filter((r) => r.phase === 'active').every((r) => r.revision === 'rev2'));
  assert.equal(releaseMeshConfig(t.world, { accessLog: true }).services, undefined);
  assert.ok(t.events().some((e) => e.startsWith('ReleasePromoted:')));
  assert.equal(releaseStatus(t.world, 'web').throttle, null, 'no throttle once promoted');
  t.close();
});

test('abort: weight 0, the canary scaled to zero, the history entry aborted, Degraded until the next apply', async () => {
  const steps = [{ setWeight: 30 }, { pause: {} }];
  const t = makeWorld(state('rev1', release(steps)));
  t.world.history.recordDesired(t.world.desired!);
  const releases = new ReleaseController(t.world, () => {});
  await reconcileDeployment('web', t.world, t.act);
  observeAll(t);
  apply(t, state('rev2', release(steps)));
  await settle(t, releases);
  releases.abortCommand('web', t.world, t.act);
  await settle(t, releases);
  const s = loadRelease(t.world, 'web')!;
  assert.equal(s.phase, 'Degraded');
  assert.match(s.message!, /berth release abort/);
  assert.equal(canaryReplicas(s, 2), 0);
  assert.ok(t.world.liveOf('web').filter((r) => r.phase === 'active').every((r) => r.revision === 'rev1'));
  assert.deepEqual(releaseMeshConfig(t.world, { accessLog: true }).services!.web.routes!.map((r) => r.to), [[{ service: 'web', variant: 'default', weight: 100 }, { service: 'web', variant: 'canary', weight: 0 }]]);
  assert.deepEqual(t.world.history.list('web').map((e) => [e.status, e.why]), [['current', 'applied'], ['aborted', 'aborted']]);
  assert.throws(() => releases.promoteCommand('web', false, t.world, t.act), /aborted/);
  // retry starts over.
  releases.retryCommand('web', t.world, t.act);
  assert.equal(loadRelease(t.world, 'web')!.phase, 'Progressing');
  assert.equal(t.world.history.list('web').at(-1)!.status, 'progressing');
  t.close();
});

test('which applies start a release: a changed canary service; not back to stable, not within the rollback window, not rolling', () => {
  const r = release([{ setWeight: 50 }], { rollbackWindow: { revisions: 2 } });
  const t = makeWorld(state('rev1', r));
  t.world.history.recordDesired(t.world.desired!);
  apply(t, state('rev2', r));
  assert.equal(loadRelease(t.world, 'web')!.stableRevision, 'rev1');
  // A new apply during the release replaces the canary; stable stays what it was.
  const replacing = releasesForApply(t.world, t.world.desired, state('rev3', r));
  assert.deepEqual(replacing.start.map((s) => [s.stableRevision, s.canaryRevision, s.replaced]), [['rev1', 'rev3', 'rev2']]);
  // Back to stable: the release is cancelled, nothing new starts.
  const back = releasesForApply(t.world, t.world.desired, state('rev1', r));
  assert.deepEqual(back.start, []);
  assert.equal(back.cancel.length, 1);
  // rev1 promoted away from, then back within the window of 2: skipped.
  t.world.history.setStatus('web', 2, 'current');
  t.world.history.setStatus('web', 1, 'replaced');
  saveRelease(t.world, { ...loadRelease(t.world, 'web')!, phase: 'Healthy' });
  const undo = releasesForApply(t.world, t.world.desired, state('rev1', r));
  assert.deepEqual(undo.start, []);
  assert.match(undo.skipped[0].why, /rollbackWindow/);
  // Rolling: never a release.
  const rolling = releasesForApply(t.world, t.world.desired, state('rev9', { strategy: 'rolling', revisionHistoryLimit: 10 }));
  assert.deepEqual(rolling.start, []);
  t.close();
});

test('throttle.slowStart: the canary budget grows linearly in tenths from the weight change; without rps or concurrency the weight itself ramps', () => {
  const withRps: ReleaseSpec = { strategy: 'canary', canary: { steps: [{ setWeight: 50 }], throttle: { rps: 100, slowStart: 10_000 } }, revisionHistoryLimit: 10 };
  const t = makeWorld(state('rev2', withRps));
  const now = Date.now();
  const base = { service: 'web', strategy: 'canary' as const, phase: 'Progressing' as const, stableRevision: 'rev1', canaryRevision: 'rev2', step: 1, weight: 50, headerRoutes: [], stepStartedAt: now, runs: [], startedAt: now };
  saveRelease(t.world, { ...base, weightAt: now - 2_500 });
  assert.equal(releaseMeshConfig(t.world, { accessLog: true }, now).services!.web.policy!.variants!.canary.rateLimit!.requestsPerSecond, 30, '2.5 s of 10 s: the third tenth');
  assert.equal(releaseMeshConfig(t.world, { accessLog: true }, now + 20_000).services!.web.policy!.variants!.canary.rateLimit!.requestsPerSecond, 100, 'after the window: the full budget');
  t.world.setDesired(state('rev2', { ...withRps, canary: { steps: [{ setWeight: 50 }], throttle: { slowStart: 10_000 } } }));
  const split = (at: number) => (releaseMeshConfig(t.world, { accessLog: true }, at).services!.web.routes![0].to as { weight: number }[]).map((d) => d.weight);
  assert.deepEqual(split(now), [85, 15], '2.5 s of 10 s: three tenths of the weight');
  assert.deepEqual(split(now + 20_000), [50, 50]);
  // `berth release status` (and the dashboard) shows the ramp and the weight the proxies use now.
  assert.deepEqual(releaseStatus(t.world, 'web').throttle, { rps: null, concurrency: null, slowStartMs: 10_000, ramp: 0.3, effective: { rps: null, concurrency: null, weight: 15 } });
  t.close();
});
