// What `berth apply` reports per service: a change of the release policy alone is its own kind
// (nothing restarts), not "unchanged".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffDesired } from '../../../src/control/desired-diff.js';
import { desiredState, service } from '../../helpers/control-world.js';

test('diffDesired: revision, replicas, release policy, unchanged, added and removed', () => {
  const canary = { strategy: 'canary' as const, canary: { steps: [{ setWeight: 20 }] }, revisionHistoryLimit: 10 };
  const before = desiredState([service('web'), service('api'), service('db'), service('old')]);
  const after = desiredState([service('web', { release: canary }), service('api', { revision: 'apirev2' }), service('db', { replicas: 3 }), service('new')]);
  assert.deepEqual(diffDesired(before, after), [
    { service: 'web', change: 'release', to: 'canary' },
    { service: 'api', change: 'revision', from: 'apirev1aaaa', to: 'apirev2' },
    { service: 'db', change: 'replicas', from: '1', to: '3' },
    { service: 'new', change: 'added', to: 'newrev1aaaa' },
    { service: 'old', change: 'removed' },
  ]);
  const steps = desiredState([service('web', { release: { ...canary, canary: { steps: [{ setWeight: 50 }] } } })]);
  assert.deepEqual(diffDesired(desiredState([service('web', { release: canary })]), steps), [{ service: 'web', change: 'release', from: 'canary', to: 'canary' }]);
  assert.deepEqual(diffDesired(steps, steps), [{ service: 'web', change: 'unchanged' }]);
});
