// Every state store through the one conformance suite, against the real servers on this machine
// (Redis 127.0.0.1:6379, PostgreSQL 127.0.0.1:5432 db test). Each run uses its own table, file
// or key prefix, and removes them at the end. Without a server: a failure under CI, else a skip.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { openStateBackend } from '../../src/components/index.js';
import { stateStoreConformance } from './state-store.js';

const run = randomBytes(4).toString('hex');
const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.setTimeout(2000);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.once('timeout', () => { s.destroy(); resolve(false); });
  });
}

async function requireServer(name: string, port: number): Promise<boolean> {
  if (await reachable(port)) return true;
  if (process.env.CI === 'true') throw new Error(`${name} is not reachable on 127.0.0.1:${port} (required under CI)`);
  test(`${name} conformance`, { skip: `${name} not reachable on 127.0.0.1:${port}` }, () => {});
  return false;
}

stateStoreConformance({
  type: 'state.in-memory',
  open: () => openStateBackend({ name: 'mem', type: 'state.in-memory', version: 'v1', metadata: {} }, { baseDir: tmpdir() }),
});

const sqliteDir = mkdtempSync(join(tmpdir(), 'berth-state-conf-'));
stateStoreConformance({
  type: 'state.sqlite',
  open: () => openStateBackend({ name: 'lite', type: 'state.sqlite', version: 'v1', metadata: { connectionString: 'state/conf.db', tableName: `state_${run}`, busyTimeout: '5s' } }, { baseDir: sqliteDir }),
  cleanup: async () => rmSync(sqliteDir, { recursive: true, force: true }),
});

if (await requireServer('Redis', 6379)) {
  stateStoreConformance({
    type: 'state.redis',
    open: () => openStateBackend({ name: 'r', type: 'state.redis', version: 'v1', metadata: { redisHost: '127.0.0.1:6379', redisDB: '0' } }, { baseDir: tmpdir() }),
    cleanup: async () => {
      // The suite's keys all start with stateconf-<its run>-; remove every stateconf-* key older runs left
      // too. (Not conf-*: that also matched the pub/sub suite's streams, which CI runs at the same time —
      // its RETRY check lost its stream to this cleanup once.)
      const r = new Redis({ host: '127.0.0.1', port: 6379 });
      try {
        const keys: string[] = [];
        let cursor = '0';
        do {
          const [next, batch] = await r.scan(cursor, 'MATCH', 'stateconf-*', 'COUNT', 1000);
          keys.push(...batch);
          cursor = next;
        } while (cursor !== '0');
        if (keys.length > 0) await r.del(...keys);
      } finally {
        r.disconnect();
      }
    },
  });
}

if (await requireServer('PostgreSQL', 5432)) {
  const table = `berth_state_conf_${run}`;
  stateStoreConformance({
    type: 'state.postgresql',
    // Dapr's key=value form of the connection string.
    open: () => openStateBackend({ name: 'p', type: 'state.postgresql', version: 'v1', metadata: { connectionString: 'host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5', tableName: table } }, { baseDir: tmpdir() }),
    cleanup: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        await c.query(`DROP TABLE IF EXISTS ${table}`);
      } finally {
        await c.end();
      }
    },
  });
}
