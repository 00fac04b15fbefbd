// The dashboard's Releases and GitOps views (issue 18) in a real browser: playwright-core drives
// Debian's chromium against a real control plane whose app comes from a GitOps source (a real git
// repository, the git binary). Before any source: both views say so. A commit with a canary release
// (setWeight 50 → analysis with a real web provider → pause {}) waits at its pause: the Releases view
// shows the step, the weights, the analysis measurements; its Promote button (confirm dialog)
// promotes it, as `berth release status` confirms. The GitOps view shows the source Synced with its
// history and the policy report. No console errors. Screenshots go to a temp dir (printed).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { GitopsStatusView, ReleaseStatus } from '../../src/control/index.js';
import { commit, newRepo } from './harness/git.js';
import { berth, berthOk, portBlock, tempApp, waitFor } from './harness/berth.js';
import { webSpec } from './harness/release-app.js';
import { chromiumPath } from './replay-helpers/servers.js';
import { openDashboard } from './harness/dashboard-browser.js';

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

const spec = (port: number, ingress: number, checks: number, msg: string): string =>
  webSpec({
    app: 'dashrel',
    ingressPort: ingress,
    webPort: port,
    replicas: 2,
    run: 'node srv.js',
    labels: { owner: 'team-a' },
    env: { MSG: msg },
    stopGracePeriodSeconds: 1,
    release: `      strategy: canary
      canary:
        steps:
          - setWeight: 50
          - analysis: { templates: [quality] }
          - pause: {}`,
    analysisTemplates: `  quality:
    metrics:
      - name: error-rate
        interval: 500ms
        count: 2
        successCondition: result.errorRate <= 0.01
        provider: { web: { url: "http://127.0.0.1:${checks}/quality" } }
`,
  });

const shots = mkdtempSync(join(tmpdir(), 'berth-dashboard-releases-shots-'));

describe('dashboard: Releases and GitOps views', { skip: chromiumPath() === undefined ? 'no /usr/bin/chromium (required under CI)' : false, timeout: 300_000 }, () => {
  const port = portBlock(2);
  const ingress = port + 1;
  const repo = newRepo('berth-dashrel-repo-');
  const dir = tempApp({});
  /** The analysis' web provider: a real HTTP endpoint answering a measured error rate. */
  const checks = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"errorRate":0.002}'));
  let browser: Browser;
  let page: Page;
  let consoleErrors: string[] = [];

  const release = async (): Promise<ReleaseStatus> => JSON.parse((await berthOk(dir, ['release', 'status', 'web', '--json'])).stdout) as ReleaseStatus;
  const gitops = async (): Promise<GitopsStatusView> => JSON.parse((await berthOk(dir, ['gitops', 'status', 'rel', '--json'])).stdout) as GitopsStatusView;
  /** `berth gitops sync rel` without the CLI's 60 s client timeout (a loaded machine applies slowly). */
  const syncByApi = async (): Promise<void> => {
    const info = JSON.parse(readFileSync(join(dir, '.berth', 'control.json'), 'utf8')) as { port: number };
    const res = await fetch(`http://127.0.0.1:${info.port}/api/v1/gitops/rel/sync`, { method: 'POST', headers: { authorization: `Bearer ${readFileSync(join(dir, '.berth', 'token'), 'utf8').trim()}` } });
    assert.equal(res.status, 200, await res.text());
  };
  const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  async function view(id: string, ready: string): Promise<void> {
    await page.click(`a[data-view=${id}]`);
    await page.waitForSelector(`[data-testid=view-${id}]`);
    await page.waitForSelector(ready, { timeout: 30_000 });
  }

  before(async () => {
    await new Promise<void>((r) => checks.listen(0, '127.0.0.1', r));
    // A control plane with no app yet (the source brings it), so the views' empty states show first.
    commit(repo, { 'README.md': 'nothing to run yet\n' }, 'empty');
    await berthOk(dir, ['gitops', 'add', 'rel', '--repo', repo, '--interval', '1s']);
    const d = JSON.parse((await berthOk(dir, ['dashboard', '--no-open', '--json'])).stdout) as { url: string };
    ({ browser, page, consoleErrors } = await openDashboard(d.url));
  });

  after(async () => {
    await browser?.close();
    await berth(dir, ['down'], { timeoutMs: 90_000 });
    checks.close();
    rmSync(repo, { recursive: true, force: true });
    console.log(`dashboard releases screenshots: ${shots}`);
  });

  let c1 = '';
  test('without releases or sources both views say so; a source added appears without a reload', async () => {
    await view('releases', '[data-testid=view-releases] [data-testid=empty]');
    assert.match((await page.textContent('[data-testid=empty]')) ?? '', /No releases/);
    await berthOk(dir, ['gitops', 'rm', 'rel']);
    await view('gitops', '[data-testid=view-gitops] [data-testid=empty]');
    assert.match((await page.textContent('[data-testid=empty]')) ?? '', /No GitOps sources/);
    c1 = commit(repo, { 'berth.yaml': spec(port, ingress, (checks.address() as { port: number }).port, 'v1'), 'srv.js': SERVER, 'owner.policy.yaml': POLICY }, 'v1');
    await berthOk(dir, ['gitops', 'add', 'rel', '--repo', repo, '--interval', '1s']);
    await page.waitForSelector('[data-testid=gitops-rel] [data-testid=sync]:text("OutOfSync")', { timeout: 30_000 });
    assert.equal(await page.textContent('[data-testid=gitops-rel] [data-testid=revision]'), '–', 'nothing applied: auto-sync is off');
  });

  test('the Sync button applies the branch; the source shows Synced with its history and policy report', async () => {
    await page.click('[data-testid=sync-rel]');
    await page.click('.modal [data-testid=confirm]');
    await page.waitForSelector('.modal', { state: 'detached', timeout: 120_000 });
    await page.waitForFunction(
      (sha) => {
        const doc = (globalThis as unknown as { document: { querySelector(s: string): { textContent: string | null } | null } }).document;
        return doc.querySelector('[data-testid=gitops-rel] [data-testid=revision]')?.textContent === sha && doc.querySelector('[data-testid=gitops-rel] [data-testid=sync]')?.textContent === 'Synced';
      },
      c1.slice(0, 7),
      { timeout: 30_000 },
    );
    const s = await gitops();
    assert.equal(s.revision, c1);
    assert.equal(s.sync, 'Synced');
    assert.match((await page.textContent('[data-testid=gitops-rel] [data-testid=policy-pass]')) ?? '', /^1 pass/);
    assert.match((await page.textContent('[data-testid=gitops-rel] [data-testid=gitops-history]')) ?? '', /Synced\s*manual/);
    // The view's report is `berth policy report --json` of the commit running, files relative to the repository.
    const info = JSON.parse(readFileSync(join(dir, '.berth', 'control.json'), 'utf8')) as { port: number };
    const api = (await (await fetch(`http://127.0.0.1:${info.port}/api/v1/gitops/rel/policy`, { headers: { authorization: `Bearer ${readFileSync(join(dir, '.berth', 'token'), 'utf8').trim()}` } })).json()) as { revision: string; report: { policies: { file: string }[] } };
    const cli = JSON.parse((await berthOk(join(dir, '.berth-gitops', 'rel'), ['policy', 'report', '--json'])).stdout) as { policies: { file: string }[] };
    assert.equal(api.revision, c1);
    assert.deepEqual(api.report, { ...cli, policies: cli.policies.map((p) => ({ ...p, file: 'owner.policy.yaml' })) });
    await waitFor('c1 Healthy', async () => (await gitops()).health === 'Healthy', 60_000, 250);
    await page.waitForSelector('[data-testid=gitops-rel] [data-testid=health]:text("Healthy")', { timeout: 10_000 });
  });

  test('a canary paused at a step shows its step, weights and measurements; Promote promotes it', async () => {
    const c2 = commit(repo, { 'berth.yaml': spec(port, ingress, (checks.address() as { port: number }).port, 'v2') }, 'v2');
    await syncByApi(); // as the view's Sync button does (tested above)
    const paused = await waitFor('the release paused at pause {}', async () => {
      const r = await release();
      return r.phase === 'Paused' && r.step === 2 && r;
    }, 60_000, 250);
    assert.deepEqual(paused.weights, { stable: 50, canary: 50 });
    await view('releases', '[data-testid=release-web][data-phase=Paused]');
    const card = '[data-testid=release-web]';
    assert.equal(await page.textContent(`${card} [data-testid=step]`), 'step 3/3');
    assert.equal(await page.textContent(`${card} [data-testid=weight-stable]`), '50%');
    assert.equal(await page.textContent(`${card} [data-testid=weight-canary]`), '50%');
    assert.match((await page.textContent(`${card} [data-testid=steps] li.current`)) ?? '', /pause \(until promoted\)/);
    const measurements = await page.$$eval(`${card} [data-metric="quality.error-rate"] [data-testid=measurement]`, (els) => els.map((e) => e.textContent));
    assert.deepEqual(measurements, ['pass', 'pass']);
    assert.match((await page.textContent(`${card} [data-metric="quality.error-rate"]`)) ?? '', /errorRate=0\.002/);
    await shot('releases');
    await page.click('[data-testid=promote-web]');
    await page.waitForSelector('.modal');
    await shot('confirm-promote');
    await page.click('.modal [data-testid=confirm]');
    await page.waitForSelector('.modal', { state: 'detached' });
    await page.waitForSelector(`${card}[data-phase=Healthy]`, { timeout: 30_000 });
    const done = await release();
    assert.equal(done.phase, 'Healthy');
    assert.equal(done.canaryRevision, paused.canaryRevision);
    assert.equal((await gitops()).revision, c2);
    await view('gitops', '[data-testid=gitops-rel]');
    await page.waitForSelector('[data-testid=gitops-rel] [data-testid=sync]:text("Synced")', { timeout: 30_000 });
    await shot('gitops');
    assert.deepEqual(consoleErrors, []);
  });
});
