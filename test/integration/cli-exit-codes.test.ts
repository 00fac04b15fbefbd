// Issue 19 point 9, piping and exit codes: a command whose reader goes away (`berth … | head`) ends
// quietly; `berth sidecar restart UNKNOWN` is a usage error (exit 2) rather than "nothing running";
// `berth scale S=N` on an autoscaled service says why it cannot, exit 2, instead of "scaled" and no change.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { berth, berthOk, portBlock, ps, repoRoot, tempApp } from './harness/berth.js';

/** Runs `berth args` with its stdout read for `bytes` bytes and then closed, as `| head -c bytes` does. */
function closedAfter(args: string[], bytes: number): Promise<{ code: number | null; stderr: string; read: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'berth.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let read = 0;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      read += d.length;
      if (read >= bytes) child.stdout.destroy(); // the reader leaves; later writes get EPIPE
    });
    child.on('close', (code) => resolve({ code, stderr, read }));
  });
}

describe('CLI exit codes', () => {
  test('a reader that goes away ends the command quietly (exit 0, nothing on stderr)', async () => {
    // `berth schema` prints the JSON Schema (~100 KiB): more than a pipe holds, so writes go on after the reader left.
    const r = await closedAfter(['schema'], 10);
    assert.ok(r.read >= 10);
    assert.equal(r.stderr, '', 'no EPIPE stack trace');
    assert.equal(r.code, 0);
  });

  const port = portBlock(2);
  const dir = tempApp({
    'app.mjs': `import http from 'node:http';
http.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), process.env.HOST);`,
    'berth.yaml': `app: exitcodes
services:
  fixed:
    run: node app.mjs
    port: ${port}
    variants:
      v2: { replicas: 1 }
  auto:
    run: node app.mjs
    port: ${port + 1}
    scale: { min: 1, max: 3, metrics: [{ rps: 100 }] }
`,
  });
  after(() => berth(dir, ['down']));

  test('sidecar restart of a name no service declares: exit 2 naming the sidecars there are; a declared one still works', async () => {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
    const r = await berth(dir, ['sidecar', 'restart', 'nosuch']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /no sidecar "nosuch"; sidecars: .*logs/);
    const ok = await berthOk(dir, ['sidecar', 'restart', 'logs', '--service', 'fixed', '--json']);
    assert.equal((JSON.parse(ok.stdout) as { restarted: unknown[] }).restarted.length, 1);
  });

  test('scale on an autoscaled service: exit 2 with the reason, replicas unchanged; a fixed service scales', async () => {
    const r = await berth(dir, ['scale', 'auto=3']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /auto is autoscaled \(scale: min 1, max 3\)/);
    assert.doesNotMatch(r.stdout, /scaled/);
    assert.equal((await ps(dir)).filter((row) => row.service === 'auto').length, 1);
    await berthOk(dir, ['scale', 'fixed=2']);
  });

  test("scale of a variant's deployment (service.variant=N), as docs/spec.md says", async () => {
    const r = await berthOk(dir, ['scale', 'fixed.v2=2']);
    assert.match(r.stdout, /fixed\.v2 scaled to 2/);
  });
});
