// Issue 19 point 3, many apps on one machine: `berth ls --json` lists the running apps from any
// directory; `--app NAME` (after or before the command) picks one; outside any app's folder `berth ps`
// uses the only running app, and with several exits 2 naming them. The apps use a private address-block
// registry so other tests' apps on this machine do not show up.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { berth, tempApp, type PsRow } from './harness/berth.js';

const spec = (app: string, service: string, replicas: number) => `app: ${app}
services:
  ${service}:
    run: node worker.mjs
    replicas: ${replicas}
    probes: { readiness: none }
    stopGracePeriodSeconds: 2
`;
const workerJs = `setInterval(() => {}, 1000); process.on('SIGTERM', () => process.exit(0));\n`;

interface AppRow {
  name: string | null;
  spec: string | null;
  environment: string | null;
  stateDir: string;
  services: { name: string; ready: number; replicas: number }[];
  ready: number;
  total: number;
}

describe('many apps on one machine', () => {
  const env = { BERTH_SLOT_REGISTRY: mkdtempSync(join(tmpdir(), 'berth-slots-test-')) };
  const alpha = tempApp({ 'worker.mjs': workerJs, 'berth.yaml': spec('alpha', 'aworker', 2) });
  const beta = tempApp({ 'worker.mjs': workerJs, 'berth.yaml': spec('beta', 'bworker', 1) });
  const elsewhere = mkdtempSync(join(tmpdir(), 'berth-elsewhere-'));
  const run = async (cwd: string, args: string[]) => berth(cwd, args, { env });
  const ok = async (cwd: string, args: string[]) => {
    const r = await run(cwd, args);
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  /** Wall time of `berth ARGS` from `cwd`, the median of 5 runs (process start included). */
  const timed = async (cwd: string, args: string[]): Promise<number> => {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await ok(cwd, args);
      times.push(performance.now() - t0);
    }
    return Math.round(times.sort((a, b) => a - b)[2]);
  };
  after(async () => {
    await Promise.all([run(alpha, ['down']), run(beta, ['down'])]);
  });

  test('ls lists both apps from a third folder; --app picks one; ps with two apps is exit 2 naming both', async () => {
    await ok(alpha, ['up', '-d', '--wait', '--timeout', '60']);
    await ok(beta, ['up', '-d', '--wait', '--timeout', '60']);

    const apps = JSON.parse((await ok(elsewhere, ['ls', '--json'])).stdout) as AppRow[];
    assert.deepEqual(
      apps.map((a) => [a.name, a.spec, a.ready, a.total, a.services.map((s) => s.name)]),
      [
        ['alpha', join(alpha, 'berth.yaml'), 2, 2, ['aworker']],
        ['beta', join(beta, 'berth.yaml'), 1, 1, ['bworker']],
      ],
    );
    const human = (await ok(elsewhere, ['ls'])).stdout;
    assert.match(human, /alpha .*2\/2/);
    assert.match(human, /beta .*1\/1/);

    const psAlpha = JSON.parse((await ok(elsewhere, ['ps', '--app', 'alpha', '--json'])).stdout) as PsRow[];
    assert.deepEqual(psAlpha.map((r) => r.service), ['aworker', 'aworker']);
    const psBeta = JSON.parse((await ok(elsewhere, ['--app', 'beta', 'ps', '--json'])).stdout) as PsRow[];
    assert.deepEqual(psBeta.map((r) => r.service), ['bworker']);

    const both = await run(elsewhere, ['ps']);
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /2 apps are running: .*alpha.*beta/);
    assert.match(both.stderr, /--app NAME/);

    const unknown = await run(elsewhere, ['ps', '--app', 'gamma']);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /no Berth app named "gamma".*\n.*alpha, beta/);

    // From a folder below an app's spec, the app is found upward.
    const sub = join(alpha, 'sub', 'deeper');
    mkdirSync(sub, { recursive: true });
    const psSub = JSON.parse((await ok(sub, ['ps', '--json'])).stdout) as PsRow[];
    assert.deepEqual(psSub.map((r) => r.service), ['aworker', 'aworker']);

    // The goal is ≤ 150 ms each; `berth --version` is the floor on this machine (node's start and the CLI's load).
    const figures = { lsMs: await timed(elsewhere, ['ls', '--json']), psAppMs: await timed(elsewhere, ['ps', '--app', 'alpha', '--json']), versionMs: await timed(elsewhere, ['--version']), goalMs: 150 };
    console.log(JSON.stringify({ bench: 'many-apps-cli', ...figures }));
  });

  test('down --app from elsewhere; then ps there uses the one app left', async () => {
    await ok(elsewhere, ['down', '--app', 'beta']);
    const apps = JSON.parse((await ok(elsewhere, ['ls', '--json'])).stdout) as AppRow[];
    assert.deepEqual(apps.map((a) => a.name), ['alpha']);
    const rows = JSON.parse((await ok(elsewhere, ['ps', '--json'])).stdout) as PsRow[];
    assert.deepEqual(rows.map((r) => r.service), ['aworker', 'aworker']);
    const r = await run(elsewhere, ['ps', '--app', 'beta']);
    assert.equal(r.code, 2, 'a downed app is no longer known');
  });
});
