// A release's shadow-diff sum (issue 15 point 4): the controller reads every proxy's /mesh/shadow
// counters; only this release's (its canary revision as the mirror key, or a spec mirror route of the
// service) count; a spec route's counters from before the release are a baseline; a proxy that
// restarted keeps what it had counted; an unreadable proxy keeps its last reading. The status shows
// per route the setMirrorRoute step, the counts and the fields that differed most; the CLI prints it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeReadings, shadowStatus, type StoredShadow } from '../../../src/control/release/shadow.js';
import { renderStatus } from '../../../src/cli/commands/release.js';
import type { MeshShadowCount } from '../../../src/lib/mesh-protocol.js';
import type { CanaryStepSpec } from '../../../src/contract/index.js';
import type { ReleaseStatus } from '../../../src/control/index.js';
import { ShadowStats } from '../../../src/sidecar/proxy/shadow.js';

const empty = (): StoredShadow => ({ service: 'web', canaryRevision: 'rev2', proxies: {}, carried: [] });
const c = (route: string, same: number, diff: number, o: Partial<MeshShadowCount> = {}): MeshShadowCount => ({ service: 'web', route, same, diff, error: 0, fields: diff ? [{ path: '$.price', count: diff, expected: '10', actual: '12' }] : [], ...o });
const steps = [{ setCanaryScale: { replicas: 1 } }, { setMirrorRoute: { name: 'copy', percentage: 100, match: [{ path: { prefix: '/item' } }] } }] as unknown as CanaryStepSpec[];

test('only this release counts: its key, or a spec mirror route of the service from its baseline', () => {
  let s = mergeReadings(
    empty(),
    [
      {
        proxy: 'berth-gateway',
        counts: [
          c('release-mirror-copy-0', 1, 4, { key: 'rev2' }),
          c('release-mirror-copy-0', 50, 50, { key: 'rev1' }), // an earlier release
          c('shadowed', 7, 3), // a spec mirror route: counted before the release
          c('release-mirror-copy-0', 9, 9, { service: 'other', key: 'rev2' }),
        ],
      },
    ],
    1000,
  );
  assert.equal(s.updatedAt, 1000);
  let st = shadowStatus(s, steps);
  assert.deepEqual(
    st.routes.map((r) => [r.route, r.mirrorRoute, r.step, r.compared, r.differing]),
    [
      ['release-mirror-copy-0', 'copy', 1, 5, 4],
      ['shadowed', null, null, 0, 0],
    ],
  );
  s = mergeReadings(s, [{ proxy: 'berth-gateway', counts: [c('release-mirror-copy-0', 2, 6, { key: 'rev2' }), c('shadowed', 9, 4)] }, { proxy: 'web-2', counts: [c('release-mirror-copy-0', 0, 1, { key: 'rev2' })] }], 2000);
  st = shadowStatus(s, steps);
  assert.deepEqual([st.compared, st.same, st.differing, st.differingPercent, st.proxies], [12, 4, 8, 66.67, 2]);
  assert.deepEqual(st.routes.find((r) => r.route === 'shadowed')!.topFields, [{ path: '$.price', count: 1, expected: '10', actual: '12' }]);
  assert.deepEqual(st.routes[0].topFields, [{ path: '$.price', count: 7, expected: '10', actual: '12' }]);
});

test('a restarted proxy keeps what it counted; an unreadable one keeps its last reading; unchanged readings change nothing', () => {
  let s = mergeReadings(empty(), [{ proxy: 'p', counts: [c('release-mirror-copy-0', 3, 2, { key: 'rev2' })] }], 1000);
  s = mergeReadings(s, [{ proxy: 'p', counts: [c('release-mirror-copy-0', 1, 0, { key: 'rev2' })] }], 2000);
  assert.deepEqual([shadowStatus(s, steps).same, shadowStatus(s, steps).differing], [4, 2]);
  const again = mergeReadings(s, [{ proxy: 'p', counts: undefined }], 3000);
  assert.deepEqual([shadowStatus(again, steps).compared, again.updatedAt], [6, 2000]);
  const same = mergeReadings(s, [{ proxy: 'p', counts: [c('release-mirror-copy-0', 1, 0, { key: 'rev2' })] }], 4000);
  assert.equal(same.updatedAt, 2000);
});

test('berth release status prints the shadow totals and the top fields per route', () => {
  const s = mergeReadings(empty(), [{ proxy: 'g', counts: [c('release-mirror-copy-0', 1, 3, { key: 'rev2' })] }], 1000);
  const status = { service: 'web', strategy: 'canary', phase: 'Paused', step: 2, steps: 3, weights: { stable: 100, canary: 0 }, stableRevision: 'rev1', canaryRevision: 'rev2', message: null, instances: { stable: { ready: 1, live: 1 }, canary: { ready: 1, live: 1 } }, headerRoutes: [], startedAt: null, promotedAt: null, abortedAt: null, pauseUntil: null, analysisRuns: [], throttle: null, shadow: shadowStatus(s, steps) } satisfies ReleaseStatus;
  const text = renderStatus(status, false);
  assert.match(text, /shadow {5}4 compared {2}3 differing \(75%\) {2}0 errors {2}\(1 proxies\)/);
  assert.match(text, /release-mirror-copy-0 +2 +4 +3 +0 +\$\.price ×3 \(10 → 12\)/);
  assert.doesNotMatch(renderStatus({ ...status, shadow: null }, false), /shadow/);
});

test('a proxy counts per mirror key, with the fields that differed most; /metrics sums the keys', () => {
  const st = new ShadowStats();
  st.count('web', 'r', 'diff', 'rev2', [{ path: '$.a', expected: '1', actual: '2' }, { path: '$.b', expected: 'x', actual: 'y' }]);
  st.count('web', 'r', 'diff', 'rev2', [{ path: '$.a', expected: '1', actual: '3' }]);
  st.count('web', 'r', 'same', 'rev1');
  st.count('web', 'r', 'error');
  const all = st.all();
  assert.deepEqual(all.find((x) => x.key === 'rev2'), { service: 'web', route: 'r', key: 'rev2', same: 0, diff: 2, error: 0, fields: [{ path: '$.a', count: 2, expected: '1', actual: '3' }, { path: '$.b', count: 1, expected: 'x', actual: 'y' }] });
  assert.equal(all.find((x) => x.key === undefined)?.error, 1);
  assert.deepEqual(st.byRoute(), [{ service: 'web', route: 'r', same: 1, diff: 2, error: 1 }]);
});
