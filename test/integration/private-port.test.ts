// Issue 21: real apps bind their PORT the way their framework does, and Berth runs them unchanged.
// One application runs five listening styles with 3 replicas each — node:http `listen(PORT)` (all
// addresses, as Express and the Dapr JS SDK's DaprServer do), `listen(PORT, 'localhost')`,
// `listen(PORT, '::')`, Python's http.server on ('', PORT) and the Dapr JS SDK's DaprServer with default
// options — next to a second application whose
// app binds all addresses too (its service has a spec port of its own: the service address
// 127.0.0.1:<spec port> of one app is refused to another, issue 12). Both stay under load through the
// ingress and the service address while every service is restarted (rolling): 0 failed requests.
// PORT is unique on the machine, kept across an app restart and a control-plane restart, released
// when an instance goes; an app that listens on a fixed port of its own is reported, not ready.
// BERTH_TEST_LOAD_MS sets how long the load runs after the rollout (default 1500 ms).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { portRegistryDir } from '../../src/node/app-ports.js';
import { berth, berthOk, events, httpRequest, portBlock, processAlive, ps, repoRoot, tempApp, waitFor, type PsRow } from './harness/berth.js';

const LOAD_MS = Number(process.env.BERTH_TEST_LOAD_MS ?? 1500);

/** node:http on PORT; BIND: `all` (no host: every address), or the host to pass to listen(). */
const nodeApp = `
import http from 'node:http';
const server = http.createServer((req, res) => {
  if (req.url === '/ready') return res.end('ok');
  res.setHeader('connection', 'close');
  res.end(JSON.stringify({ app: process.env.BERTH_APP, instance: process.env.BERTH_INSTANCE, port: process.env.PORT }));
});
const port = Number(process.env.PORT);
if (process.env.BIND === 'all') server.listen(port);
else server.listen(port, process.env.BIND);
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeIdleConnections(); setTimeout(() => process.exit(0), 3000).unref(); });
`;

/** Python's http.server on ('', PORT), finishing its requests on SIGTERM. */
const pyApp = `
import json, os, signal, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"app": os.environ.get("BERTH_APP"), "instance": os.environ.get("BERTH_INSTANCE"), "port": os.environ.get("PORT")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("", int(os.environ["PORT"])), Handler)
server.daemon_threads = False
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
server.serve_forever()
server.server_close()
`;

/**
 * The Dapr JS SDK's DaprServer with default options: it listens on APP_PORT (which Berth sets to
 * PORT) on every address. Its start() also waits for a Dapr sidecar and gives up after 60 s (Berth's
 * building-block API is another issue), so that rejection is caught: the server keeps serving.
 */
const daprApp = `
import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(join(repoRoot, 'package.json'))});
const { DaprServer, HttpMethod } = require('@dapr/dapr');
const server = new DaprServer();
await server.invoker.listen('ready', async () => 'ok', { method: HttpMethod.GET });
await server.invoker.listen('dapr', async () => ({ app: process.env.BERTH_APP, instance: process.env.BERTH_INSTANCE, port: process.env.PORT }), { method: HttpMethod.GET });
server.start().catch(() => {});
process.on('SIGTERM', () => { server.stop().catch(() => {}).finally(() => process.exit(0)); setTimeout(() => process.exit(0), 3000).unref(); });
`;

/** Ignores PORT: listens on a fixed port of its own. */
const fixedApp = `
import http from 'node:http';
http.createServer((req, res) => res.end('fixed')).listen(Number(process.env.FIXED), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

const STYLES = [
  { name: 'all', run: 'node app.mjs', bind: 'all', ready: '/ready' },
  { name: 'local', run: 'node app.mjs', bind: 'localhost', ready: '/ready' },
  { name: 'v6', run: 'node app.mjs', bind: '::', ready: '/ready' },
  { name: 'py', run: 'python3 app.py', bind: '', ready: '/' },
  { name: 'dapr', run: 'node dapr.mjs', bind: '', ready: '/ready' },
] as const;

const service = (name: string, run: string, port: number, env: Record<string, string>, ready?: string, replicas = 3): string =>
  `  ${name}:
    run: ${run}
    port: ${port}
    replicas: ${replicas}
    env: ${JSON.stringify(env)}
${ready ? `    probes:\n      readiness: { http: { path: ${ready} }, periodSeconds: 0.2 }\n` : ''}    stopGracePeriodSeconds: 5
`;

describe('a private PORT per instance', () => {
  const base = portBlock(10);
  const ingressA = base;
  const ingressB = base + 1;
  const fixed = base + 2;
  const specPort = (i: number): number => base + 3 + i;
  const a = tempApp({
    'app.mjs': nodeApp,
    'app.py': pyApp,
    'dapr.mjs': daprApp,
    'berth.yaml': `app: ports-a
ingress:
  port: ${ingressA}
  routes:
${STYLES.map((s) => `    - match: { path: { prefix: /${s.name} } }\n      to: ${s.name}\n`).join('')}services:
${STYLES.map((s, i) => service(s.name, s.run, specPort(i), { BIND: s.bind }, s.ready)).join('')}`,
  });
  const b = tempApp({
    'app.mjs': nodeApp,
    'fixed.mjs': fixedApp,
    'berth.yaml': `app: ports-b
ingress:
  port: ${ingressB}
  routes:
    - to: all
services:
${service('all', 'node app.mjs', base + 9, { BIND: 'all' }, '/ready')}${service('fixed', 'node fixed.mjs', base + 8, { FIXED: String(fixed) }, undefined, 1)}`,
  });
  after(async () => {
    await Promise.all([berth(a, ['down']), berth(b, ['down'])]);
  });

  /** A variable of a running process, from its environment. */
  const envVar = (pid: number, name: string): string | undefined =>
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .find((e) => e.startsWith(`${name}=`))
      ?.slice(name.length + 1);
  const envPort = (pid: number): number => Number(envVar(pid, 'PORT'));
  const readyRows = async (dir: string, svc: string, n: number, not?: string): Promise<PsRow[] | undefined> => {
    const rows = (await ps(dir)).filter((r) => r.service === svc);
    return rows.length === n && rows.every((r) => r.ready && r.pid !== null && r.revision !== not) ? rows : undefined;
  };

  test('every listening style runs 3 replicas beside another app that binds all addresses too; a rolling restart under load fails no request', async () => {
    await berthOk(a, ['up', '-d', '--wait', '--timeout', '120'], { timeoutMs: 150_000 });
    // B's `fixed` never becomes ready, so B is not waited for; its `all` is.
    await berthOk(b, ['up', '-d']);
    const before = new Map<string, PsRow[]>();
    for (const s of STYLES) before.set(s.name, (await readyRows(a, s.name, 3))!);
    before.set('b/all', await waitFor('ports-b: 3 ready', () => readyRows(b, 'all', 3), 40_000));

    // Machine-wide unique private ports, outside the ephemeral range.
    const ports = [...before.values()].flat().map((r) => envPort(r.pid!));
    assert.equal(new Set(ports).size, ports.length, `PORTs repeat: ${ports.join(' ')}`);
    for (const p of ports) assert.ok(p >= 61000 && p <= 65535, `PORT ${p} outside 61000–65535`);

    // Load: every service through its service address and the ingress, ports-b through its ingress.
    const targets = [
      ...STYLES.flatMap((s, i) => [
        { name: `${s.name} via 127.0.0.1:${specPort(i)}`, url: `http://127.0.0.1:${specPort(i)}/${s.name}`, app: 'ports-a' },
        { name: `${s.name} via ingress`, url: `http://127.0.0.1:${ingressA}/${s.name}`, app: 'ports-a' },
      ]),
      { name: 'ports-b via ingress', url: `http://127.0.0.1:${ingressB}/`, app: 'ports-b' },
    ];
    await waitFor('ports-b ingress routes', async () => (await httpRequest(targets.at(-1)!.url)).status === 200, 20_000);
    let stop = false;
    const failures: string[] = [];
    const ok = targets.map(() => 0);
    const seen = new Map<string, string>(); // instance → PORT it answered with
    const loops = targets.map(async (t, i) => {
      while (!stop) {
        try {
          const r = await httpRequest(t.url, 'GET', 5000);
          const body = r.status === 200 ? (JSON.parse(r.body) as { app: string; instance: string; port: string }) : undefined;
          if (body?.app === t.app) {
            ok[i]++;
            seen.set(body.instance, body.port);
          } else failures.push(`${t.name}: status ${r.status} ${r.body.slice(0, 100)}`);
        } catch (err) {
          failures.push(`${t.name}: ${(err as Error).message}`);
          if (failures.length > 500) stop = true; // bounded: a broken address must not spin forever
        }
      }
    });
    await waitFor('traffic on every address', () => ok.every((n) => n >= 5), 20_000);

    const rollStart = performance.now();
    await Promise.all([...STYLES.map((s) => berthOk(a, ['restart', s.name])), berthOk(b, ['restart', 'all'])]);
    for (const s of STYLES) await waitFor(`${s.name}: 3 new instances ready`, () => readyRows(a, s.name, 3, before.get(s.name)![0].revision), 60_000);
    await waitFor('ports-b all: 3 new instances ready', () => readyRows(b, 'all', 3, before.get('b/all')![0].revision), 60_000);
    const rollMs = performance.now() - rollStart;
    const counted = [...ok];
    await new Promise((r) => setTimeout(r, LOAD_MS)); // the load's duration, not a synchronization
    // Ends early when the loops gave up (too many failures): the assertion below then says why.
    const progressed = (): string => targets.map((t, i) => `${t.name}: ${counted[i]}→${ok[i]}`).join(', ');
    await waitFor('traffic after the rollout', () => stop || ok.every((n, i) => n >= counted[i] + 3), 20_000).catch((err: Error) => {
      throw new Error(`${err.message}; requests per address (at rollout end→now): ${progressed()}; failures: ${failures.slice(0, 5).join('; ')}`);
    });
    stop = true;
    await Promise.all(loops);
    assert.deepEqual(failures, [], `failed requests: ${failures.slice(0, 5).join('; ')}`);
    process.stdout.write(`# private PORT: ${ok.reduce((x, y) => x + y, 0)} requests over ${targets.length} addresses, 0 failed; rolling restart of ${STYLES.length * 3 + 3} instances in ${Math.round(rollMs)} ms\n`);

    // Every instance answered with its own PORT; no two live instances (either app) share one.
    const aRows = (await Promise.all(STYLES.map(async (s) => (await readyRows(a, s.name, 3))!))).flat();
    const now = [...aRows, ...(await readyRows(b, 'all', 3))!];
    const nowPorts = now.map((r) => envPort(r.pid!));
    assert.equal(new Set(nowPorts).size, nowPorts.length);
    for (const r of now) if (seen.has(r.instance)) assert.equal(Number(seen.get(r.instance)), envPort(r.pid!));

    // Released when an instance goes: A's agent announces exactly its current instances' ports.
    const agent = JSON.parse(readFileSync(join(a, '.berth', 'nodes', 'node-1', 'agent.json'), 'utf8')) as { pid: number; startTime: number };
    const file = join(portRegistryDir(), `agent-${agent.pid}-${agent.startTime}.json`);
    const want = JSON.stringify(Object.fromEntries(aRows.map((r) => [String(envPort(r.pid!)), r.instance]).sort()));
    await waitFor('old instances\' ports released', () => {
      const announced = JSON.parse(readFileSync(file, 'utf8')) as { ports: Record<string, string> };
      return JSON.stringify(Object.fromEntries(Object.entries(announced.ports).sort())) === want;
    });
  });

  test('PORT is kept across an app restart and a control-plane restart', async () => {
    const [row] = (await readyRows(a, 'all', 3))!;
    const port = envPort(row.pid!);
    process.kill(row.pid!, 'SIGKILL');
    const restarted = await waitFor('app restarted and ready', async () => (await ps(a)).find((r) => r.instance === row.instance && r.ready && r.pid !== row.pid), 20_000);
    assert.equal(envPort(restarted.pid!), port, 'same PORT after the app restarted');
    assert.equal(envVar(restarted.pid!, 'APP_PORT'), String(port), 'APP_PORT (where Dapr SDK servers listen by default) is PORT');
    const cpPid = Number(readFileSync(join(a, '.berth', 'control.pid'), 'utf8'));
    process.kill(cpPid, 'SIGKILL');
    await waitFor('control plane gone', () => !processAlive(cpPid));
    await berthOk(a, ['up', '-d', '--wait', '--timeout', '30']);
    const adopted = await waitFor('instance adopted', async () => (await ps(a)).find((r) => r.instance === row.instance && r.ready));
    assert.equal(adopted.pid, restarted.pid, 'adopted, not restarted');
    assert.equal(envPort(adopted.pid!), port);
    const body = JSON.parse((await httpRequest(`http://${adopted.host}:${specPort(0)}/`)).body) as { port: string };
    assert.ok(Number(body.port) >= 61000, 'HOST:<spec port> reaches an app on its PORT');
  });

  test('an app on a fixed port of its own is not ready, and its event names the port it listens on', async () => {
    const row = await waitFor('fixed reported', async () => (await ps(b)).find((r) => r.service === 'fixed' && r.message?.includes(`127.0.0.1:${fixed}`)), 20_000);
    assert.equal(row.ready, false);
    assert.match(row.message!, /not on its PORT \d+/);
    const ev = (await events(b)).find((e) => e.reason === 'PortMismatch' && e.instance === row.instance);
    assert.ok(ev, 'a PortMismatch event');
    assert.match(ev.message, new RegExp(`listens on 127\\.0\\.0\\.1:${fixed} but not on its PORT \\d+`));
  });
});
