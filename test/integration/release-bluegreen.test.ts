// Blue-green releases, the canary throttle and the p99 comparison under `berth up` with real apps
// (issue 14 point 6): the preview is reachable on previewPort before promotion and the switch loses no
// request; with `canary.throttle.rps: 20` and 200 req/s offered at weight 50 the canary serves at most
// 20 req/s (+10 %) and no client sees a 429 or 503 (the overflow is served by stable); a revision adding
// 200 ms is caught by `result.canary.p99Ms < result.stable.p99Ms * 1.2` and aborted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, portBlock, ps, tempApp, waitFor } from './harness/berth.js';
import { getVersion, releaseStatus, VERSIONED_WEB_JS, webSpec } from './harness/release-app.js';
import type { ReleaseStatus } from '../../src/control/release/status.js';
import { keepAliveAgent } from '../helpers/keep-alive-agent.js';

const base = portBlock(3);
const ports = { ingress: base, web: base + 1, preview: base + 2 };

const release = {
  blueGreen: `      strategy: blueGreen
      blueGreen: { previewPort: ${ports.preview}, autoPromotionEnabled: false, scaleDownDelaySeconds: 2 }`,
  throttle: `      strategy: canary
      canary:
        steps: [{ setWeight: 50 }, { pause: {} }]
        throttle: { rps: 20 }`,
  latency: `      strategy: canary
      canary:
        steps: [{ setWeight: 50 }, { analysis: { templates: [latency] } }, { pause: {} }]`,
};

const spec = (version: string, strategy: keyof typeof release, delayMs = 0): string =>
  webSpec({
    app: 'relbluegreen',
    ingressPort: ports.ingress,
    webPort: ports.web,
    replicas: 2,
    env: { VERSION: version, DELAY_MS: delayMs },
    release: release[strategy],
    analysisTemplates: `  latency:
    metrics:
      - name: p99-vs-stable
        interval: 1s
        count: 2
        successCondition: result.canary.p99Ms < result.stable.p99Ms * 1.2
        provider: { berth: {} }
`,
  });

const dir = tempApp({ 'web.mjs': VERSIONED_WEB_JS, 'berth.yaml': spec('v1', 'blueGreen') });
const agent = keepAliveAgent(64);

/** Which version answered on `port`; a body that is not the app's JSON is kept (its start) as the version, to show in failures. */
const get = (port: number): Promise<{ status: number; version: string }> =>
  getVersion({ port, agent }).then((r) => ({ status: r.status, version: r.version === '?' ? r.body.slice(0, 80) : r.version }));

const status = (): Promise<ReleaseStatus> => releaseStatus(dir);

async function apply(version: string, strategy: keyof typeof release, delayMs = 0): Promise<void> {
  writeFileSync(join(dir, 'berth.yaml'), spec(version, strategy, delayMs));
  await berthOk(dir, ['apply']);
}

interface Reply {
  at: number;
  status: number;
  version: string;
}

function closedLoop(workers = 2) {
  const replies: Reply[] = [];
  let stopped = false;
  const loops = Array.from({ length: workers }, async () => {
    while (!stopped) {
      const r = await get(ports.ingress).catch((err: Error) => ({ status: 0, version: err.message }));
      replies.push({ at: Date.now(), ...r });
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

/** Open-loop load: `rps` requests a second for `ms`, whatever the answers take. */
async function openLoop(rps: number, ms: number): Promise<Reply[]> {
  const replies: Reply[] = [];
  const pending: Promise<void>[] = [];
  const started = performance.now();
  let sent = 0;
  while (performance.now() - started < ms) {
    const due = Math.floor(((performance.now() - started) / 1000) * rps);
    for (; sent < due; sent++) pending.push(get(ports.ingress).then((r) => void replies.push({ at: Date.now(), ...r }), (err: Error) => void replies.push({ at: Date.now(), status: 0, version: err.message })));
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(pending);
  return replies;
}

describe('blue-green, throttle and latency analysis', () => {
  before(async () => {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
  });
  after(async () => {
    agent.destroy();
    await berth(dir, ['down']);
  });

  test('blue-green: the preview answers on previewPort before promotion; the switch loses no request; the old side stops after scaleDownDelaySeconds', async () => {
    const load = closedLoop();
    try {
      await waitFor('v1 serving', () => load.replies.some((r) => r.version === 'v1'));
      await apply('v2', 'blueGreen');
      await waitFor('paused for promotion', async () => (await status()).phase === 'Paused', 30_000);
      for (let i = 0; i < 10; i++) {
        assert.equal((await get(ports.preview)).version, 'v2', 'the preview serves the new revision');
        assert.equal((await get(ports.ingress)).version, 'v1', 'users still get the active one');
      }
      const h = JSON.parse((await berthOk(dir, ['history', 'web', '--json'])).stdout) as { revisions: { status: string; revision: string }[] };
      assert.equal(h.revisions.at(-1)!.status, 'progressing');
      await berthOk(dir, ['release', 'promote', 'web']);
      const switched = await waitFor('switched', async () => ((await status()).weights.canary === 100 ? Date.now() : undefined), 20_000, 50);
      await waitFor('old revision gone', async () => (await ps(dir)).filter((r) => r.status !== 'stopped').every((r) => r.revision === h.revisions.at(-1)!.revision), 30_000);
      await new Promise((r) => setTimeout(r, 300));
      const late = load.replies.filter((r) => r.at > switched + 300);
      assert.ok(late.length > 20);
      assert.deepEqual([...new Set(late.map((r) => r.version))], ['v2']);
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.replies.filter((r) => r.status !== 200).slice(0, 5), [], 'no failed request across the switch');
    await assert.rejects(get(ports.preview), 'the preview port closes after the switch');
  });

  test('throttle: at weight 50 with 200 req/s offered, the canary serves ≤ 20 req/s (+10 %) and nobody gets a 429 or 503', async (t) => {
    await apply('v3', 'throttle');
    await waitFor('weight 50, paused', async () => {
      const s = await status();
      return s.phase === 'Paused' && s.weights.canary === 50;
    }, 30_000);
    const seconds = 4;
    const replies = await openLoop(200, seconds * 1000);
    const bad = replies.filter((r) => r.status !== 200);
    assert.deepEqual(bad.slice(0, 5), [], `no refused request (${bad.length} of ${replies.length})`);
    const canary = replies.filter((r) => r.version === 'v3').length;
    const canaryRps = canary / seconds;
    t.diagnostic(`offered ${replies.length / seconds} req/s; canary served ${canaryRps.toFixed(1)} req/s`);
    assert.ok(replies.length >= 200 * seconds * 0.9, `offered load reached (${replies.length})`);
    assert.ok(canaryRps <= 22 + 2 / seconds, `canary served ${canaryRps.toFixed(1)} req/s (budget 20)`);
    assert.ok(canaryRps >= 10, `the canary still gets its budget (${canaryRps.toFixed(1)} req/s)`);
    await berthOk(dir, ['release', 'promote', 'web', '--full']);
    await waitFor('promoted', async () => (await status()).phase === 'Healthy', 30_000);
  });

  test('a revision adding 200 ms is caught by the p99 comparison with stable and aborted', async () => {
    const load = closedLoop(4);
    try {
      await apply('v4', 'latency', 200);
      const s = await waitFor('aborted', async () => {
        const x = await status();
        return x.phase === 'Degraded' || x.phase === 'Paused' ? x : undefined;
      }, 40_000);
      assert.equal(s.phase, 'Degraded', JSON.stringify(s));
      assert.match(s.message ?? '', /analysis .* Failed/);
      const m = s.analysisRuns.at(-1)!.metrics[0].measurements.at(-1)!;
      const value = m.value as { canary: { p99Ms: number }; stable: { p99Ms: number } };
      assert.ok(value.canary.p99Ms >= 150 && value.stable.p99Ms < 100, JSON.stringify(value));
    } finally {
      await load.stop();
    }
  });
});
