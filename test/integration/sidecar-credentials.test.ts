// Issue 12 point 2: an instance must not be able to drive the app. Sidecars hold a credential scoped
// to their own instance (watch/ack its mesh snapshot, ask for activation, send its log and span batches);
// the API answers 403 to everything else, and the admin token is in no instance's environment.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { chmodSync } from 'node:fs';
import { berth, berthOk, events, httpRequest, portBlock, ps, tempApp, waitFor } from './harness/berth.js';

function environ(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

function call(port: number, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers: { authorization: `Bearer ${token}`, ...(text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {}) } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        data += d;
        if (res.headers['content-type'] === 'text/event-stream') req.destroy(); // a stream that opened: its status is the answer
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      res.on('close', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    req.end(text);
  });
}

test("an instance's sidecar credential cannot scale, watch another proxy's snapshot or read the admin API; the admin token is in no instance's environment", async () => {
  const port = portBlock(2);
  const dir = tempApp({
    'app.mjs': `import http from 'node:http';
http.createServer((q, s) => { console.log('hit'); s.end('ok'); }).listen(Number(process.env.PORT), process.env.HOST);`,
    'berth.yaml': `app: scoped\nservices:\n  api:\n    run: node app.mjs\n    port: ${port}\n    probes:\n      readiness: { tcp: {} }\n  other:\n    run: node app.mjs\n    port: ${port + 1}\n    probes:\n      readiness: { tcp: {} }\n`,
  });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
  const admin = readFileSync(join(dir, '.berth', 'token'), 'utf8').trim();
  const control = (JSON.parse(readFileSync(join(dir, '.berth', 'control.json'), 'utf8')) as { port: number }).port;
  const rows = await ps(dir);
  const api = rows.find((r) => r.service === 'api')!;
  const other = rows.find((r) => r.service === 'other')!;

  // No process of any instance (app or sidecar) carries the admin token; apps carry no credential at all.
  for (const r of rows) {
    for (const pid of [r.pid!, ...r.sidecars.map((s) => s.pid!)]) assert.ok(!Object.values(environ(pid)).some((v) => v.includes(admin)), `admin token in the environment of ${r.instance} pid ${pid}`);
    assert.equal(environ(r.pid!).BERTH_SIDECAR_TOKEN, undefined, `the app of ${r.instance} has no sidecar credential`);
  }

  const proxyPid = api.sidecars.find((s) => s.name === 'berth-proxy')!.pid!;
  const cred = environ(proxyPid).BERTH_SIDECAR_TOKEN;
  assert.ok(cred, 'the proxy sidecar holds a scoped credential');
  const logsPid = api.sidecars.find((s) => s.name === 'logs')?.pid;
  if (logsPid) assert.equal(environ(logsPid).BERTH_SIDECAR_TOKEN, cred, 'the log agent holds the same instance credential');

  // What it may do: its own snapshot watch and acknowledgement, its own service's log records.
  assert.equal((await call(control, cred, 'GET', `/api/v1/mesh/watch?proxy=${api.instance}`)).status, 200);
  assert.equal((await call(control, cred, 'POST', '/api/v1/mesh/ack', { proxy: api.instance, version: 1 })).status, 204);
  const own = { id: `scoped-test-${Date.now()}`, time: new Date().toISOString(), message: 'from the sidecar', service: 'api', instance: api.instance };
  assert.equal((await call(control, cred, 'POST', '/api/v1/logs', { records: [own] })).status, 200);
  const span = { traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), kind: 'server', service: 'api', variant: 'default', route: 'inbound', method: 'GET', path: '/', status: 200, start: Date.now(), durationMs: 1, proxy: api.instance };
  assert.equal((await call(control, cred, 'POST', '/api/v1/traces', { proxy: api.instance, spans: [span] })).status, 200, 'its own proxy\'s spans');

  // What it may not: everything else, with a clear 403.
  const refused: [string, string, unknown?][] = [
    ['POST', '/api/v1/scale', { service: 'other', replicas: 0 }],
    ['GET', `/api/v1/mesh/watch?proxy=${other.instance}`],
    ['POST', '/api/v1/mesh/ack', { proxy: other.instance, version: 1 }],
    ['POST', '/api/v1/logs', { records: [{ ...own, id: 'forged', service: 'other', instance: other.instance }] }],
    ['GET', '/api/v1/logs?service=other'],
    ['POST', '/api/v1/traces', { proxy: other.instance, spans: [] }],
    ['GET', '/api/v1/traces'],
    ['GET', '/api/v1/status'],
    ['GET', '/api/v1/instances'],
    ['GET', `/api/v1/instances/${api.instance}`],
    ['GET', '/api/v1/events'],
    ['POST', '/api/v1/down', {}],
  ];
  for (const [method, path, body] of refused) {
    const r = await call(control, cred, method, path, body);
    assert.equal(r.status, 403, `${method} ${path} → ${r.status} ${r.body}`);
    assert.match(r.body, /forbidden: this is the credential of instance .*'s sidecars/, `${method} ${path}`);
  }
  // A forged credential (someone else's instance, wrong MAC) is not a credential at all.
  const forged = cred.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
  assert.equal((await call(control, forged, 'GET', `/api/v1/mesh/watch?proxy=${api.instance}`)).status, 401);

  // Nothing happened: `other` still runs its replica; the mesh and the log pipeline work on scoped credentials.
  await waitFor('other still ready', async () => (await ps(dir)).some((r) => r.service === 'other' && r.ready));
  const status = JSON.parse((await berthOk(dir, ['ps', '--json'])).stdout) as { service: string }[];
  assert.equal(status.filter((r) => r.service === 'other').length, 1);
});

test('as root, apps run as nobody by default and cannot read .berth/token; `user:` overrides; an unknown user is a clear start failure', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root: Berth only switches users when it runs as root (CI runs as root)');
    return;
  }
  const port = portBlock(2);
  const app = `import http from 'node:http';
import { readFileSync } from 'node:fs';
let token;
try { readFileSync('.berth/token', 'utf8'); token = 'READ'; } catch (e) { token = e.code; }
const uid = /^Uid:\\s+(\\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))[1];
http.createServer((q, s) => s.end(JSON.stringify({ uid, token }))).listen(Number(process.env.PORT), process.env.HOST);`;
  const dir = tempApp({
    'app.mjs': app,
    'berth.yaml': `app: users\nservices:\n  plain:\n    run: node app.mjs\n    port: ${port}\n    probes:\n      readiness: { tcp: {} }\n  daemon:\n    run: node app.mjs\n    port: ${port + 1}\n    user: "1:1"\n    probes:\n      readiness: { tcp: {} }\n  ghost:\n    run: node app.mjs\n    user: no-such-user-here\n`,
  });
  chmodSync(dir, 0o755); // user 1 (daemon) must reach app.mjs too
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d']);
  const get = async (p: number) => JSON.parse((await httpRequest(`http://127.0.0.1:${p}/`)).body) as { uid: string; token: string };
  const plain = await waitFor('plain answers', () => get(port), 30_000);
  assert.deepEqual(plain, { uid: '65534', token: 'EACCES' }, 'default user nobody, token unreadable');
  const daemon = await waitFor('daemon answers', () => get(port + 1), 30_000);
  assert.deepEqual(daemon, { uid: '1', token: 'EACCES' }, 'user: "1:1"');
  const ghost = await waitFor('ghost fails to start with a clear message', async () => {
    const row = (await ps(dir)).find((r) => r.service === 'ghost');
    const evs = JSON.stringify(await events(dir));
    return row && /user "no-such-user-here" does not exist/.test(`${row.message ?? ''} ${JSON.stringify(row.lastExit ?? '')} ${evs}`) ? row : undefined;
  }, 30_000);
  assert.notEqual(ghost.status, 'ready');
});
