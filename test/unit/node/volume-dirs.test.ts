// The node agent's side of persistent volumes: a directory per volume, created once and kept (with
// what the app wrote), owned by the app's user at 0700 with pass-through parents when that user is
// not the agent's; paths outside the state directory are refused; .berth/'s permission walk leaves
// the apps' data alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { prepareVolumeDirs, PASS_THROUGH_MODE } from '../../../src/node/volume-dirs.js';
import { securePrivateTree } from '../../../src/lib/private-dir.js';
import { parseDesired } from '../../../src/node/desired-validation.js';

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

test('a volume that changes hands (a new user:) takes what the previous user wrote with it', { skip: userInfo().uid !== 0 ? 'needs root to hand a directory to another user' : undefined }, () => {
  const state = stateDir();
  const dir = join(state, 'volumes', 'db', 'data');
  prepareVolumeDirs(state, [{ name: 'data', dir }], '65534:65534');
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'row.db'), 'x');
  chownSync(join(dir, 'sub'), 65534, 65534);
  chownSync(join(dir, 'sub', 'row.db'), 65534, 65534);
  prepareVolumeDirs(state, [{ name: 'data', dir }], '1:1');
  for (const p of [dir, join(dir, 'sub'), join(dir, 'sub', 'row.db')]) assert.deepEqual([statSync(p).uid, statSync(p).gid], [1, 1], p);
});

test('the agent accepts a template\'s volumes over the wire and refuses a relative or `..` directory', () => {
  const instance = (volumes: unknown) => ({
    id: 'db-1', app: 'a', service: 'db', revision: 'r', node: 'node-1', host: '127.1.1.2',
    main: { name: 'app', argv: ['node'], cwd: '/', env: {}, volumes },
    sidecars: [], probes: {}, restart: { policy: 'always', initialSeconds: 1, maxSeconds: 2, resetAfterSeconds: 3 }, stopGracePeriodSeconds: 1, logDir: '/tmp',
  });
  const ok = parseDesired({ generation: 1, services: [], instances: [instance([{ name: 'data', dir: '/x/.berth/volumes/db/data' }])] });
  assert.deepEqual(ok.instances[0].main.volumes, [{ name: 'data', dir: '/x/.berth/volumes/db/data' }]);
  assert.throws(() => parseDesired({ generation: 1, services: [], instances: [instance([{ name: 'data', dir: 'volumes/db' }])] }), /volumes\[0\]\.dir/);
  assert.throws(() => parseDesired({ generation: 1, services: [], instances: [instance([{ name: 'data', dir: '/x/../etc' }])] }), /volumes\[0\]\.dir/);
  assert.throws(() => parseDesired({ generation: 1, services: [], instances: [instance([{ name: 'Data!', dir: '/x' }])] }), /volumes\[0\]\.name/);
});
