// The replay gate in a real release (issues 14 and 15): traffic recorded from the stable revision
// (`berth record`) is replayed to the canary at weight 0 by an analysis step with the `replay`
// provider, after `setCanaryScale` gave the canary an instance (Argo's way to test at weight 0). A revision that answers differently is aborted before any user reaches it; one that
// answers the same (a change that does not touch responses) passes the gate and is promoted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, portBlock, tempApp, waitFor } from './harness/berth.js';
import { controlApi, releaseStatus, webSpec } from './harness/release-app.js';
import type { ReleaseStatus } from '../../src/control/index.js';

const webJs = `
import http from 'node:http';
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ path: req.url, shape: process.env.SHAPE }));
}).listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => process.exit(0));
`;

const base = portBlock(2);
const ports = { ingress: base, web: base + 1 };

/** SHAPE is what the app answers; BUILD changes the revision without changing any answer. */
const spec = (shape: string, build: string, from = 'none'): string =>
  webSpec({
    app: 'relgate',
    ingressPort: ports.ingress,
    webPort: ports.web,
    replicas: 1,
    env: { SHAPE: shape, BUILD: build },
    stopGracePeriodSeconds: 1,
    release: `      strategy: canary
      canary:
        steps:
          - setCanaryScale: { replicas: 1 }
          - analysis: { templates: [gate] }
          - setWeight: 100`,
    analysisTemplates: `  gate:
    metrics:
      - name: replay
        successCondition: result.passed
        provider: { replay: { from: "${from}", maxDiffPercent: 0 } }
`,
  });

const dir = tempApp({ 'web.mjs': webJs, 'berth.yaml': spec('a', '1') });

const api = (path: string): Promise<unknown> => controlApi(dir, path);
const status = (): Promise<ReleaseStatus> => releaseStatus(dir);

async function shapeServed(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${ports.ingress}/item/1`);
  return ((await res.json()) as { shape: string }).shape;
}

describe('the replay gate in a canary release', () => {
  let recording = '';
  before(async () => {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
    await berthOk(dir, ['record', 'start', 'web', '--json']);
    for (let i = 0; i < 20; i++) await fetch(`http://127.0.0.1:${ports.ingress}/item/${i}`).then((r) => r.text());
    recording = (JSON.parse((await berthOk(dir, ['record', 'stop', 'web', '--json'])).stdout) as { id: string }).id;
    assert.ok(recording, 'the recording has an id');
  });
  after(async () => {
    await berth(dir, ['down']);
  });

  test('a revision that answers differently is aborted by the gate; users never see it', async () => {
    writeFileSync(join(dir, 'berth.yaml'), spec('b', '1', recording));
    await berthOk(dir, ['apply']);
    let last: ReleaseStatus | undefined;
    const aborted = await waitFor(
      'aborted by the replay gate',
      async () => {
        last = await status();
        return last.phase === 'Degraded' ? last : undefined;
      },
      60_000,
      200,
    ).catch((err: Error) => assert.fail(`${err.message}; last status ${JSON.stringify(last)}`));
    const measurements = aborted.analysisRuns.flatMap((r) => r.metrics.flatMap((m) => m.measurements));
    assert.ok(measurements.some((m) => m.phase === 'Failed'), `a Failed measurement: ${JSON.stringify(measurements)}`);
    const failed = measurements.find((m) => m.phase === 'Failed')!.value as { diffs: number; requests: number; passed: boolean };
    assert.equal(failed.passed, false);
    assert.equal(failed.diffs, failed.requests, 'every replayed answer differs (shape a → b)');
    // The dashboard's Recordings and replays view shows the gate's result (GET /api/v1/dashboard/replay-gates).
    const { gates } = (await api('/api/v1/dashboard/replay-gates')) as { gates: { service: string; metric: string; phase: string; measurements: { phase: string; value?: { diffs: number } }[] }[] };
    const gate = gates.find((g) => g.service === 'web' && g.metric === 'gate.replay');
    assert.ok(gate, JSON.stringify(gates));
    assert.equal(gate.phase, 'Degraded');
    assert.equal(gate.measurements.find((m) => m.phase === 'Failed')?.value?.diffs, failed.diffs);
    for (let i = 0; i < 10; i++) assert.equal(await shapeServed(), 'a', 'stable keeps serving every user');
  });

  test('a revision that answers the same passes the gate and is promoted', async () => {
    writeFileSync(join(dir, 'berth.yaml'), spec('a', '2', recording));
    await berthOk(dir, ['apply']);
    let last: ReleaseStatus | undefined;
    const healthy = await waitFor(
      'promoted after the gate',
      async () => {
        last = await status();
        return last.phase === 'Healthy' && last.analysisRuns.length > 0 ? last : undefined;
      },
      60_000,
      200,
    ).catch((err: Error) => assert.fail(`${err.message}; last status ${JSON.stringify(last)}`));
    const measurements = healthy.analysisRuns.flatMap((r) => r.metrics.flatMap((m) => m.measurements));
    assert.ok(measurements.some((m) => m.phase === 'Successful'), `a Successful measurement: ${JSON.stringify(measurements)}`);
  });
});
