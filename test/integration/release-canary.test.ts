// Canary releases under `berth up` with real apps and real traffic through the ingress (issue 14
// points 3, 4 and 6): a good revision walks setWeight 20 → pause → 50 → analysis → pause {} with the
// measured split within ±5 points, waits for `berth release promote`, and is promoted; a revision
// answering 500 to 10 % of requests is aborted by background analysis and stable serves everything
// from 1 s after the decision; abort / retry / promote --full / undo by the CLI (undo within the
// rollback window skips the steps); a header route sends testers to the canary at weight 0; a
// control plane SIGKILLed mid-release resumes where it was, the pause keeping its deadline.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import { berth, berthOk, portBlock, ps, tempApp, waitFor } from './harness/berth.js';
import { getVersion, releaseStatus, VERSIONED_WEB_JS, webSpec, type VersionReply } from './harness/release-app.js';
import type { ReleaseStatus } from '../../src/control/release/status.js';

const base = portBlock(2);
const ports = { ingress: base, web: base + 1 };

interface Opts {
  version: string;
  failPct?: number;
  steps: string;
  background?: boolean;
  window?: number;
}
const spec = (o: Opts): string =>
  webSpec({
    app: 'relcanary',
    ingressPort: ports.ingress,
    webPort: ports.web,
    replicas: 2,
    env: { VERSION: o.version, FAIL_PCT: o.failPct ?? 0 },
    release: `      strategy: canary
      rollbackWindow: { revisions: ${o.window ?? 0} }
      canary:
        steps:
${o.steps}
${o.background ? '        analysis: { templates: [errors], startingStep: 1 }\n' : ''}`,
    analysisTemplates: `  errors:
    metrics:
      - name: error-rate
        interval: 1s
        failureCondition: result.canary.errorRate > 0.05
        provider: { berth: {} }
  good:
    metrics:
      - name: error-rate
        interval: 1s
        count: 2
        successCondition: result.canary.errorRate <= 0.01
        provider: { berth: {} }
`,
  });

const dir = tempApp({ 'web.mjs': VERSIONED_WEB_JS, 'berth.yaml': spec({ version: 'v1', steps: '          - setWeight: 20' }) });
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

const get = (path: string, headers: Record<string, string> = {}): Promise<VersionReply> => getVersion({ port: ports.ingress, path, headers, agent, timeoutMs: 3000 });

interface Reply {
  at: number;
  status: number;
  version: string;
}

/** Steady clients through the ingress, each reply recorded with its time (epoch ms). */
function steadyLoad(workers = 2) {
  const replies: Reply[] = [];
  let stopped = false;
  const loops = Array.from({ length: workers }, async () => {
    while (!stopped) {
      try {
        const r = await get('/');
        replies.push({ at: Date.now(), status: r.status, version: r.version });
      } catch (err) {
        replies.push({ at: Date.now(), status: 0, version: (err as Error).message });
      }
    }
  });
  return {
    replies,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

const status = (): Promise<ReleaseStatus> => releaseStatus(dir);

async function apply(o: Opts): Promise<void> {
  writeFileSync(join(dir, 'berth.yaml'), spec(o));
  await berthOk(dir, ['apply']);
}

/** Share of replies from `version` between two times. */
function share(replies: Reply[], from: number, to: number, version: string): { pct: number; n: number } {
  const inside = replies.filter((r) => r.at >= from && r.at <= to && r.status === 200);
  return { pct: (inside.filter((r) => r.version === version).length / Math.max(1, inside.length)) * 100, n: inside.length };
}

async function history(): Promise<{ number: number; revision: string; status: string; why: string }[]> {
  return (JSON.parse((await berthOk(dir, ['history', 'web', '--json'])).stdout) as { revisions: { number: number; revision: string; status: string; why: string }[] }).revisions;
}

describe('canary releases', () => {
  before(async () => {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
  });
  after(async () => {
    agent.destroy();
    await berth(dir, ['down']);
  });

  test('a good revision: 20 % → pause 3 s → 50 % → analysis → pause {} → promote; the split measured at each weight', async () => {
    const load = steadyLoad();
    try {
      await waitFor('v1 serving', () => load.replies.some((r) => r.version === 'v1'));
      await apply({
        version: 'v2',
        steps: ['          - setWeight: 20', '          - pause: { duration: 3s }', '          - setWeight: 50', '          - analysis: { templates: [good] }', '          - pause: {}'].join('\n'),
      });
      // Each weight is observed from the API; the split is measured while it holds (from 300 ms after it was seen).
      const seen20 = await waitFor('weight 20', async () => ((await status()).weights.canary === 20 ? Date.now() : undefined), 30_000, 50);
      const h = await history();
      assert.equal(h.at(-1)!.status, 'progressing', 'a canary revision is progressing until promoted, not current');
      assert.equal(h.at(-2)!.status, 'current');
      const left20 = await waitFor('weight 50', async () => ((await status()).weights.canary === 50 ? Date.now() : undefined), 30_000, 50);
      const s20 = share(load.replies, seen20 + 300, left20 - 300, 'v2');
      // Thousands here; a few hundred on a loaded machine (267 with two CPU hogs and two other
      // test files). The split is dealt from 5-request decks, so 50 already measure it to ±2 points.
      assert.ok(s20.n >= 50, `enough requests at 20 % (${s20.n})`);
      assert.ok(Math.abs(s20.pct - 20) <= 5, `canary share at weight 20: ${s20.pct.toFixed(1)} % of ${s20.n}`);
      const paused = await waitFor('paused at pause {}', async () => {
        const s = await status();
        return s.phase === 'Paused' ? s : undefined;
      }, 30_000, 100);
      assert.equal(paused.step, 4);
      assert.match(paused.message ?? '', /berth release promote/);
      assert.equal(paused.analysisRuns.at(-1)?.phase, 'Successful');
      // pause {} holds: still paused after a while.
      await new Promise((r) => setTimeout(r, 1500));
      const still = await status();
      assert.equal(still.phase, 'Paused');
      const s50 = share(load.replies, left20 + 300, Date.now(), 'v2');
      assert.ok(Math.abs(s50.pct - 50) <= 5, `canary share at weight 50: ${s50.pct.toFixed(1)} % of ${s50.n}`);

      // berth ps names each side.
      const rows = await ps(dir);
      assert.equal(rows.filter((r) => r.release === 'canary' && r.revision === h.at(-1)!.revision).length, 1, JSON.stringify(rows));
      assert.equal(rows.filter((r) => r.release === 'stable').length, 2);
      assert.match((await berthOk(dir, ['ps'])).stdout, /web \(canary\)/);
      const text = await berthOk(dir, ['release', 'status', 'web']);
      assert.match(text.stdout, /strategy canary\s+Paused/);
      assert.match(text.stdout, /step\s+5\/5/);
      assert.match(text.stdout, /weights\s+stable 50%\s+canary 50%/);

      await berthOk(dir, ['release', 'promote', 'web']);
      await waitFor('promoted', async () => (await status()).phase === 'Healthy', 30_000);
      await waitFor('only v2 runs', async () => (await ps(dir)).every((r) => r.status === 'ready' && r.revision === h.at(-1)!.revision), 30_000);
      await new Promise((r) => setTimeout(r, 500));
      const end = Date.now();
      assert.equal(share(load.replies, end - 300, end, 'v2').pct, 100);
      const after = await history();
      assert.deepEqual(after.slice(-2).map((e) => e.status), ['replaced', 'current']);
      assert.equal(after.at(-1)!.why, 'promoted', 'history says why the revision is current');
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.replies.filter((r) => r.status !== 200).slice(0, 5), [], 'no failed request during the release');
  });

  test('a revision answering 500 to 10 % of requests is aborted by background analysis; stable serves all from 1 s after', async () => {
    const load = steadyLoad();
    try {
      await apply({ version: 'v3', failPct: 10, steps: ['          - setWeight: 50', '          - pause: { duration: 60s }'].join('\n'), background: true });
      let last: ReleaseStatus | undefined;
      const aborted = await waitFor('aborted by analysis', async () => {
        last = await status();
        return last.phase === 'Degraded' ? last : undefined;
        // 6 s alone; 33 s in a CI run beside 50 instances starting (the canary's start and first readings wait for CPU).
      }, 90_000, 100).catch((err: Error) => assert.fail(`${err.message}\n${JSON.stringify(last)}`));
      assert.match(aborted.message ?? '', /background analysis .* Failed/);
      const at = Date.parse(aborted.abortedAt!);
      await new Promise((r) => setTimeout(r, 2500));
      const late = load.replies.filter((r) => r.at > at + 1000);
      assert.ok(late.length > 50, `requests after the abort (${late.length})`);
      assert.deepEqual(late.filter((r) => r.status !== 200 || r.version !== 'v2').slice(0, 5), [], 'stable (v2) serves every request from abort + 1 s');
      const errors = load.replies.filter((r) => r.status === 500).length;
      const canary = load.replies.filter((r) => r.version === 'v3').length;
      assert.ok(errors <= Math.ceil(canary * 0.1) + 1, `5xx only the canary's own share: ${errors} of ${canary} canary replies`);
      const h = await history();
      assert.equal(h.at(-1)!.status, 'aborted');
      assert.equal(h.at(-1)!.why, 'aborted');
      const ev = JSON.parse((await berthOk(dir, ['events', '--json'])).stdout) as { reason: string; message: string }[];
      assert.ok(ev.some((e) => e.reason === 'ReleaseAborted'));
      assert.ok(ev.some((e) => e.reason === 'AnalysisMeasurement' && /Failed/.test(e.message)));
      await waitFor('canary scaled down', async () => (await ps(dir)).every((r) => r.revision !== h.at(-1)!.revision || r.status !== 'ready'), 20_000);
      const json = JSON.parse((await berthOk(dir, ['release', 'status', 'web', '--json'])).stdout) as ReleaseStatus;
      assert.equal(json.phase, 'Degraded');
      assert.deepEqual(json.weights, { stable: 100, canary: 0 });
      assert.ok(json.analysisRuns[0].metrics[0].measurements.some((m) => m.phase === 'Failed'));
    } finally {
      await load.stop();
    }
  });

  test('abort, retry, promote --full and undo by the CLI; a header route reaches the canary at weight 0', async () => {
    await apply({
      version: 'v4',
      window: 3,
      steps: ['          - setHeaderRoute: { name: testers, match: [{ headerName: x-tester, headerValue: { exact: "yes" } }] }', '          - pause: {}', '          - setWeight: 30', '          - pause: {}'].join('\n'),
    });
    await waitFor('paused at weight 0 with the header route', async () => {
      const s = await status();
      return s.phase === 'Paused' && s.headerRoutes.includes('testers');
    }, 30_000);
    // The status says Paused once the controller stored the step; the proxies follow the next
    // snapshot a moment later (CI saw v2 just after): the route must be in force within seconds.
    await waitFor('the header route reaches the canary', async () => (await get('/', { 'x-tester': 'yes' })).version === 'v4', 3000, 20);
    for (let i = 0; i < 20; i++) {
      assert.equal((await get('/', { 'x-tester': 'yes' })).version, 'v4');
      assert.equal((await get('/')).version, 'v2');
    }
    const aborted = await berth(dir, ['release', 'abort', 'web', '--json']);
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.equal((JSON.parse(aborted.stdout) as ReleaseStatus).phase, 'Degraded');
    // Issue 14: every request goes back to stable within 1 s of the decision (the proxies follow the
    // next snapshot; the CLI answers once the decision is stored, which may be a moment before).
    await waitFor('no header route within 1 s of the abort', async () => (await get('/', { 'x-tester': 'yes' })).version === 'v2', 1000, 20);
    assert.equal((await get('/', { 'x-tester': 'yes' })).version, 'v2', 'no header route after the abort');
    await berthOk(dir, ['release', 'retry', 'web']);
    await waitFor('paused again', async () => (await status()).phase === 'Paused', 30_000);
    await berthOk(dir, ['release', 'promote', 'web', '--full']);
    await waitFor('promoted', async () => (await status()).phase === 'Healthy', 30_000);
    await waitFor('v4 serves', async () => (await get('/')).version === 'v4', 20_000);
    // undo: v2 is within the rollback window (3): no steps, straight back.
    const undo = JSON.parse((await berthOk(dir, ['release', 'undo', 'web', '--json'])).stdout) as { revision: string; skippedSteps: boolean };
    assert.equal(undo.skippedSteps, true);
    await waitFor('v2 serves again', async () => (await ps(dir)).every((r) => r.revision === undo.revision && r.status === 'ready'), 30_000);
    assert.equal((await status()).phase, null);
    const h = await history();
    assert.equal(h.at(-1)!.why, 'undone');
    assert.equal(h.at(-1)!.status, 'current');
    // Errors and usage.
    assert.equal((await berth(dir, ['release', 'promote', 'web'])).code, 1, 'nothing to promote');
    assert.equal((await berth(dir, ['release', 'status', 'nope'])).code, 1);
    assert.equal((await berth(dir, ['release', 'undo', 'web', '--to-revision', 'x'])).code, 2);
    assert.equal((await berth(dir, ['release', 'status'])).code, 2);
    assert.match((await berthOk(dir, ['release', 'status', '--help'])).stdout, /--watch/);
  });

  test('a control plane SIGKILLed mid-release resumes where it was; the pause keeps its deadline', async () => {
    const started = Date.now();
    await apply({ version: 'v5', steps: ['          - setWeight: 20', '          - pause: { duration: 8s }', '          - setWeight: 60', '          - pause: {}'].join('\n') });
    await waitFor('weight 20', async () => (await status()).weights.canary === 20, 30_000, 50);
    const before = await status();
    const info = JSON.parse(readFileSync(join(dir, '.berth', 'control.json'), 'utf8')) as { pid: number };
    process.kill(info.pid, 'SIGKILL');
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
    const resumed = await status();
    assert.equal(resumed.canaryRevision, before.canaryRevision);
    assert.ok(resumed.step! >= 1 && resumed.weights.canary >= 20, JSON.stringify(resumed));
    const at60 = await waitFor('weight 60 after the pause', async () => ((await status()).weights.canary === 60 ? Date.now() : undefined), 30_000, 100);
    assert.ok(at60 - started >= 8000, `the pause kept its deadline (${at60 - started} ms after the apply)`);
    await waitFor('paused at pause {}', async () => (await status()).phase === 'Paused', 20_000);
    await berthOk(dir, ['release', 'promote', 'web']);
    await waitFor('promoted', async () => (await status()).phase === 'Healthy', 30_000);
    // The `up` after the kill applied the same spec again: still one entry for the canary, one current.
    const h = await history();
    assert.equal(h.filter((e) => e.status === 'current').length, 1, JSON.stringify(h));
    assert.equal(h.filter((e) => e.revision === resumed.canaryRevision).length, 1, JSON.stringify(h));
  });

  test('a new apply during a release replaces the canary (and says so); the replaced canary serves nothing after', async () => {
    const steps = ['          - setWeight: 50', '          - pause: {}'].join('\n');
    await apply({ version: 'v6', steps });
    await waitFor('v6 at 50 %', async () => {
      const s = await status();
      return s.phase === 'Paused' && s.weights.canary === 50;
    }, 30_000);
    const load = steadyLoad();
    try {
      await waitFor('v6 answering', () => load.replies.some((r) => r.version === 'v6'));
      await apply({ version: 'v7', steps });
      const applied = Date.now(); // the apply has returned: the control plane took it
      const s = await waitFor('v7 at 50 %', async () => {
        const x = await status();
        return x.phase === 'Paused' && x.weights.canary === 50 && x.instances.canary.ready > 0 ? x : undefined;
      }, 30_000);
      assert.equal(s.stableRevision, (await history()).find((e) => e.status === 'current')!.revision, 'stable is still v5');
      await new Promise((r) => setTimeout(r, 1500));
      const late = load.replies.filter((r) => r.at > applied + 1000);
      assert.deepEqual(late.filter((r) => r.version === 'v6').slice(0, 3), [], 'the replaced canary serves nothing from apply + 1 s');
      assert.ok(late.some((r) => r.version === 'v7'));
      const ev = JSON.parse((await berthOk(dir, ['events', '--json'])).stdout) as { reason: string; message: string }[];
      assert.ok(ev.some((e) => e.reason === 'ReleaseStarted' && /replaces the canary/.test(e.message)));
      const h = await history();
      assert.deepEqual(h.slice(-2).map((e) => e.status), ['replaced', 'progressing']);
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.replies.filter((r) => r.status !== 200).slice(0, 3), [], 'no failed request');
    // undo during a release: straight back to stable (v5), the canary stopped, no steps.
    const stable = (await history()).find((e) => e.status === 'current')!;
    const undo = JSON.parse((await berthOk(dir, ['release', 'undo', 'web', '--json'])).stdout) as { number: number; revision: string; skippedSteps: boolean };
    assert.deepEqual([undo.number, undo.revision, undo.skippedSteps], [stable.number, stable.revision, true], JSON.stringify(await history()));
    await waitFor('only v5', async () => (await ps(dir)).filter((r) => r.status !== 'stopped').every((r) => r.revision === stable.revision), 20_000);
    assert.equal((await status()).phase, null);
    assert.equal((await get('/')).version, 'v5');
  });
});
