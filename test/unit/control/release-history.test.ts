// Revision history (issue 14 point 1) on the real store: numbered per service, an unchanged apply
// records nothing, going back to an earlier spec is a new number with the old hash, the previous
// current entry is `replaced`, a removed service's entry `removed`, revisionHistoryLimit old entries
// kept beside the current one, and everything survives a new read model over the same database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../../src/control/store.js';
import { World } from '../../../src/control/world.js';
import { publicEntry } from '../../../src/control/release/history.js';
import { desiredState, service } from '../../helpers/control-world.js';

const at = (i: number) => `2026-12-05T08:00:0${i}.000Z`;

test('numbered revisions per service; unchanged applies record nothing; an old spec again is a new number', () => {
  const world = new World(new Store(':memory:'));
  const h = world.history;
  assert.equal(h.recordDesired(desiredState([service('web', { revision: 'aaaa' }), service('db', { revision: 'dddd' })]), { at: at(1) }).length, 2);
  assert.equal(h.recordDesired(desiredState([service('web', { revision: 'aaaa' }), service('db', { revision: 'dddd' })]), { at: at(2) }).length, 0, 'nothing changed');
  h.recordDesired(desiredState([service('web', { revision: 'bbbb' }), service('db', { revision: 'dddd' })]), { at: at(3) });
  h.recordDesired(desiredState([service('web', { revision: 'aaaa' }), service('db', { revision: 'dddd' })]), { at: at(4), message: 'back to v1' });
  const web = h.list('web').map(publicEntry);
  assert.deepEqual(
    web.map((e) => [e.number, e.revision, e.status, e.why, e.at]),
    [
      [1, 'aaaa', 'replaced', 'applied', at(1)],
      [2, 'bbbb', 'replaced', 'applied', at(3)],
      [3, 'aaaa', 'current', 'applied', at(4)],
    ],
  );
  assert.equal(web[2].message, 'back to v1');
  assert.equal(web[0].specFile, '/tmp/berth.yaml');
  assert.equal(h.list('db').length, 1);
  // The compiled spec of each revision is kept (what an undo re-applies), but not in the public entry.
  assert.equal(h.get('web', 2)?.spec.revision, 'bbbb');
  assert.ok(!('spec' in web[0]));
  // A service that is gone: its current entry is `removed`.
  h.recordDesired(desiredState([service('web', { revision: 'aaaa' })]), { at: at(5) });
  assert.equal(h.current('db'), undefined);
  assert.equal(h.list('db')[0].status, 'removed');
});

test('revisionHistoryLimit: old revisions beyond the limit are pruned, the current one always stays; the release controller records why', () => {
  const world = new World(new Store(':memory:'));
  const h = world.history;
  const release = { strategy: 'rolling' as const, revisionHistoryLimit: 2 };
  for (let i = 1; i <= 5; i++) h.recordDesired(desiredState([service('web', { revision: `rev${i}`, release })]), { at: at(i) });
  assert.deepEqual(
    h.list('web').map((e) => [e.number, e.revision, e.status]),
    [
      [3, 'rev3', 'replaced'],
      [4, 'rev4', 'replaced'],
      [5, 'rev5', 'current'],
    ],
  );
  // Limit 0: only the current revision.
  h.record(service('web', { revision: 'rev6' }), { why: 'applied', specFile: '/x', limit: 0 });
  assert.deepEqual(h.list('web').map((e) => e.number), [6]);
  // What the release controller will do: a canary in progress beside current, then aborted and stable current again.
  const canary = h.record(service('web', { revision: 'rev7' }), { why: 'applied', status: 'progressing', specFile: '/x' });
  assert.equal(h.current('web')?.number, 6, 'a progressing revision does not replace current');
  h.setStatus('web', canary.number, 'aborted');
  h.record(service('web', { revision: 'rev6' }), { why: 'aborted', specFile: '/x', message: 'analysis failed: error-rate' });
  assert.deepEqual(
    h.list('web').slice(-3).map((e) => [e.number, e.revision, e.status, e.why]),
    [
      [6, 'rev6', 'replaced', 'applied'],
      [7, 'rev7', 'aborted', 'applied'],
      [8, 'rev6', 'current', 'aborted'],
    ],
  );
});

test('the history is in the store: a new read model (a restarted control plane) sees the same entries and numbers on', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'berth-history-')), 'state.db');
  const first = new Store(path);
  new World(first).history.recordDesired(desiredState([service('web', { revision: 'aaaa' })]));
  new World(first).history.recordDesired(desiredState([service('web', { revision: 'bbbb' })]));
  first.close();
  const again = new Store(path);
  const h = new World(again).history;
  assert.deepEqual(h.list('web').map((e) => [e.number, e.revision, e.status]), [
    [1, 'aaaa', 'replaced'],
    [2, 'bbbb', 'current'],
  ]);
  h.recordDesired(desiredState([service('web', { revision: 'cccc' })]));
  assert.equal(h.current('web')?.number, 3);
  again.close();
});
