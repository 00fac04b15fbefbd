// The control plane's log ingest (log-ingest.ts, log-routes.ts): the queue admits batches while both
// its batch and byte bounds hold (one batch alone always fits); the writer thread answers each batch
// with the same verdicts the route gave before (stored/duplicates, 400, a scoped caller's 403); and a
// database that fails or a writer thread that cannot run is a 503 with Retry-After (the sender keeps
// the batch), never a 400 (it would drop it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { LogIngest, LogWriterUnavailable } from '../../../src/control/log-ingest.js';
import { handleLogRoutes, type LogScope } from '../../../src/control/log-routes.js';
import { tempDir } from './helpers.js';

const rec = (i: number, service = 'web') => ({ id: `${service}-1/k:${i}`, time: new Date(Date.UTC(2026, 10, 26, 12, 0, 0, i)).toISOString(), message: `line ${i}`, service, instance: `${service}-1` });

async function serve(ingest: LogIngest, scope?: LogScope): Promise<{ post: (body: string) => Promise<{ status: number; retryAfter?: string; body: string }>; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => void handleLogRoutes(req, res, new URL(req.url ?? '/', 'http://x'), () => ingest, scope));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const post = (body: string) =>
    new Promise<{ status: number; retryAfter?: string; body: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/v1/logs', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: data }));
      });
      req.on('error', reject);
      req.end(body);
    });
  return { post, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test('the queue admits batches while both bounds hold; one batch alone always fits', () => {
  const ingest = new LogIngest(join(tempDir(), 'logs.db'), { maxBatches: 2, maxBytes: 100 });
  const a = ingest.admit(60);
  assert.ok(a);
  assert.equal(ingest.admit(50), undefined, 'over the byte bound');
  const b = ingest.admit(40);
  assert.ok(b);
  assert.equal(ingest.admit(0), undefined, 'over the batch bound');
  assert.deepEqual(ingest.depth(), { batches: 2, bytes: 100 });
  a.release();
  a.release(); // twice is once
  assert.deepEqual(ingest.depth(), { batches: 1, bytes: 40 });
  b.release();
  const alone = ingest.admit(1000);
  assert.ok(alone, 'a batch larger than the byte bound is admitted into an empty queue');
  alone.release();
  assert.deepEqual(ingest.stats, { admitted: 3, refused: 2, written: 0 });
});

test('the writer thread answers as the route did: stored and duplicates, 400 for bad batches, 403 for another service', async () => {
  const ingest = new LogIngest(join(tempDir(), 'logs.db'));
  const scoped = await serve(ingest, { service: 'web', forbid: (what) => `forbidden: ${what}` });
  try {
    assert.deepEqual(JSON.parse((await scoped.post(JSON.stringify({ records: [rec(1), rec(2)] }))).body), { stored: 2, duplicates: 0 });
    assert.deepEqual(JSON.parse((await scoped.post(JSON.stringify({ records: [rec(2), rec(3, 'web.v2')] }))).body), { stored: 1, duplicates: 1 });
    const other = await scoped.post(JSON.stringify({ records: [rec(4), rec(5, 'api')] }));
    assert.equal(other.status, 403);
    assert.match(other.body, /forbidden: log records of service \\"api\\"/);
    const bad = await scoped.post('{"records": [');
    assert.equal(bad.status, 400);
    assert.match(bad.body, /invalid JSON/);
    assert.equal((await scoped.post('{"lines": []}')).status, 400);
    assert.match((await scoped.post(JSON.stringify({ records: [{ id: 1, service: 'web' }] }))).body, /records\[0\]/);
    const stored = [...(await ingest.reader()).query({})].map((r) => r.id);
    assert.deepEqual(stored, ['web-1/k:1', 'web-1/k:2', 'web.v2-1/k:3'], 'nothing of a refused batch is stored');
    // Retry-After follows what is queued, at the rate the writer has shown: a terabyte waits the most.
    assert.equal(ingest.retryAfterSeconds(), 1);
    const huge = ingest.admit(1e12);
    assert.equal(ingest.retryAfterSeconds(), 30);
    huge?.release();
  } finally {
    await scoped.close();
    await ingest.close();
  }
});

test('a database error while writing is a 503 with Retry-After, not a 400; the batch is stored when sent again', async () => {
  const path = join(tempDir(), 'logs.db');
  const ingest = new LogIngest(path);
  const s = await serve(ingest);
  const blocker = new Database(path, { timeout: 0 });
  try {
    await ingest.reader(); // the writer thread created the database
    blocker.exec('BEGIN IMMEDIATE'); // another writer holds the lock: the thread's insert ends SQLITE_BUSY
    const r = await s.post(JSON.stringify({ records: [rec(1)] }));
    assert.equal(r.status, 503, r.body);
    assert.equal(r.retryAfter, '1');
    assert.match(r.body, /database is locked/);
    blocker.exec('ROLLBACK');
    assert.deepEqual(JSON.parse((await s.post(JSON.stringify({ records: [rec(1)] }))).body), { stored: 1, duplicates: 0 });
  } finally {
    blocker.close();
    await s.close();
    await ingest.close();
  }
});

test('a writer thread that cannot open its database: 503 with Retry-After, started again at most once a second', async () => {
  const ingest = new LogIngest(join(tempDir(), 'missing-dir', 'logs.db'));
  const s = await serve(ingest);
  try {
    await assert.rejects(ingest.write(Buffer.from(JSON.stringify({ records: [rec(1)] }))), LogWriterUnavailable);
    const r = await s.post(JSON.stringify({ records: [rec(1)] }));
    assert.equal(r.status, 503);
    assert.equal(r.retryAfter, '1');
    assert.match(r.body, /log writer thread stopped/);
    assert.deepEqual(ingest.depth(), { batches: 0, bytes: 0 }, 'the refused batch gave its room back');
  } finally {
    await s.close();
    await ingest.close();
  }
});
