// bench/state-stores: what the StateStore layer costs over each backend's own client. One JSON
// line: per backend, save and get operations per second through the store (with ETags, TTL
// bookkeeping, key prefix) and the same writes and reads made directly with the client library
// (better-sqlite3, ioredis, pg), 16 in flight, ~1 s per phase; `ratio` = store / direct (the
// issue's goal for the API as a whole is ≥ 0.5). BENCH_BACKENDS=sqlite,redis limits the list.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { openStateStore, type StateStore } from '../src/components/index.js';

const PHASE_MS = Number(process.env.BENCH_PHASE_MS ?? 1000);
const IN_FLIGHT = 16;
const KEYS = 1000;
const value = Buffer.from(JSON.stringify({ id: 42, name: 'order', items: [1, 2, 3], note: 'x'.repeat(100) }));

/** Operations per second of `op` run by IN_FLIGHT workers for PHASE_MS. */
async function opsPerSecond(op: (i: number) => Promise<unknown>): Promise<number> {
  let done = 0;
  const end = performance.now() + PHASE_MS;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async (_, w) => {
      for (let i = w; performance.now() < end; i += IN_FLIGHT) {
        await op(i % KEYS);
        done++;
      }
    }),
  );
  return Math.round(done / ((performance.now() - start) / 1000));
}

interface Figures {
  storeSaveOps: number;
  storeGetOps: number;
  directSaveOps: number;
  directGetOps: number;
  saveRatio: number;
  getRatio: number;
}

async function measure(store: StateStore, direct: { save(i: number): Promise<unknown>; get(i: number): Promise<unknown> }): Promise<Figures> {
  const storeSaveOps = await opsPerSecond((i) => store.set({ key: `k${i}`, value }));
  const storeGetOps = await opsPerSecond((i) => store.get(`k${i}`));
  const directSaveOps = await opsPerSecond(direct.save);
  const directGetOps = await opsPerSecond(direct.get);
  const r = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  return { storeSaveOps, storeGetOps, directSaveOps, directGetOps, saveRatio: r(storeSaveOps, directSaveOps), getRatio: r(storeGetOps, directGetOps) };
}

async function main(): Promise<void> {
  const wanted = new Set((process.env.BENCH_BACKENDS ?? 'in-memory,sqlite,redis,postgresql').split(','));
  const run = randomBytes(4).toString('hex');
  const results: Record<string, Figures> = {};
  const ctx = (dir: string) => ({ appId: `bench-${run}`, baseDir: dir });

  if (wanted.has('sqlite')) {
    const dir = mkdtempSync(join(tmpdir(), 'berth-bench-state-'));
    const store = await openStateStore({ name: 's', type: 'state.sqlite', version: 'v1', metadata: { connectionString: 'store.db' }, scopes: [] }, ctx(dir));
    const db = new Database(join(dir, 'direct.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL'); // as the store sets it
    db.exec('CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)');
    const put = db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    const read = db.prepare('SELECT value FROM kv WHERE key = ?');
    const text = value.toString();
    results['state.sqlite'] = await measure(store, { save: async (i) => put.run(`k${i}`, text), get: async (i) => read.get(`k${i}`) });
    await store.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
  if (wanted.has('in-memory')) {
    const store = await openStateStore({ name: 'm', type: 'state.in-memory', version: 'v1', metadata: {}, scopes: [] }, ctx(tmpdir()));
    const map = new Map<string, Buffer>();
    results['state.in-memory'] = await measure(store, { save: async (i) => map.set(`k${i}`, value), get: async (i) => map.get(`k${i}`) });
    await store.close();
  }
  if (wanted.has('redis')) {
    const store = await openStateStore({ name: 'r', type: 'state.redis', version: 'v1', metadata: { redisHost: '127.0.0.1:6379' }, scopes: [] }, ctx(tmpdir()));
    const r = new Redis({ host: '127.0.0.1', port: 6379 });
    const prefix = `bench-${run}-direct-`;
    results['state.redis'] = await measure(store, { save: (i) => r.set(`${prefix}${i}`, value), get: (i) => r.getBuffer(`${prefix}${i}`) });
    const keys = [...(await r.keys(`bench-${run}*`))];
    for (let i = 0; i < keys.length; i += 500) await r.del(...keys.slice(i, i + 500));
    r.disconnect();
    await store.close();
  }
  if (wanted.has('postgresql')) {
    const table = `berth_bench_${run}`;
    const store = await openStateStore({ name: 'p', type: 'state.postgresql', version: 'v1', metadata: { connectionString: 'host=127.0.0.1 user=postgres dbname=test', tableName: table }, scopes: [] }, ctx(tmpdir()));
    const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', max: 10 });
    await pool.query(`CREATE TABLE ${table}_direct (key text PRIMARY KEY, value jsonb)`);
    const text = value.toString();
    results['state.postgresql'] = await measure(store, {
      save: (i) => pool.query(`INSERT INTO ${table}_direct (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [`k${i}`, text]),
      get: (i) => pool.query(`SELECT value::text FROM ${table}_direct WHERE key = $1`, [`k${i}`]),
    });
    await pool.query(`DROP TABLE ${table}_direct`);
    await pool.query(`DROP TABLE ${table}`);
    await pool.end();
    await store.close();
  }
  console.log(JSON.stringify({ bench: 'state-stores', date: new Date().toISOString(), inFlight: IN_FLIGHT, phaseMs: PHASE_MS, results }));
}

await main();
