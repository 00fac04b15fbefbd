// Issue 12 point 6: a spec port that another process already listens on is refused, naming the
// holder (any process, or another Berth app by its state dir); `up --wait` never reports success
// while someone else answers on the app's address.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { berth, berthOk, portBlock, ps, tempApp, waitFor } from './harness/berth.js';

const app = `import http from 'node:http';
http.createServer((q, s) => s.end('berth app')).listen(Number(process.env.PORT), process.env.HOST);`;

/** A real process (not Berth) listening on 127.0.0.1:port; another block is tried if the port is taken already. */
async function squat(): Promise<{ port: number; holder: ChildProcess }> {
  for (let attempt = 0; ; attempt++) {
    const port = portBlock(1);
    const holder = spawn(process.execPath, ['-e', `require('http').createServer((q, s) => s.end('squatter')).listen(${port}, '127.0.0.1', () => console.log('listening'))`, 'port-squatter'], { stdio: ['ignore', 'pipe', 'pipe'] });
    after(() => holder.kill('SIGKILL'));
    let err = '';
    holder.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const listening = await new Promise<boolean>((resolve) => {
      holder.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve(true));
      holder.once('exit', () => resolve(false));
    });
    if (listening) return { port, holder };
    if (attempt === 3) throw new Error(`the squatter could not listen: ${err}`);
  }
}

test('a port held by another process is refused naming its pid and command; up --wait exits 1', async () => {
  const { port, holder } = await squat();
  const dir = tempApp({ 'app.mjs': app, 'berth.yaml': `app: squatted\nservices:\n  api:\n    run: node app.mjs\n    port: ${port}\n    probes:\n      readiness: { tcp: {} }\n` });
  after(() => berth(dir, ['down']));
  const r = await berth(dir, ['up', '-d', '--wait', '--timeout', '30']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`port ${port} \\(service api\\) is already in use by pid ${holder.pid} \\(.*port-squatter`));
  assert.equal((await ps(dir)).length, 0, 'nothing was started');
});

test('a port held by another Berth app is refused naming that app by its state dir', async () => {
  const port = portBlock(1);
  const first = tempApp({ 'app.mjs': app, 'berth.yaml': `app: first\nservices:\n  api:\n    run: node app.mjs\n    port: ${port}\n    probes:\n      readiness: { tcp: {} }\n` });
  after(() => berth(first, ['down']));
  await berthOk(first, ['up', '-d', '--wait', '--timeout', '60']);
  // Re-applying the app that holds the port is fine: the holder is itself.
  await berthOk(first, ['up', '-d', '--wait', '--timeout', '60']);
  const second = tempApp({ 'app.mjs': app, 'berth.yaml': `app: second\nservices:\n  web:\n    run: node app.mjs\n    port: ${port}\n` });
  after(() => berth(second, ['down']));
  const r = await berth(second, ['up', '-d', '--wait', '--timeout', '30']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`port ${port} \\(service web\\) is already in use by another Berth application \\(state dir ${join(first, '.berth').replace(/[/.]/g, '\\$&')}`));
  await waitFor('first still serves', async () => (await ps(first)).some((row) => row.ready));
});
