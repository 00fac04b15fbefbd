// The GitOps controller over the real read model (in-memory store) and real git repositories made
// here; `apply` stores the desired state as the control plane does, without node agents. Covers what
// the end-to-end test does not: environment overlays with environment-scoped policies, promotion
// between folders (pushed to a bare remote) and between branches when the push is refused, drift
// items, the API's checks of a source, and `gitops:` in a spec.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AppSchema } from '../../../src/contract/index.js';
import { GitopsController } from '../../../src/control/gitops/controller.js';
import { detectDrift } from '../../../src/control/gitops/drift.js';
import { redactUrl } from '../../../src/control/gitops/git.js';
import { promote } from '../../../src/control/gitops/promote.js';
import { parseConfig } from '../../../src/control/gitops/routes.js';
import type { GitopsConfig } from '../../../src/control/gitops/records.js';
import type { DesiredState } from '../../../src/plan/index.js';
import { desiredState, makeWorld, service, type TestWorld } from '../../helpers/control-world.js';

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
const temps: string[] = [];
const temp = (p: string) => {
  const d = mkdtempSync(join(tmpdir(), p));
  temps.push(d);
  return d;
};
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function repoWith(files: Record<string, string>, opts: { bare?: boolean } = {}): { work: string; url: string } {
  const work = temp('berth-gitops-unit-');
  git(work, 'init', '-q', '-b', 'main');
  git(work, 'config', 'user.email', 't@example.com');
  git(work, 'config', 'user.name', 't');
  write(work, files);
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', 'first');
  if (!opts.bare) return { work, url: work };
  const bare = temp('berth-gitops-remote-');
  git(bare, 'clone', '-q', '--bare', work, join(bare, 'r.git'));
  return { work, url: join(bare, 'r.git') };
}

function write(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
}

function controller(t: TestWorld): { c: GitopsController; applied: DesiredState[] } {
  const applied: DesiredState[] = [];
  const stateDir = join(temp('berth-gitops-state-'), '.berth');
  mkdirSync(stateDir);
  const c = new GitopsController({
    world: t.world,
    stateDir,
    apply: (d) => {
      applied.push(d);
      t.world.setDesired(d);
      return Promise.resolve([]);
    },
    restartGenerations: () => ({}),
    event: (e) => t.act.event(e),
    enqueue: () => {},
  });
  return { c, applied };
}

const cfg = (over: Partial<GitopsConfig> & { repo: string }): GitopsConfig => ({ name: 'src', branch: 'main', path: '', intervalMs: 1000, autoSync: true, selfHeal: false, prune: false, ...over });

const SPEC = (replicas: number) => `app: unit
services:
  web:
    run: node srv.js
    port: 28999
    replicas: ${replicas}
`;

const PROD_POLICY = `name: prod-replicas
action: enforce
rules:
  - name: at-least-two
    match: { environments: [prod] }
    validate:
      message: run at least 2 replicas in prod
      pattern: { replicas: ">=2" }
`;

describe('gitops controller (real git, in-memory world)', () => {
  test('an environment overlay is applied, and a policy scoped to that environment refuses it with file:line:col', async () => {
    const t = makeWorld();
    const { work, url } = repoWith({ 'app/berth.yaml': `${SPEC(1)}environments:\n  prod:\n    services: { web: { replicas: 3 } }\n`, 'app/prod.policy.yaml': PROD_POLICY });
    const { c, applied } = controller(t);
    c.add(cfg({ repo: url, path: 'app', env: 'prod' }));
    const ok = await c.sync('src');
    assert.equal(ok.ok, true, ok.errors.join('\n'));
    assert.equal(applied.at(-1)?.services[0].replicas, 3, 'the prod overlay');
    assert.equal(applied.at(-1)?.env, 'prod');

    assert.deepEqual(c.history('src').at(-1)?.detail, ['+ web'], 'the diff recorded with the sync');
    write(work, { 'app/berth.yaml': `${SPEC(1)}environments:\n  prod:\n    services: { web: { replicas: 1 } }\n` });
    git(work, 'commit', '-q', '-am', 'one replica in prod');
    const refused = await c.sync('src');
    assert.equal(refused.ok, false);
    assert.match(refused.errors[0], /^app\/berth\.yaml:\d+:\d+: prod-replicas\/at-least-two: run at least 2 replicas in prod/);
    assert.equal(applied.length, 1, 'nothing applied');
    const s = c.status('src');
    assert.equal(s.failedRevision, refused.sha);
    assert.equal(s.revision, ok.sha);
    assert.equal(s.sync, 'OutOfSync');
    // Without the environment the same commit is fine: the rule only matches prod.
    c.remove('src');
    c.add(cfg({ repo: url, path: 'app' }));
    assert.equal((await c.sync('src')).ok, true);
    assert.deepEqual(c.history('src').at(-1)?.detail, ['~ web: replicas 3 → 1'], 'the diff recorded with the sync');
    t.close();
  });

  test('promotion between folders: the tested folder copied to the next, committed and pushed to a bare remote', async () => {
    const t = makeWorld();
    const { url } = repoWith({ 'envs/staging/berth.yaml': SPEC(2), 'envs/prod/berth.yaml': SPEC(1), 'README': 'x' }, { bare: true });
    const { c } = controller(t);
    c.add(cfg({ repo: url, path: 'envs/staging' }));
    const synced = await c.sync('src');
    assert.equal(synced.ok, true, synced.errors.join('\n'));
    const r = await promote(c, 'src', 'staging', 'prod');
    assert.equal(r.mode, 'folder');
    assert.equal(r.source, synced.sha);
    assert.equal(r.pushed, true, r.pushError ?? '');
    assert.equal(r.branch, 'main');
    assert.equal(r.path, 'envs/prod');
    assert.equal(git(url, 'rev-parse', 'main'), r.commit);
    assert.equal(git(url, 'rev-parse', 'main:envs/prod'), git(url, 'rev-parse', `${synced.sha}:envs/staging`));
    assert.equal(git(url, 'show', 'main:README'), 'x', 'the rest of the tree is kept');
    assert.equal(git(url, 'rev-parse', 'main^'), synced.sha, 'a child of the branch head');
    assert.equal((await promote(c, 'src', 'staging', 'prod')).commit, null);
    t.close();
  });

  test('promotion between branches: a refused push is reported, the commit kept on the target branch of the clone', async () => {
    const t = makeWorld();
    const { work, url } = repoWith({ 'berth.yaml': SPEC(1) });
    git(work, 'branch', 'prod');
    git(work, 'checkout', '-q', 'prod'); // a non-bare remote refuses a push to its checked-out branch
    const { c } = controller(t);
    c.add(cfg({ repo: url, branch: 'main' }));
    write(work, { 'berth.yaml': SPEC(2) });
    git(work, 'checkout', '-q', 'main');
    git(work, 'commit', '-q', '-am', 'two');
    git(work, 'checkout', '-q', 'prod');
    const synced = await c.sync('src');
    const r = await promote(c, 'src', 'main', 'prod');
    assert.equal(r.mode, 'branch');
    assert.equal(r.pushed, false);
    assert.match(r.pushError ?? '', /checked out|refusing|rejected/i);
    const bare = c.paths('src').bare;
    assert.equal(git(bare, 'rev-parse', 'refs/heads/prod'), r.commit);
    assert.equal(git(bare, 'rev-parse', 'refs/heads/prod^{tree}'), git(bare, 'rev-parse', `${synced.sha}^{tree}`));
    await assert.rejects(promote(c, 'src', 'qa', 'prod'), /no branch "qa"/);
    t.close();
  });

  test('a commit whose port another process holds is refused, naming the holder', async () => {
    const t = makeWorld();
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const { url } = repoWith({ 'berth.yaml': SPEC(1).replace('28999', String(port)) });
      const { c, applied } = controller(t);
      c.add(cfg({ repo: url }));
      const r = await c.sync('src');
      assert.equal(r.ok, false);
      assert.match(r.errors[0], new RegExp(`^berth\\.yaml: services\\.web\\.port: port ${port} is already in use by .*pid ${process.pid}`));
      assert.equal(applied.length, 0);
    } finally {
      server.close();
      t.close();
    }
  });

  test('a fetch failure is reported, not thrown by a pass', async () => {
    const t = makeWorld();
    const { c } = controller(t);
    c.add(cfg({ repo: join(tmpdir(), 'berth-no-such-repo-xyz') }));
    await c.reconcile('src');
    const s = c.status('src');
    assert.equal(s.sync, 'Unknown');
    assert.match(s.lastError ?? '', /^fetch: git fetch: /);
    t.close();
  });
});

test('drift: another revision, a scale override, a service missing and one git lacks', () => {
  const git1 = desiredState([service('web', { replicas: 2 }), service('api'), service('gone')]);
  const t = makeWorld(desiredState([service('web', { replicas: 2, revision: 'webrev2bbbb' }), service('api'), service('extra')]));
  t.world.setScaleOverride('api', 4);
  assert.deepEqual(detectDrift(git1, t.world), [
    { service: 'web', field: 'revision', git: 'webrev1aaaa', live: 'webrev2bbbb', fields: [] },
    { service: 'api', field: 'replicas', git: 1, live: 4 },
    { service: 'gone', field: 'service', git: 'present', live: 'missing' },
    { service: 'extra', field: 'service', git: 'absent', live: 'present' },
  ]);
  t.close();
});

test('drift by a `berth apply` of another spec: each field that differs, env values hidden', () => {
  const base = service('web');
  const git1 = desiredState([base]);
  const other = { ...base, revision: 'webrev3cccc', template: { ...base.template, main: { ...base.template.main, argv: ['node', 'other.js'], env: { TOKEN: 'hunter2' } } } };
  const t = makeWorld(desiredState([other]));
  const [d] = detectDrift(git1, t.world);
  assert.equal(d.field, 'revision');
  assert.ok(d.fields && d.fields.length > 0, JSON.stringify(d));
  assert.ok(!JSON.stringify(d.fields).includes('hunter2'), JSON.stringify(d.fields));
  assert.ok(d.fields.some((f) => JSON.stringify(f).includes('other.js')), JSON.stringify(d.fields));
  t.close();
});

test('a token in a repository URL is never shown', async () => {
  assert.equal(redactUrl('https://bot:ghp_secret@github.com/acme/r.git'), 'https://bot:***@github.com/acme/r.git');
  assert.equal(redactUrl('fatal: could not read from https://u:p4ss@h/x and ssh://git@h/y'), 'fatal: could not read from https://u:***@h/x and ssh://git@h/y');
  assert.equal(redactUrl('/srv/repo'), '/srv/repo');
  const t = makeWorld();
  const { c } = controller(t);
  c.add(cfg({ repo: 'http://bot:tok3n@127.0.0.1:9/none.git' }));
  await c.reconcile('src');
  const s = c.status('src');
  assert.ok(!JSON.stringify(s).includes('tok3n'), JSON.stringify(s));
  assert.ok(!t.events().join('\n').includes('tok3n'), t.events().join('\n'));
  t.close();
});

test('the API checks a source before adding it', () => {
  assert.match(parseConfig({ name: 'Bad', repo: 'x' }) as string, /DNS-1123/);
  assert.match(parseConfig({ name: 'ok' }) as string, /repo/);
  assert.match(parseConfig({ name: 'ok', repo: 'x', path: '../up' }) as string, /inside the repository/);
  assert.match(parseConfig({ name: 'ok', repo: 'x', branch: '-x' }) as string, /branch/);
  assert.match(parseConfig({ name: 'ok', repo: 'x', intervalMs: 5 }) as string, /at least/);
  assert.deepEqual(parseConfig({ name: 'ok', repo: '/r', path: './apps/', autoSync: true }), { name: 'ok', repo: '/r', branch: 'main', path: 'apps', intervalMs: 30_000, autoSync: true, selfHeal: false, prune: false });
});

test('gitops: in a spec', () => {
  const base = { app: 'a', services: { web: { run: 'node x.js' } } };
  const ok = AppSchema.safeParse({ ...base, gitops: [{ name: 'prod', repo: 'https://example.com/r.git', interval: '2m', autoSync: true }] });
  assert.equal(ok.success, true);
  assert.deepEqual(ok.data?.gitops?.[0], { name: 'prod', repo: 'https://example.com/r.git', branch: 'main', path: '', interval: 120_000, autoSync: true, selfHeal: false, prune: false });
  const dup = AppSchema.safeParse({ ...base, gitops: [{ name: 'p', repo: 'a' }, { name: 'p', repo: 'b' }] });
  assert.equal(dup.success, false);
  assert.match(JSON.stringify(dup.error?.issues), /declared twice/);
  assert.equal(AppSchema.safeParse({ ...base, gitops: [{ name: 'p', repo: 'a', interval: 'soon' }] }).success, false);
});
