// `berth down` is immediate and final: with an instance that can never be scheduled (a nodeSelector no
// node matches) it returns at once and leaves no ghost row behind; run while a `berth up` is starting, it
// wins — the `up` says so clearly (no raw connection error) and the app does not come up afterwards.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { controlLockName, isLockHeld } from '../../src/lib/process-lock.js';
import { berth, berthOk, portBlock, ps, spawnBerth, tempApp, waitFor } from './harness/berth.js';

const appJs = `import http from 'node:http';
http.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => process.exit(0));`;

/** PIDs of every live (non-zombie) process working in `dir` or below (the control plane, agents, proxies and apps of that app). */
function processesIn(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cwd = readlinkSync(`/proc/${name}/cwd`);
      if (cwd !== dir && !cwd.startsWith(dir + '/')) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (!/^\d+ \(.*\) [ZX] /s.test(stat)) out.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read: not a live process of this app either way
    }
  }
  return out;
}

/** True when a live process listens on the Unix socket lock at `path` (the control plane holds it while it lives). */
test('down with a pending instance (nodeSelector matches no node) is immediate and leaves no ghost rows', async () => {
  const port = portBlock();
  const dir = tempApp({
    'app.mjs': appJs,
    'berth.yaml': `app: pendingdown
services:
  api:
    run: node app.mjs
    port: ${port}
  pinned:
    run: node app.mjs
    port: ${port + 1}
    placement: { nodeSelector: { disk: ssd } }
`,
  });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--timeout', '30']);
  await waitFor('api ready, pinned pending', async () => {
    const rows = await ps(dir);
    return rows.some((r) => r.service === 'api' && r.ready) && rows.some((r) => r.service === 'pinned' && r.status === 'pending');
  }, 30_000);
  const t0 = performance.now();
  const r = await berthOk(dir, ['down']);
  const tookMs = performance.now() - t0;
  process.stdout.write(`# down with a pending instance took ${Math.round(tookMs)} ms\n`);
  assert.match(r.stdout, /stopped/);
  assert.ok(tookMs < 15_000, `down took ${Math.round(tookMs)} ms (the 60 s timeout before)`);
  await waitFor('nothing of the app left', () => processesIn(dir).length === 0, 10_000);

  // Up again: only the instances of this run are listed (no row left over from the pending one).
  await berthOk(dir, ['up', '-d', '--timeout', '30']);
  await waitFor('api ready again', async () => (await ps(dir)).some((x) => x.service === 'api' && x.ready), 30_000);
  const rows = await ps(dir);
  assert.deepEqual(rows.map((x) => x.status).filter((s) => s === 'stopping' || s === 'stopped'), [], JSON.stringify(rows));
  assert.equal(rows.filter((x) => x.service === 'pinned').length, 1, 'one pending pinned instance, not two');
  await berthOk(dir, ['down']);
});

test('down during up is immediate and final: up reports it clearly, the app never comes up', async () => {
  const port = portBlock();
  const dir = tempApp({ 'app.mjs': appJs, 'berth.yaml': `app: downrace\nservices:\n  api:\n    run: node app.mjs\n    port: ${port}\n    replicas: 2\n` });
  after(() => berth(dir, ['down']));
  const stateDir = join(dir, '.berth');
  // Down at different moments of the up: at once (before the up process has read anything), control plane
  // starting (its lock held), control plane announced, instances created.
  const moments: [string, () => boolean | Promise<boolean>][] = [
    ['right after up was started', () => true],
    ['control plane starting', () => isLockHeld(controlLockName(stateDir))],
    ['control plane announced', () => existsSync(join(stateDir, 'control.json'))],
    ['instances created', async () => existsSync(join(stateDir, 'control.json')) && (await ps(dir).catch(() => [])).length > 0],
  ];
  for (const [moment, reached] of moments) {
    const up = spawnBerth(dir, ['up', '-d', '--wait', '--timeout', '60']);
    let upErr = '';
    up.stderr?.on('data', (d: Buffer) => (upErr += d.toString()));
    const upExit = new Promise<number>((r) => up.once('exit', (code) => r(code ?? 1)));
    await waitFor(moment, reached, 30_000, 5);
    const down = await berth(dir, ['down']);
    assert.equal(down.code, 0, `${moment}: down: ${down.stdout}${down.stderr}`);
    const upCode = await upExit;
    assert.doesNotMatch(upErr, /ECONNREFUSED|ECONNRESET|\n\s+at /, `${moment}: no raw error from up: ${upErr}`);
    if (upCode !== 0) assert.match(upErr, /`berth down` ran while `berth up` was in progress/, `${moment}: ${upErr}`);
    // Up has exited: whatever is still running of the app stops by itself, and nothing starts again.
    await waitFor(`${moment}: nothing of the app left`, () => processesIn(dir).length === 0, 20_000).catch((err: Error) => {
      const left = processesIn(dir).map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 120));
      throw new Error(`${err.message}: ${left.join(' | ')} (up: ${upErr})`);
    });
    assert.equal(existsSync(join(stateDir, 'control.json')), false, `${moment}: no control plane announced`);
  }
});
