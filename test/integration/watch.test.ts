// `berth up --watch` (issue 19 point 1): saving a watched source file under load makes a new revision
// that replaces the old one with 0 failed requests; a breaking save keeps the previous revision serving
// and prints the error; a saved berth.yaml is applied; `berth apply` sees a code edit (and --rebuild
// gives an unwatched service a new revision). Real processes, real file events.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, portBlock, ps, spawnBerth, tempApp, versionedLoad, waitFor } from './harness/berth.js';

const appJs = (version: string) => `
import http from 'node:http';
const VERSION = '${version}';
const server = http.createServer((req, res) => {
  if (req.url === '/ready') return res.end('ok');
  res.setHeader('connection', 'close');
  res.end(JSON.stringify({ version: VERSION + (process.env.SUFFIX ?? '') }));
});
server.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeIdleConnections(); setTimeout(() => process.exit(0), 3000).unref(); });
`;

const spec = (port: number, suffix = '') => `app: watchy
services:
  api:
    run: node app.mjs
    port: ${port}
    replicas: 2
    env: { SUFFIX: "${suffix}" }
    probes:
      readiness: { http: { path: /ready }, periodSeconds: 0.2 }
    stopGracePeriodSeconds: 5
    watch: { paths: [app.mjs, lib], debounceMs: 100 }
  worker:
    run: node worker.mjs
    cwd: worker
    probes: { readiness: none }
`;

function startUp(dir: string, env: Record<string, string> = {}) {
  const child = spawnBerth(dir, ['up', '--watch'], env);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => out, exited };
}

describe('berth up --watch', () => {
  const port = portBlock();
  const dir = tempApp({ 'app.mjs': appJs('v1'), 'berth.yaml': spec(port) });
  const workerDir = join(dir, 'worker');
  after(() => berth(dir, ['down']));

  test('a saved file rolls out a new revision under load with 0 failed requests; a breaking save keeps the old one serving; berth.yaml is applied', async () => {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'lib'));
    mkdirSync(workerDir);
    writeFileSync(join(workerDir, 'worker.mjs'), 'setInterval(() => {}, 1000);\n');
    const up = startUp(dir);
    try {
      await waitFor('watching', () => /watching api/.test(up.out()), 60_000);
      await waitFor('2 ready', async () => (await ps(dir)).filter((r) => r.service === 'api' && r.ready).length === 2, 60_000);
      const load = versionedLoad(`http://127.0.0.1:${port}/`);
      await waitFor('some traffic', () => load.ok() > 20, 30_000);

      // 1. A saved source file: a new revision, serving, no failed request.
      const rev1 = (await ps(dir)).find((r) => r.service === 'api')!.revision;
      writeFileSync(join(dir, 'app.mjs'), appJs('v2'));
      await waitFor('v2 serving', () => /api: revision \w+ serving/.test(up.out()) && load.versions.has('v2'), 60_000);
      const rows2 = (await ps(dir)).filter((r) => r.service === 'api');
      assert.ok(rows2.every((r) => r.revision !== rev1), 'a new revision replaced the old one');

      // 2. A breaking save: the new revision crashes, v2 keeps serving, the error is printed.
      writeFileSync(join(dir, 'app.mjs'), appJs('v3') + '\nthrow new Error("broken on purpose");\n');
      await waitFor('the failure printed', () => /revision \w+ fails .*keeps serving/.test(up.out()), 60_000);
      const okAtFailure = load.ok();
      await waitFor('still serving v2', () => load.ok() > okAtFailure + 20, 30_000);
      assert.equal(load.versions.has('v3'), false);

      // 2b. A save whose readiness fails (no crash): reported as not ready, v2 keeps serving.
      writeFileSync(join(dir, 'app.mjs'), appJs('v3b').replace("if (req.url === '/ready') return res.end('ok');", "if (req.url === '/ready') { res.statusCode = 503; return res.end('not yet'); }"));
      await waitFor('not ready printed', () => /revision \w+ is not ready \(Readiness probe: HTTP 503\); revision \w+ keeps serving/.test(up.out()), 60_000);
      assert.equal(load.versions.has('v3b'), false);

      // 3. The fix: the next save replaces the broken revision.
      writeFileSync(join(dir, 'app.mjs'), appJs('v4'));
      await waitFor('v4 serving', () => load.versions.has('v4') && (up.out().match(/serving, [\d.]+ s after the save/g) ?? []).length >= 2, 60_000);

      // 4. A new file in a watched folder counts too.
      const before = (await ps(dir)).find((r) => r.service === 'api')!.revision;
      writeFileSync(join(dir, 'lib', 'util.mjs'), 'export const x = 1;\n');
      await waitFor('a new revision for the new file', async () => (await ps(dir)).filter((r) => r.service === 'api' && r.ready).every((r) => r.revision !== before), 60_000);

      // 5. An invalid berth.yaml: its errors with file:line, nothing applied; then a valid one is applied (the env reaches the app).
      writeFileSync(join(dir, 'berth.yaml'), spec(port).replace('replicas: 2', 'replicas: lots'));
      await waitFor('the spec errors printed', () => /the spec is invalid, nothing applied[\s\S]*berth\.yaml:\d+:\d+/.test(up.out()), 30_000);
      writeFileSync(join(dir, 'berth.yaml'), spec(port, '-yaml'));
      await waitFor('v4-yaml serving', () => load.versions.has('v4-yaml'), 60_000);
      const okAfter = load.ok();
      await waitFor('more traffic', () => load.ok() > okAfter + 20, 30_000);
      await load.stop();
      assert.deepEqual(load.failures, [], `failed requests during the watch rollouts: ${load.failures.slice(0, 5).join('; ')}`);
      // The unwatched worker was never replaced by a save of the api's files.
      assert.equal((await ps(dir)).filter((r) => r.service === 'worker').length, 1);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- berth up --watch printed:\n${up.out()}`);
    } finally {
      up.child.kill('SIGINT');
      await up.exited;
    }
  });

  test('berth apply takes a saved watched file into account; --rebuild renews an unwatched service', async () => {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
    const none = await berthOk(dir, ['apply']);
    assert.match(none.stdout, /no change/);
    const rev = (await ps(dir)).find((r) => r.service === 'api')!.revision;
    writeFileSync(join(dir, 'app.mjs'), appJs('v5'));
    const applied = await berthOk(dir, ['apply', '--wait', '--json']);
    const changes = (JSON.parse(applied.stdout) as { changes: { service: string; change: string; from?: string; to?: string }[] }).changes;
    const api = changes.find((c) => c.service === 'api')!;
    assert.equal(api.change, 'revision');
    assert.equal(api.from, rev);
    assert.equal(changes.find((c) => c.service === 'worker')!.change, 'unchanged');
    const diff = await berth(dir, ['diff']);
    assert.equal(diff.code, 0, `nothing left to apply: ${diff.stdout}`);

    const worker = (await ps(dir)).find((r) => r.service === 'worker')!.revision;
    writeFileSync(join(workerDir, 'worker.mjs'), 'setInterval(() => {}, 500);\n');
    assert.match((await berthOk(dir, ['apply'])).stdout, /no change/, 'an unwatched service is not digested');
    const rebuilt = await berthOk(dir, ['apply', '--rebuild']);
    assert.match(rebuilt.stdout, /worker: revision/);
    await waitFor('worker renewed', async () => (await ps(dir)).some((r) => r.service === 'worker' && r.revision !== worker && r.status !== 'stopped'), 30_000);
  });
});

test('--watch with -d is a usage error', async () => {
  const dir = tempApp({ 'berth.yaml': 'app: wd\nservices:\n  a:\n    run: node -e "setInterval(()=>{},1000)"\n    watch: {}\n' });
  const r = await berth(dir, ['up', '--watch', '-d']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--watch runs in the foreground/);
});
