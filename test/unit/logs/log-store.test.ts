// The embedded log store: ingest is idempotent by record id, queries filter by service, level
// (at or above), time range and full text (substring, also under 3 characters), and retention
// removes the oldest records by age and by size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LogStore, retentionFromEnv } from '../../../src/control/log-store.js';
import { tempDir } from './helpers.js';

const rec = (i: number, over: Record<string, unknown> = {}) => ({
  id: `web-1/k:${i}`,
  time: new Date(Date.UTC(2026, 10, 26, 12, 0, 0, i)).toISOString(),
  message: `request ${i} ${i % 2 ? 'GET /orders' : 'POST /pay'}`,
  level: i % 5 === 0 ? 'error' : 'info',
  stream: 'stdout',
  service: i % 3 === 0 ? 'api' : 'web',
  instance: 'web-1',
  ...over,
});

test('ingest is idempotent; queries by service, level, time range and text', () => {
  const store = new LogStore(join(tempDir(), 'logs.db'));
  try {
    assert.deepEqual(store.ingest(Array.from({ length: 100 }, (_, i) => rec(i))), { stored: 100, duplicates: 0 });
    assert.deepEqual(store.ingest([rec(5), rec(6)]), { stored: 0, duplicates: 2 });
    assert.equal([...store.query({})].length, 100);
    assert.equal([...store.query({ services: ['api'] })].length, 34);
    assert.ok([...store.query({ level: 'warn' })].every((r) => r.level === 'error'));
    assert.equal([...store.query({ level: 'warn' })].length, 20);
    assert.deepEqual([...store.query({ grep: 'POST /pay', limit: 2 })].map((r) => r.message), ['request 96 POST /pay', 'request 98 POST /pay']);
    assert.equal([...store.query({ grep: '99' })].length, 1, 'short needles use a substring scan');
    const since = rec(10).time;
    const until = rec(20).time;
    assert.equal([...store.query({ since, until })].length, 10);
    assert.throws(() => store.ingest([{ id: 1 }]), /records\[0\]/);
  } finally {
    store.close();
  }
});

test('retention: by age, then by size, oldest first', () => {
  const store = new LogStore(join(tempDir(), 'logs.db'), { maxBytes: 20_000, maxAgeHours: 1 });
  try {
    const old = new Date(Date.now() - 2 * 3600_000).toISOString();
    store.ingest([rec(1, { time: old, id: 'old' })]);
    store.ingest(Array.from({ length: 200 }, (_, i) => rec(i, { time: new Date(Date.now() + i).toISOString() })));
    store.enforceRetention();
    const left = [...store.query({})];
    assert.ok(!left.some((r) => r.id === 'old'), 'older than maxAgeHours is gone');
    assert.ok(store.stats().bytes <= 20_000, `bytes ${store.stats().bytes}`);
    assert.ok(left.length > 0 && left.length < 200);
    assert.equal(left[left.length - 1].id, 'web-1/k:199', 'the newest records stay');
  } finally {
    store.close();
  }
  assert.deepEqual(retentionFromEnv({ BERTH_LOG_RETENTION_MB: '10', BERTH_LOG_RETENTION_HOURS: '2' }), { maxBytes: 10 * 1024 * 1024, maxAgeHours: 2 });
});

test('the access log (berth-proxy) is kept out of the full-text index and found by scanning; app records by the index', async () => {
  const Database = (await import('better-sqlite3')).default;
  const path = join(tempDir(), 'logs.db');
  const store = new LogStore(path);
  try {
    store.ingest([
      rec(1, { message: 'Payment DECLINED for order 7' }),
      rec(2, { process: 'berth-proxy', message: '{"method":"POST","path":"/pay/declined","status":402}' }),
      rec(3, { process: 'berth-proxy', message: '{"method":"GET","path":"/orders","status":200}' }),
    ]);
    const found = [...store.query({ grep: 'declined' })].map((r) => r.id);
    assert.deepEqual(found.sort(), ['web-1/k:1', 'web-1/k:2'], 'both, case-insensitively');
    assert.deepEqual([...store.query({ grep: '"status":200' })].map((r) => r.id), ['web-1/k:3']);
  } finally {
    store.close();
  }
  const db = new Database(path, { readonly: true });
  const indexed = db.prepare("SELECT rowid FROM logs_fts WHERE logs_fts MATCH '\"status\"'").all();
  db.close();
  assert.equal(indexed.length, 0, 'no access-log row in the index');
});

test('a store made when every record was indexed: its old access-log rows leave the index when retention deletes them', async () => {
  const Database = (await import('better-sqlite3')).default;
  const path = join(tempDir(), 'logs.db');
  // The schema as it was: every row indexed, triggers without WHEN.
  const old = new Database(path);
  old.exec(`CREATE TABLE logs (seq INTEGER PRIMARY KEY, rid TEXT NOT NULL UNIQUE, ts REAL NOT NULL, service TEXT NOT NULL, instance TEXT NOT NULL, process TEXT NOT NULL, level INTEGER, message TEXT NOT NULL, record TEXT NOT NULL, bytes INTEGER NOT NULL);
    CREATE VIRTUAL TABLE logs_fts USING fts5(message, content='logs', content_rowid='seq', tokenize='trigram');
    CREATE TRIGGER logs_ai AFTER INSERT ON logs BEGIN INSERT INTO logs_fts(rowid, message) VALUES (new.seq, new.message); END;
    CREATE TRIGGER logs_ad AFTER DELETE ON logs BEGIN INSERT INTO logs_fts(logs_fts, rowid, message) VALUES ('delete', old.seq, old.message); END;`);
  const at = new Date(Date.now() - 3 * 3600_000).toISOString();
  const ins = old.prepare('INSERT INTO logs (rid, ts, service, instance, process, level, message, record, bytes) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, 10)');
  ins.run('p1', Date.parse(at), 'web', 'web-1', 'berth-proxy', 'GET /legacy 200', JSON.stringify(rec(1, { id: 'p1', time: at, process: 'berth-proxy', message: 'GET /legacy 200' })));
  old.close();
  const store = new LogStore(path, { maxBytes: 1e9, maxAgeHours: 1 });
  try {
    store.ingest([rec(2, { time: new Date().toISOString(), process: 'berth-proxy', message: 'GET /legacy 200 new' })]);
    assert.equal([...store.query({ grep: 'legacy' })].length, 2);
    store.enforceRetention(); // deletes p1 (3 h old)
    assert.deepEqual([...store.query({ grep: 'legacy' })].map((r) => r.message), ['GET /legacy 200 new']);
  } finally {
    store.close();
  }
  const db = new Database(path, { readonly: true });
  assert.equal(db.prepare("SELECT rowid FROM logs_fts WHERE logs_fts MATCH 'legacy'").all().length, 0, 'the old row left the index with it');
  db.close();
});
