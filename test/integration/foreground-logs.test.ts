/* eslint-disable no-control-regex -- the test reads terminal escape codes */
// Issue 19 point 2, foreground `berth up` like compose: every instance's output interleaved with a
// prefix naming the instance (coloured on a terminal, plain with NO_COLOR or a pipe), platform events
// as `berth |` lines; key `t` switches to the status table; `berth attach` shows the same screen for
// an app started with -d and Ctrl-C leaves it running. The terminal is a real pseudo-terminal (script(1)).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { berth, berthBin, berthOk, httpRequest, portBlock, ps, spawnBerth, tempApp, waitFor } from './harness/berth.js';

const appJs = `
import http from 'node:http';
console.log('hello from ' + process.env.BERTH_INSTANCE);
http.createServer((req, res) => { if (req.url !== '/ready') console.log('got ' + req.url); res.end('ok'); }).listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => process.exit(0));
`;
const spec = (port: number) => `app: fglogs
services:
  api:
    run: node app.mjs
    port: ${port}
    replicas: 2
    stopGracePeriodSeconds: 2
  tick:
    run: node -e "setInterval(() => console.log('tick ' + Date.now()), 300)"
    probes: { readiness: none }
    stopGracePeriodSeconds: 1
`;

function collect(child: ReturnType<typeof spawn>) {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { out: () => out, exited };
}

describe('foreground screen', () => {
  const port = portBlock();
  const dir = tempApp({ 'app.mjs': appJs, 'berth.yaml': spec(port) });
  after(() => berth(dir, ['down']));

  test('piped with NO_COLOR: interleaved prefixed logs of every instance, events as berth lines, no colour', async () => {
    const child = spawnBerth(dir, ['up']);
    const c = collect(child);
    try {
      const rows = await waitFor('3 ready', async () => {
        const r = await ps(dir).catch(() => []);
        return r.length === 3 && r.every((x) => x.ready) ? r : undefined;
      }, 60_000);
      await waitFor('the service answers', async () => (await httpRequest(`http://127.0.0.1:${port}/hi`)).status === 200);
      for (const r of rows.filter((x) => x.service === 'api')) await waitFor(`hello of ${r.instance}`, () => new RegExp(`^${r.instance} +\\| hello from ${r.instance}$`, 'm').test(c.out()));
      await waitFor('a request logged', () => /^api-\S+ +\| got \/hi$/m.test(c.out()));
      await waitFor('tick lines', () => /^tick-\S+ +\| tick \d+$/m.test(c.out()));
      assert.match(c.out(), /^berth +\| .*Ready/m, 'events as berth lines');
      assert.match(c.out(), new RegExp(`^berth +\\| fglogs: api http://127\\.0\\.0\\.1:${port}/`, 'm'));
      assert.doesNotMatch(c.out(), /\x1b\[/, 'NO_COLOR and a pipe: no escape codes');
    } finally {
      child.kill('SIGINT');
      assert.equal(await c.exited, 0);
    }
  });

  test('on a terminal: coloured prefixes, key t shows the status table; attach shows the screen of a detached app', async () => {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
    // script(1) gives `berth attach` a real terminal; its stdin carries our key presses.
    const env = { ...process.env };
    delete env.NO_COLOR;
    const child = spawn('script', ['-qfec', `${process.execPath} ${berthBin} attach`, '/dev/null'], { cwd: dir, env: { ...env, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
    const c = collect(child);
    try {
      await waitFor('coloured tick lines', () => /\x1b\[\d+mtick-\S+ +\|\x1b\[0m tick \d+/.test(c.out()), 30_000);
      child.stdin.write('t');
      const plain = () => c.out().replace(/\x1b\[[0-9;]*[mAJK]/g, '');
      await waitFor('the status table', () => /SERVICE\s+INSTANCE\s+STATUS/.test(plain()) && /t: logs/.test(plain()), 15_000);
      const at = c.out().length;
      child.stdin.write('t');
      await waitFor('logs again', () => /tick \d+/.test(c.out().slice(at)), 15_000);
      child.stdin.write('\x03');
      await waitFor('detached', () => /detached; the app keeps running/.test(c.out()), 15_000);
    } finally {
      child.kill('SIGKILL');
    }
    assert.equal((await ps(dir)).filter((r) => r.ready).length, 3, 'attach left the app running');
    const piped = spawnBerth(dir, ['attach', '--tail', '5']);
    const p = collect(piped);
    await waitFor('the last lines, then new ones', () => (p.out().match(/tick \d+/g) ?? []).length >= 8, 30_000);
    piped.kill('SIGINT');
    assert.equal(await p.exited, 0);
    assert.equal((await ps(dir)).length, 3);
  });
});
