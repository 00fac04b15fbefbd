// A GitOps change to a service with a `release:` goes through the release process (issue 17 point 3,
// with issue 14's controller): the new commit's revision starts as a canary beside stable and waits
// at its pause step; the source stays Synced (git's desired state is what runs) with health
// Progressing; `berth release promote` finishes it and the new version serves every request.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { GitopsStatusView, ReleaseStatus } from '../../src/control/index.js';
import { commit, newRepo } from './harness/git.js';
import { berth, berthOk, httpRequest, portBlock, tempApp, waitFor } from './harness/berth.js';
import { webSpec } from './harness/release-app.js';

const SERVER = "require('node:http').createServer((q, s) => s.end(process.env.MSG)).listen(Number(process.env.PORT), process.env.HOST);\n";

const spec = (port: number, ingress: number, msg: string): string =>
  webSpec({
    app: 'gitopsrelease',
    ingressPort: ingress,
    webPort: port,
    replicas: 2,
    run: 'node srv.js',
    env: { MSG: msg },
    stopGracePeriodSeconds: 1,
    release: `      strategy: canary
      canary:
        steps:
          - setWeight: 50
          - pause: {}`,
  });

describe('gitops through the release process', () => {
  const port = portBlock(2);
  const ingress = port + 1;
  const repo = newRepo('berth-gitops-release-');
  const dir = tempApp({});
  after(async () => {
    await berth(dir, ['down'], { timeoutMs: 90_000 });
    rmSync(repo, { recursive: true, force: true });
  });

  const status = async (): Promise<GitopsStatusView> => JSON.parse((await berthOk(dir, ['gitops', 'status', 'rel', '--json'])).stdout) as GitopsStatusView;
  const release = async (): Promise<ReleaseStatus> => JSON.parse((await berthOk(dir, ['release', 'status', 'web', '--json'])).stdout) as ReleaseStatus;
  const served = async (n: number): Promise<Set<string>> => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add((await httpRequest(`http://127.0.0.1:${ingress}/`)).body);
    return seen;
  };

  test('a commit changing a released service starts a canary; promote finishes it', { timeout: 180_000 }, async () => {
    const c1 = commit(repo, { 'berth.yaml': spec(port, ingress, 'v1'), 'srv.js': SERVER }, 'v1');
    await berthOk(dir, ['gitops', 'add', 'rel', '--repo', repo, '--auto-sync', '--interval', '1s']);
    await waitFor('c1 Synced and Healthy', async () => {
      const s = await status();
      return s.revision === c1 && s.sync === 'Synced' && s.health === 'Healthy' && s;
    }, 60_000);
    assert.deepEqual([...(await served(10))], ['v1']);

    const c2 = commit(repo, { 'berth.yaml': spec(port, ingress, 'v2') }, 'v2');
    const paused = await waitFor('the release of c2 paused at 50 %', async () => {
      const r = await release();
      return r.phase === 'Paused' && r.weights.canary === 50 && r;
    }, 60_000, 200);
    const s = await status();
    assert.equal(s.revision, c2, 'the commit is applied');
    assert.equal(s.sync, 'Synced', 'a release in progress is what git asks for, not drift');
    assert.equal(s.health, 'Progressing');
    assert.deepEqual([...(await served(40))].sort(), ['v1', 'v2'], 'both revisions serve while the canary is at 50 %');
    assert.ok(paused.canaryRevision);

    await berthOk(dir, ['release', 'promote', 'web']);
    await waitFor('promoted: v2 serves every request', async () => (await release()).phase === 'Healthy' && [...(await served(10))].join() === 'v2', 60_000, 200);
    await waitFor('Synced and Healthy at c2', async () => {
      const st = await status();
      return st.revision === c2 && st.sync === 'Synced' && st.health === 'Healthy' && st;
    }, 30_000);
  });
});
