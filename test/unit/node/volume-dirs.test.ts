// The node agent's side of persistent volumes: a directory per volume, created once and kept (with
// what the app wrote), owned by the app's user at 0700 with pass-through parents when that user is
// not the agent's; paths outside the state directory are refused; .berth/'s permission walk leaves
// the apps' data alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { prepareVolumeDirs, PASS_THROUGH_MODE } from '../../../src/node/volume-dirs.js';
import { securePrivateTree } from '../../../src/lib/private-dir.js';

function stateDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'berth-volumes-'));
  const state = join(root, '.berth');
  mkdirSync(state, { mode: 0o700 });
  return state;
}

test('a volume directory is created 0700 and kept with its content when prepared again', () => {
  const state = stateDir();
  const dir = join(state, 'volumes', 'db', 'data');
  prepareVolumeDirs(state, [{ name: 'data', dir }], undefined);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  writeFileSync(join(dir, 'kept.txt'), 'hello');
  prepareVolumeDirs(state, [{ name: 'data', dir }], undefined);
  assert.equal(readFileSync(join(dir, 'kept.txt'), 'utf8'), 'hello');
});

test('a path outside the state directory is refused, naming the volume', () => {
  const state = stateDir();
  assert.throws(() => prepareVolumeDirs(state, [{ name: 'data', dir: join(state, '..', 'elsewhere') }], undefined), /volume `data`: .* is not under the state directory/);
  assert.throws(() => prepareVolumeDirs(state, [{ name: 'data', dir: state }], undefined), /not under the state directory/);
});

test('owned by the app user when it is not the agent\'s; parents pass through; the state walk keeps it so', { skip: userInfo().uid !== 0 ? 'needs root to hand a directory to another user' : undefined }, () => {
  const state = stateDir();
  const dir = join(state, 'volumes', 'db', 'data');
  prepareVolumeDirs(state, [{ name: 'data', dir }], '65534:65534');
  const st = statSync(dir);
  assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [65534, 65534, 0o700]);
  for (const p of [state, join(state, 'volumes'), join(state, 'volumes', 'db')]) assert.equal(statSync(p).mode & 0o777, PASS_THROUGH_MODE, p);
  // What the app wrote keeps its modes through the walk `berth up` and the control plane make.
  writeFileSync(join(dir, 'app.db'), 'x', { mode: 0o644 });
  mkdirSync(join(state, 'logs'), { mode: 0o755 });
  securePrivateTree(state);
  assert.equal(statSync(join(dir, 'app.db')).mode & 0o777, 0o644);
  assert.equal(statSync(state).mode & 0o777, PASS_THROUGH_MODE, 'the state dir stays passable');
  assert.equal(statSync(join(state, 'logs')).mode & 0o777, 0o700, 'everything else is still tightened');
});
