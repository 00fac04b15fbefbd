// The GitOps controller end to end: a real git repository made here (the git binary) with a sequence
// of commits, a real control plane and real apps under `berth`. After each commit: the status, the
// history and what the running instances serve — a valid change applied, a YAML error and a policy
// violation refused with file:line:col while the last good commit keeps serving, a valid fix, a
// service removed without and with prune, a manual scale without and with self-heal, a rollback
// (auto-sync suspended until resume), a control plane killed and restarted (status, history and
// auto-sync resume), the webhook, and a promotion commit pushed to the target branch.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GitopsStatusView, HistoryEntry } from '../../src/control/index.js';
import { commit, git, newRepo } from './harness/git.js';
import { berth, berthOk, events, httpRequest, portBlock, ps, tempApp, waitFor } from './harness/berth.js';

const SERVER = "require('node:http').createServer((q, s) => s.end(process.env.MSG)).listen(Number(process.env.PORT), process.env.HOST);\n";
const POLICY = `name: require-owner
action: enforce
rules:
  - name: owner-label
    validate:
      message: add labels.owner naming the team
      pattern:
        labels:
          owner: "?*"
`;

function spec(web: number, worker: number, msg: string, o: { owner?: boolean; worker?: boolean } = {}): string {
  return `app: gitopstest
services:
  web:
    run: node srv.js
    port: ${web}
    env: { MSG: ${msg} }
${o.owner === false ? '' : '    labels: { owner: team-a }\n'}    probes:
      readiness: { tcp: {} }
${
  o.worker === false
    ? ''
    : `  worker:
    run: node srv.js
    port: ${worker}
    env: { MSG: worker }
    labels: { owner: team-b }
    probes:
      readiness: { tcp: {} }
`
}`;
}

describe('berth gitops', () => {
  const port = portBlock(2);
  const worker = port + 1;
  const repo = newRepo('berth-gitops-repo-');
  const dir = tempApp({});
  after(async () => {
    await berth(dir, ['down'], { timeoutMs: 90_000 });
    rmSync(repo, { recursive: true, force: true });
  });

  const status = async (): Promise<GitopsStatusView> => JSON.parse((await berthOk(dir, ['gitops', 'status', 'demo', '--json'])).stdout) as GitopsStatusView;
  const history = async (): Promise<HistoryEntry[]> => (JSON.parse((await berthOk(dir, ['gitops', 'history', 'demo', '--json'])).stdout) as { history: HistoryEntry[] }).history;
  const serves = (p: number, body: string, timeoutMs = 30_000) =>
    waitFor(`127.0.0.1:${p} to serve ${body}`, async () => (await httpRequest(`http://127.0.0.1:${p}/`)).body === body, timeoutMs);
  const running = async (service: string) => (await ps(dir)).filter((r) => r.service === service && r.status !== 'stopping' && r.status !== 'stopped');

  test('commits applied, bad commits refused with file:line:col, drift, prune, rollback, restart, promotion', { timeout: 300_000 }, async () => {
    const c1 = commit(repo, { 'berth.yaml': spec(port, worker, 'v1'), 'srv.js': SERVER, 'owner.policy.yaml': POLICY }, 'v1');

    // Usage errors first: exit 2, nothing registered.
    assert.equal((await berth(dir, ['gitops', 'add', 'Bad_Name', '--repo', repo])).code, 2);
    assert.equal((await berth(dir, ['gitops', 'add', 'demo', '--repo', repo, '--interval', 'soon'])).code, 2);

    const added = await berthOk(dir, ['gitops', 'add', 'demo', '--repo', repo, '--auto-sync', '--interval', '1s']);
    assert.match(added.stdout, /gitops demo added/);
    await serves(port, 'v1');
    await waitFor('Synced and Healthy at c1', async () => {
      const s = await status();
      return s.revision === c1 && s.sync === 'Synced' && s.health === 'Healthy' && s;
    });

    // A valid change.
    const c2 = commit(repo, { 'berth.yaml': spec(port, worker, 'v2') }, 'v2');
    await serves(port, 'v2');
    assert.equal((await status()).revision, c2);

    // A YAML error: refused with file:line:col; v2 keeps serving.
    const c3 = commit(repo, { 'berth.yaml': 'app: gitopstest\nservices:\n  web:\n    port: [oops\n' }, 'broken yaml');
    const yamlRefused = await waitFor('c3 refused', async () => {
      const s = await status();
      return s.failedRevision === c3 && s;
    });
    assert.equal(yamlRefused.revision, c2, 'the last good commit stays applied');
    assert.equal(yamlRefused.sync, 'OutOfSync');
    assert.match(yamlRefused.errors[0], /^berth\.yaml:\d+:\d+: /);
    assert.match(yamlRefused.lastError ?? '', /commit [0-9a-f]{7} was not applied: berth\.yaml:\d+:\d+/);
    assert.equal((await httpRequest(`http://127.0.0.1:${port}/`)).body, 'v2');
    // `sync` tries it again and says why, exit 2.
    const manual = await berth(dir, ['gitops', 'sync', 'demo']);
    assert.equal(manual.code, 2, manual.stdout + manual.stderr);
    assert.match(manual.stderr, /^berth\.yaml:\d+:\d+: /m);
    assert.match(manual.stderr, /keeps running/);

    // An enforced policy violated: refused with the policy's location and message.
    const c4 = commit(repo, { 'berth.yaml': spec(port, worker, 'v3', { owner: false }) }, 'drop the owner label');
    const policyRefused = await waitFor('c4 refused', async () => {
      const s = await status();
      return s.failedRevision === c4 && s;
    });
    assert.match(policyRefused.errors[0], /^berth\.yaml:\d+:\d+: require-owner\/owner-label: add labels\.owner naming the team/);
    assert.equal(policyRefused.revision, c2);
    assert.equal((await httpRequest(`http://127.0.0.1:${port}/`)).body, 'v2');

    // A valid fix.
    const c5 = commit(repo, { 'berth.yaml': spec(port, worker, 'v3') }, 'v3 with the owner label');
    await serves(port, 'v3');
    const fixed = await waitFor('Synced at c5', async () => {
      const s = await status();
      return s.revision === c5 && s.sync === 'Synced' && s;
    });
    assert.equal(fixed.lastError, null);
    assert.deepEqual(fixed.errors, []);
    const h1 = await history();
    assert.deepEqual(
      h1.map((e) => [e.sha, e.result]),
      [
        [c1, 'Synced'],
        [c2, 'Synced'],
        [c3, 'Failed'],
        [c3, 'Failed'],
        [c4, 'Failed'],
        [c5, 'Synced'],
      ],
    );
    assert.equal(h1[3].trigger, 'manual');

    // A service deleted in git, without prune: it keeps running, reported as drift (OutOfSync).
    const c6 = commit(repo, { 'berth.yaml': spec(port, worker, 'v3', { worker: false }) }, 'remove worker');
    const kept = await waitFor('c6 applied without prune', async () => {
      const s = await status();
      return s.revision === c6 && s;
    });
    assert.equal(kept.sync, 'OutOfSync');
    assert.deepEqual(kept.drift, [{ service: 'worker', field: 'service', git: 'absent', live: 'present' }]);
    assert.equal((await running('worker')).length, 1);

    // A manual scale without self-heal: reported (with the diff), not reverted.
    await berthOk(dir, ['scale', 'web=2']);
    const scaled = await status();
    assert.deepEqual(
      scaled.drift.filter((d) => d.service === 'web'),
      [{ service: 'web', field: 'replicas', git: 1, live: 2 }],
    );
    await waitFor('2 web instances', async () => (await running('web')).length === 2);
    await new Promise((r) => setTimeout(r, 2500)); // two intervals: nothing may revert it
    assert.equal((await status()).drift.filter((d) => d.service === 'web').length, 1);
    // A `berth restart` outside git: another revision, reported too.
    await berthOk(dir, ['restart', 'web']);
    const restartedDrift = (await status()).drift.filter((d) => d.service === 'web').map((d) => d.field);
    assert.deepEqual(restartedDrift.sort(), ['replicas', 'revision']);

    // Rollback to c2: applied, auto-sync suspended; a new commit waits until resume.
    const rb = await berthOk(dir, ['gitops', 'rollback', 'demo', c2.slice(0, 8)]);
    assert.match(rb.stdout, /rolled back to/);
    await serves(port, 'v2');
    const rolled = await status();
    assert.equal(rolled.revision, c2);
    assert.equal(rolled.suspended, true);
    assert.equal((await history()).at(-1)?.trigger, 'rollback');
    const c7 = commit(repo, { 'berth.yaml': spec(port, worker, 'v4', { worker: false }) }, 'v4');
    await waitFor('c7 fetched', async () => (await status()).head === c7);
    assert.equal((await status()).revision, c2, 'suspended: the new commit is not applied');
    await berthOk(dir, ['gitops', 'resume', 'demo']);
    await serves(port, 'v4');

    // The control plane killed and started again: status and history are kept, auto-sync goes on.
    const before = await history();
    const cpPid = Number(readFileSync(join(dir, '.berth', 'control.pid'), 'utf8'));
    process.kill(cpPid, 'SIGKILL');
    await waitFor('the control plane gone', () => {
      try {
        process.kill(cpPid, 0);
        return false;
      } catch {
        return true;
      }
    });
    await berthOk(dir, ['gitops', 'resume', 'demo']); // starts the control plane (nothing else changes)
    const restarted = await status();
    assert.equal(restarted.revision, c7);
    assert.deepEqual((await history()).slice(0, before.length), before);
    const c8 = commit(repo, { 'berth.yaml': spec(port, worker, 'v5', { worker: false }) }, 'v5');
    await serves(port, 'v5');
    assert.equal((await status()).revision, c8);

    // Re-added with prune and self-heal: the removed worker goes, a manual scale is reverted within an interval.
    await berthOk(dir, ['gitops', 'rm', 'demo']);
    await berthOk(dir, ['gitops', 'add', 'demo', '--repo', repo, '--auto-sync', '--self-heal', '--prune', '--interval', '1s']);
    await waitFor('worker pruned', async () => (await running('worker')).length === 0 && (await status()).sync === 'Synced', 30_000);
    await waitFor('web back at 1 instance', async () => (await running('web')).length === 1, 30_000);
    await berthOk(dir, ['scale', 'web=3']);
    await waitFor('the scale reverted', async () => (await history()).some((e) => e.result === 'Healed'), 10_000);
    // Timed by the control plane's own events: the scale, then the self-heal within one interval (1 s, + slack for a loaded machine).
    const evs = await events(dir);
    const scaledAt = Date.parse(evs.filter((e) => e.reason === 'Scaled' && /web to 3/.test(e.message)).at(-1)!.at);
    const healedAt = Date.parse(evs.find((e) => e.reason === 'GitOpsSelfHeal')!.at);
    assert.ok(healedAt - scaledAt <= 1000 + 2000, `healed ${healedAt - scaledAt} ms after the scale`);
    await waitFor('Synced and Healthy after self-heal', async () => {
      const s = await status();
      return s.sync === 'Synced' && s.health === 'Healthy' && (await running('web')).length === 1;
    }, 30_000);

    // The webhook: token-protected.
    const token = readFileSync(join(dir, '.berth', 'token'), 'utf8').trim();
    const cp = JSON.parse(readFileSync(join(dir, '.berth', 'control.json'), 'utf8')) as { port: number };
    const code = (method: string, path: string, bearer: string) =>
      new Promise<string>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: cp.port, method, path, headers: { authorization: `Bearer ${bearer}` } }, (res) => {
          res.resume();
          resolve(String(res.statusCode));
        });
        req.on('error', reject);
        req.end();
      });
    assert.equal(await code('POST', '/api/v1/gitops/demo/refresh', 'wrong'), '401');
    assert.equal(await code('POST', '/api/v1/gitops/demo/refresh', token), '202');
    // The source's own webhook token: its refresh and nothing else.
    const hook = (await status()).webhook;
    assert.equal(hook.path, '/api/v1/gitops/demo/refresh');
    assert.ok(hook.token && hook.token !== token);
    assert.equal(await code('POST', hook.path, hook.token), '202');
    assert.equal(await code('GET', '/api/v1/gitops/demo', hook.token), '401');
    assert.equal(await code('POST', '/api/v1/gitops/demo/sync', hook.token), '401');
    assert.equal(await code('POST', '/api/v1/gitops/other/refresh', hook.token), '401');

    // Promotion: the tested revision of main becomes a commit on prod, pushed to the repository.
    const tested = (await status()).revision!;
    const promoted = JSON.parse((await berthOk(dir, ['gitops', 'promote', 'demo', '--from', 'main', '--to', 'prod', '--json'])).stdout) as { commit: string; pushed: boolean; source: string; mode: string };
    assert.equal(promoted.mode, 'branch');
    assert.equal(promoted.source, tested);
    assert.equal(promoted.pushed, true);
    assert.equal(git(repo, 'rev-parse', 'prod'), promoted.commit);
    assert.equal(git(repo, 'rev-parse', 'prod^{tree}'), git(repo, 'rev-parse', `${tested}^{tree}`));
    assert.match(git(repo, 'log', '-1', '--format=%s', 'prod'), /^promote main → prod/);
    const again = JSON.parse((await berthOk(dir, ['gitops', 'promote', 'demo', '--from', 'main', '--to', 'prod', '--json'])).stdout) as { commit: string | null };
    assert.equal(again.commit, null, 'nothing new to promote');

    const ls = JSON.parse((await berthOk(dir, ['gitops', 'ls', '--json'])).stdout) as GitopsStatusView[];
    assert.deepEqual(ls.map((s) => s.name), ['demo']);
    assert.equal((await berth(dir, ['gitops', 'status', 'nope'])).code, 1);

    // Stopped, in a folder with no spec: the commands speak to this folder's control plane only, never
    // to another app that runs on the machine (they once fell back to "the one app running").
    const other = tempApp({ 'berth.yaml': `app: gitopsother\nservices:\n  o:\n    run: node srv.js\n    port: ${worker}\n`, 'srv.js': SERVER });
    try {
      await berthOk(other, ['up', '-d'], { timeoutMs: 90_000 });
      await berthOk(dir, ['down'], { timeoutMs: 90_000 });
      const stopped = await berth(dir, ['gitops', 'status', 'demo']);
      assert.equal(stopped.code, 1, stopped.stdout + stopped.stderr);
      assert.match(stopped.stderr, /no Berth control plane is running for/);
      assert.match(stopped.stderr, /berth gitops sync NAME/);
    } finally {
      await berth(other, ['down'], { timeoutMs: 90_000 });
    }
  });
});

describe('gitops: in a spec', () => {
  const port = portBlock(1);
  const repo = newRepo('berth-gitops-spec-repo-');
  const appSpec = (msg: string, extra = '') => `app: gitopsspec
services:
  web:
    run: node srv.js
    port: ${port}
    env: { MSG: ${msg} }
    probes:
      readiness: { tcp: {} }
${extra}`;
  const dir = tempApp({ 'srv.js': SERVER });
  after(async () => {
    await berth(dir, ['down'], { timeoutMs: 90_000 });
    rmSync(repo, { recursive: true, force: true });
  });

  test('berth up registers the sources a spec declares; git is the source of truth from then on', { timeout: 120_000 }, async () => {
    const sha = commit(repo, { 'berth.yaml': appSpec('from-git'), 'srv.js': SERVER }, 'the app in git');
    writeFileSync(join(dir, 'berth.yaml'), appSpec('local', `gitops:\n  - name: self\n    repo: ${repo}\n    interval: 1s\n    autoSync: true\n    selfHeal: true\n`));
    const up = await berthOk(dir, ['up', '-d'], { timeoutMs: 90_000 });
    assert.match(up.stdout, /gitops self: created/);
    await waitFor('the commit applied and serving', async () => (await httpRequest(`http://127.0.0.1:${port}/`)).body === 'from-git', 30_000);
    const s = JSON.parse((await berthOk(dir, ['gitops', 'status', 'self', '--json'])).stdout) as GitopsStatusView;
    assert.equal(s.revision, sha);
    assert.equal(s.interval, '1s');
    assert.equal(s.selfHeal, true);
    // The same spec applied again: the source is unchanged (and self-heal puts git's version back).
    const again = await berthOk(dir, ['apply']);
    assert.doesNotMatch(again.stdout, /gitops self/);
    await waitFor('git\'s version back after the local apply', async () => (await httpRequest(`http://127.0.0.1:${port}/`)).body === 'from-git', 30_000);
    // A changed entry updates the source.
    writeFileSync(join(dir, 'berth.yaml'), appSpec('local', `gitops:\n  - name: self\n    repo: ${repo}\n    interval: 2s\n    autoSync: true\n    selfHeal: true\n`));
    assert.match((await berthOk(dir, ['apply'])).stdout, /gitops self: updated/);
    assert.equal((JSON.parse((await berthOk(dir, ['gitops', 'status', 'self', '--json'])).stdout) as GitopsStatusView).interval, '2s');
  });
});
