// bench/dapr: the building-block API's figures (issue 16), printed as one JSON line. One app runs
// under `berth up` with three services: `caller` and `target` use the API, `plain` does not.
//   invoke             p50/p99 at a fixed 1,000 req/s (open loop, bench/proxy-lib/fixed-rate.ts):
//                      /v1.0/invoke/target/method/x on caller's sidecar (caller's proxy → target's
//                      proxy → target app) against the target app's PORT directly; added = difference.
//                      mesh: the same two sidecars without the API (caller's outbound listener,
//                      BERTH_TARGET_URL → target's inbound → app), so that what the API path adds
//                      over the mesh (apiOverMesh*) is told apart from what the mesh adds. The three
//                      alternate BENCH_RUNS times, each sidecar run after BENCH_IDLE_MS (6 s) idle.
//   state              save and get ops/s through the API (HTTP, 16 in flight) against the same
//                      backend through its own client library (better-sqlite3, ioredis, pg); ratio.
//                      Every phase is warmed first (the API opens a store on its first request).
//                      httpFloor: the same client against a bare node:http server in its own
//                      process that answers at once (204 to a save, the value to a get): what any
//                      HTTP API reaches at best here; floor*Ratio = API / that floor. API, direct
//                      and floor phases alternate BENCH_RUNS times; medians kept.
//   pubsub             messages/s end to end per backend: 1,000 publishes through caller's API
//                      (32 in flight) until target's app has received every one as a CloudEvent
//   proxyRssMB         RSS of plain's proxy (no API), lite's (the API on the embedded defaults,
//                      after some state and publish calls), caller's and target's (every backend
//                      loaded, after the load above); apiRssGainMB = lite's − plain's
// BENCH_SECONDS (5) per fixed-rate run; BENCH_WARM_RUNS (1) discarded, then BENCH_RUNS (3) runs, the median kept. BENCH_PARTS
// (invoke,state,pubsub,rss) runs only the parts named, for a quick A/B of one of them; BENCH_MESH sets `mesh:`.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { berth, berthOk, portBlock, ps, tempApp, waitFor, type PsRow } from '../test/integration/harness/berth.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixedRate = join(here, 'proxy-lib', 'fixed-rate.js');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const WARM_RUNS = Number(process.env.BENCH_WARM_RUNS ?? 1);
const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 1500);
const WARM_MS = 300;
const IN_FLIGHT = 16;
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 1000);
/** Idle time before each sidecar run of the invocation part (BENCH_IDLE_MS). */
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 6000);
/** BENCH_MESH: the spec's `mesh:` settings for a run (flow YAML, e.g. "{ accessLog: false }"); none by default. */
const MESH = process.env.BENCH_MESH ?? '';
const PARTS = new Set((process.env.BENCH_PARTS ?? 'invoke,state,pubsub,rss').split(','));
const run = randomBytes(4).toString('hex');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (n: number, d = 3): number => Math.round(n * 10 ** d) / 10 ** d;
const value = { id: 42, name: 'order', items: [1, 2, 3], note: 'x'.repeat(100) };

/** The app of every service: answers anything with ok, subscribes (SUB=1) to the bench topic on each pub/sub, counts deliveries. */
const app = `
import http from 'node:http';
const PUBSUBS = (process.env.PUBSUBS ?? '').split(',').filter(Boolean);
const counts = {};
http.createServer((req, res) => {
  if (req.url === '/dapr/subscribe') {
    if (process.env.SUB !== '1') { res.statusCode = 404; return res.end(); }
    res.setHeader('content-type', 'application/json');
    return res.end(JSON.stringify(PUBSUBS.map((p) => ({ pubsubname: p, topic: process.env.TOPIC, route: '/deliver/' + p }))));
  }
  if (req.url.startsWith('/deliver/')) {
    const p = req.url.slice('/deliver/'.length);
    req.resume();
    req.on('end', () => { counts[p] = (counts[p] ?? 0) + 1; res.setHeader('content-type', 'application/json'); res.end('{"status":"SUCCESS"}'); });
    return;
  }
  if (req.url.startsWith('/count/')) return res.end(String(counts[req.url.slice('/count/'.length)] ?? 0));
  res.end('ok');
}).listen(Number(process.env.PORT));
process.on('SIGTERM', () => process.exit(0));
`;

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function call(port: number, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function opsPerSecond(op: (i: number) => Promise<unknown>, ms = PHASE_MS, warm = true): Promise<number> {
  // Untimed first: the first requests open the store (connect, create the table) and warm the JIT.
  if (warm) await opsPerSecond(op, WARM_MS, false);
  let done = 0;
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async (_, w) => {
      for (let i = w; performance.now() < end; i += IN_FLIGHT) {
        await op(i % 1000);
        done++;
      }
    }),
  );
  return Math.round(done / ((performance.now() - start) / 1000));
}

function fixed(url: string): Promise<{ p50Ms: number; p99Ms: number; errors: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [fixedRate, url, '1000', String(SECONDS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('exit', () => {
      try {
        resolve(JSON.parse(out) as { p50Ms: number; p99Ms: number; errors: number });
      } catch {
        reject(new Error(`fixed-rate generator failed: ${out}`));
      }
    });
  });
}

/** A bare node:http server in its own process: 204 to a POST (after reading the body), the value to anything else. */
const floorServer = `
import http from 'node:http';
const value = Buffer.from(process.env.VALUE);
const s = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.method === 'POST') { res.writeHead(204); return res.end(); }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': value.length, etag: '1' });
    res.end(value);
  });
});
// Idle between its phases longer than node's 5 s default: keep the client's pooled sockets open
// (a socket closed by the server as the client reuses it is a "socket hang up"), as the API does.
s.keepAliveTimeout = 65_000;
s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

/** Starts the floor server; its port and a way to stop it. */
async function startFloor(body: string): Promise<{ port: number; stop(): void }> {
  const c = spawn(process.execPath, ['--input-type=module', '-e', floorServer], { env: { ...process.env, VALUE: body }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    c.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    c.once('exit', () => reject(new Error('the floor server exited')));
  });
  return { port, stop: () => c.kill() };
}

const envVar = (pid: number, name: string): string | undefined =>
  readFileSync(`/proc/${pid}/environ`, 'utf8')
    .split('\0')
    .find((e) => e.startsWith(`${name}=`))
    ?.slice(name.length + 1);

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}

/** The berth-proxy process of an instance (its cmdline runs proxy/main.js, its environment names the instance). */
function proxyPid(instance: string): number {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('sidecar/proxy/main.js')) continue;
      if (envVar(Number(d), 'BERTH_INSTANCE') === instance) return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no proxy process for ${instance}`);
}

async function main(): Promise<void> {
  const base = portBlock(4);
  const table = `berth_bench_dapr_${run}`;
  const pubsubs = ['sqlitepubsub', 'redispubsub', 'rabbit', 'nats'];
  const topic = `bench-${run}`;
  const svc = (name: string, port: number, env: Record<string, string>, dapr: string, uses = ''): string =>
    `  ${name}:\n    run: node app.mjs\n    port: ${port}\n    env: ${JSON.stringify({ PUBSUBS: pubsubs.join(','), TOPIC: topic, ...env })}\n    dapr: ${dapr}\n    stopGracePeriodSeconds: 2\n${uses}`;
  const dir = tempApp({
    'app.mjs': app,
    'berth.yaml': `app: bench-dapr-${run}
${MESH ? `mesh: ${MESH}\n` : ''}components:
  statestore: { type: state.sqlite, metadata: { connectionString: .berth/components/bench.db }, scopes: [caller, target] }
  redisstate: { type: state.redis, metadata: { redisHost: "127.0.0.1:6379", keyPrefix: "bench-dapr-${run}" }, scopes: [caller, target] }
  pgstate: { type: state.postgresql, metadata: { connectionString: "host=127.0.0.1 user=postgres dbname=test", tableName: ${table} }, scopes: [caller, target] }
  sqlitepubsub: { type: pubsub.sqlite, scopes: [caller, target] }
  redispubsub: { type: pubsub.redis, metadata: { redisHost: "127.0.0.1:6379" }, scopes: [caller, target] }
  rabbit: { type: pubsub.rabbitmq, metadata: { connectionString: "amqp://guest:guest@127.0.0.1:5672" }, scopes: [caller, target] }
  nats: { type: pubsub.jetstream, metadata: { natsURL: "nats://127.0.0.1:4222" }, scopes: [caller, target] }
services:
${svc('caller', base, {}, '{ enabled: true }', '    uses: [target]\n')}${svc('target', base + 1, { SUB: '1' }, '{ enabled: true }')}${svc('plain', base + 2, {}, '{ enabled: false }')}${svc('lite', base + 3, {}, '{ enabled: true }')}`,
  });
  try {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60'], { timeoutMs: 120_000 });
    const rows = await waitFor('ready', async () => {
      const r = await ps(dir);
      return r.length === 4 && r.every((x) => x.ready && x.pid !== null) ? r : undefined;
    });
    const row = (s: string): PsRow => rows.find((r) => r.service === s)!;
    const daprPort = Number(envVar(row('caller').pid!, 'DAPR_HTTP_PORT'));
    const targetPort = Number(envVar(row('target').pid!, 'PORT'));
    // The target's sidecar asks its app for subscriptions once ready; wait until it has them all.
    const targetDapr = Number(envVar(row('target').pid!, 'DAPR_HTTP_PORT'));
    await waitFor('subscriptions', async () => ((JSON.parse((await call(targetDapr, 'GET', '/v1.0/metadata')).body) as { subscriptions: unknown[] }).subscriptions.length === pubsubs.length ? true : undefined), 30_000, 200);

    // 1. Invocation through two sidecars vs direct, 1,000 req/s.
    let invoke: Record<string, unknown> | undefined;
    if (PARTS.has('invoke')) {
      await call(daprPort, 'GET', '/v1.0/invoke/target/method/x'); // warm
      const meshUrl = `${envVar(row('caller').pid!, 'BERTH_TARGET_URL')}/x`;
      await fetch(meshUrl).then((r) => r.text()); // warm
      const direct: { p50Ms: number; p99Ms: number }[] = [];
      const mesh: { p50Ms: number; p99Ms: number }[] = [];
      const via: { p50Ms: number; p99Ms: number; errors: number }[] = [];
      // Each run starts after the same idle time (the sidecars' pooled connections close after 2–4 s
      // idle): the API run used to follow the direct one, i.e. always started cold, and a mesh run
      // right after it would start warm. Both sidecar paths start cold now, as the API's always did.
      const idle = (): Promise<void> => new Promise((r) => setTimeout(r, IDLE_MS));
      // One discarded run per path first (BENCH_WARM_RUNS): a sidecar just started runs its hot path
      // in the interpreter, and the first measured run's p99 was the JIT's (1.2 s on a quiet machine),
      // not what a service in use sees.
      for (let i = 0; i < WARM_RUNS; i++) for (const url of [`http://127.0.0.1:${targetPort}/x`, meshUrl, `http://127.0.0.1:${daprPort}/v1.0/invoke/target/method/x`]) await fixed(url);
      for (let i = 0; i < RUNS; i++) {
        direct.push(await fixed(`http://127.0.0.1:${targetPort}/x`));
        await idle();
        mesh.push(await fixed(meshUrl));
        await idle();
        via.push(await fixed(`http://127.0.0.1:${daprPort}/v1.0/invoke/target/method/x`));
      }
      const d50 = median(direct.map((x) => x.p50Ms));
      const d99 = median(direct.map((x) => x.p99Ms));
      const m50 = median(mesh.map((x) => x.p50Ms));
      const m99 = median(mesh.map((x) => x.p99Ms));
      const v50 = median(via.map((x) => x.p50Ms));
      const v99 = median(via.map((x) => x.p99Ms));
      invoke = { rate: 1000, directP50Ms: d50, directP99Ms: d99, meshP50Ms: m50, meshP99Ms: m99, apiP50Ms: v50, apiP99Ms: v99, addedP50Ms: round(v50 - d50), addedP99Ms: round(v99 - d99), apiOverMeshP50Ms: round(v50 - m50), apiOverMeshP99Ms: round(v99 - m99), runs: { direct, mesh, api: via }, errors: via.reduce((a, x) => a + x.errors, 0) };
    }

    // 2. State ops/s through the API vs the backend's own client.
    const body = JSON.stringify(value);
    const api = async (store: string): Promise<{ save: number; get: number }> => ({
      save: await opsPerSecond((i) => call(daprPort, 'POST', `/v1.0/state/${store}`, `[{"key":"k${i}","value":${body}}]`)),
      get: await opsPerSecond((i) => call(daprPort, 'GET', `/v1.0/state/${store}/k${i}`)),
    });
    type Rates = { save: number; get: number };
    type StateFigures = { apiSaveOps: number; apiGetOps: number; directSaveOps: number; directGetOps: number; httpFloorSaveOps: number; httpFloorGetOps: number; saveRatio: number; getRatio: number; floorSaveRatio: number; floorGetRatio: number };
    const state: Record<string, StateFigures> = {};
    const floor = PARTS.has('state') ? await startFloor(body) : undefined;
    if (floor) try {
      const floorRates = async (): Promise<Rates> => ({
        save: await opsPerSecond((i) => call(floor.port, 'POST', '/v1.0/state/floor', `[{"key":"k${i}","value":${body}}]`)),
        get: await opsPerSecond((i) => call(floor.port, 'GET', `/v1.0/state/floor/k${i}`)),
      });
      // API, direct and floor phases alternate RUNS times, so that the machine's load (shared) weighs
      // on all three alike; each ratio is the median of the rounds' ratios.
      const record = async (name: string, store: string, direct: () => Promise<Rates>): Promise<void> => {
        const rounds: { a: Rates; d: Rates; f: Rates }[] = [];
        for (let i = 0; i < RUNS; i++) rounds.push({ a: await api(store), d: await direct(), f: await floorRates() });
        const m = (f: (r: (typeof rounds)[number]) => number): number => median(rounds.map(f));
        state[name] = {
          apiSaveOps: m((r) => r.a.save),
          apiGetOps: m((r) => r.a.get),
          directSaveOps: m((r) => r.d.save),
          directGetOps: m((r) => r.d.get),
          httpFloorSaveOps: m((r) => r.f.save),
          httpFloorGetOps: m((r) => r.f.get),
          saveRatio: round(m((r) => r.a.save / r.d.save), 2),
          getRatio: round(m((r) => r.a.get / r.d.get), 2),
          floorSaveRatio: round(m((r) => r.a.save / r.f.save), 2),
          floorGetRatio: round(m((r) => r.a.get / r.f.get), 2),
        };
      };
      {
        mkdirSync(join(dir, '.berth', 'components'), { recursive: true });
        const db = new Database(join(dir, '.berth', 'components', 'bench-direct.db'));
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT)');
        const put = db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
        const read = db.prepare('SELECT value FROM kv WHERE key = ?');
        await record('state.sqlite', 'statestore', async () => ({ save: await opsPerSecond(async (i) => put.run(`k${i}`, body)), get: await opsPerSecond(async (i) => read.get(`k${i}`)) }));
        db.close();
      }
      {
        const r = new Redis({ host: '127.0.0.1', port: 6379 });
        await record('state.redis', 'redisstate', async () => ({
          save: await opsPerSecond((i) => r.hset(`bench-dapr-${run}-direct-${i}`, 'data', body, 'version', '1')),
          get: await opsPerSecond((i) => r.hgetall(`bench-dapr-${run}-direct-${i}`)),
        }));
        const keys = await r.keys(`bench-dapr-${run}*`);
        for (let i = 0; i < keys.length; i += 500) await r.del(...keys.slice(i, i + 500));
        r.disconnect();
      }
      {
        const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', max: 10 });
        await pool.query(`CREATE TABLE ${table}_direct (key text PRIMARY KEY, value jsonb)`);
        await record('state.postgresql', 'pgstate', async () => ({
          save: await opsPerSecond((i) => pool.query(`INSERT INTO ${table}_direct (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [`k${i}`, body])),
          get: await opsPerSecond((i) => pool.query(`SELECT value::text FROM ${table}_direct WHERE key = $1`, [`k${i}`])),
        }));
        await pool.query(`DROP TABLE IF EXISTS ${table}_direct`);
        await pool.end();
      }
    } finally {
      floor.stop();
    }

    // 3. Pub/sub end to end per backend.
    const pubsub: Record<string, { messagesPerSec: number; seconds: number } | { error: string }> = {};
    for (const p of PARTS.has('pubsub') ? pubsubs : []) {
      try {
        const t0 = performance.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: 32 }, async () => {
            while (next < MESSAGES) {
              const i = next++;
              const r = await call(daprPort, 'POST', `/v1.0/publish/${p}/${topic}`, JSON.stringify({ i }));
              if (r.status !== 204) throw new Error(`publish answered ${r.status}: ${r.body}`);
            }
          }),
        );
        await waitFor(`${p}: every message delivered`, async () => {
          const n = Number((await call(targetPort, 'GET', `/count/${p}`)).body);
          return n >= MESSAGES ? n : undefined;
        }, 60_000, 20);
        const s = (performance.now() - t0) / 1000;
        pubsub[p] = { messagesPerSec: Math.round(MESSAGES / s), seconds: round(s, 2) };
      } catch (err) {
        pubsub[p] = { error: (err as Error).message };
      }
    }

    // 4. RSS of the proxies: lite uses the API on the embedded defaults only (a little state and
    // pub/sub traffic first, so the code is loaded); plain does not use it; caller and target after the load above.
    const litePort = Number(envVar(row('lite').pid!, 'DAPR_HTTP_PORT'));
    for (let i = 0; i < (PARTS.has('rss') ? 200 : 0); i++) {
      await call(litePort, 'POST', '/v1.0/state/statestore', `[{"key":"k${i}","value":${body}}]`);
      await call(litePort, 'GET', `/v1.0/state/statestore/k${i}`);
      if (i % 10 === 0) await call(litePort, 'POST', `/v1.0/publish/pubsub/${topic}`, body);
    }
    for (let i = 0; i < 200; i++) await call(Number(envVar(row('plain').pid!, 'PORT')), 'GET', '/x'); // plain's inbound warmed alike
    await new Promise((r) => setTimeout(r, 2000));
    const proxyRssMB = { plain: rssMB(proxyPid(row('plain').instance)), lite: rssMB(proxyPid(row('lite').instance)), caller: rssMB(proxyPid(row('caller').instance)), target: rssMB(proxyPid(row('target').instance)) };
    const loadavg = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
    console.log(JSON.stringify({ bench: 'dapr', date: new Date().toISOString(), loadavg, invoke, state, pubsub, proxyRssMB, apiRssGainMB: round(proxyRssMB.lite - proxyRssMB.plain, 1) }));
  } finally {
    await berth(dir, ['down']);
    agent.destroy();
    const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', max: 1 });
    await pool.query(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
    await pool.end();
  }
}

await main();
